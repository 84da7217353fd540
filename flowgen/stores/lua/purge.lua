-- purge(ARGV: prefix, before, run_id...): delete every key and index entry of each run that
-- finished before `before`; others (not finished, finished later, gone) are skipped.
-- Returns the ids deleted.
local before = tonumber(ARGV[2])
local deleted = {}
for i = 3, #ARGV do
  local rid = ARGV[i]
  local mk = meta_key(rid)
  local m = redis.call('HMGET', mk, 'status', 'workflow', 'finished', 'parent', 'tags')
  local status, workflow, finished, parent, tags = m[1], m[2], tonumber(m[3]), m[4], m[5]
  if status and is_finished(status) and finished and finished < before then
    local b = base(rid)
    for _, event_type in ipairs(redis.call('SMEMBERS', b .. ':inboxes')) do
      redis.call('DEL', inbox_key(rid, event_type))
    end
    redis.call('DEL', mk, b .. ':journal', b .. ':branches', b .. ':inboxes', b .. ':seen', b .. ':done',
      b .. ':children', b .. ':history')
    redis.call('ZREM', P .. ':runs', rid)
    redis.call('ZREM', P .. ':wf:' .. workflow, rid)
    redis.call('ZREM', P .. ':status:' .. status, rid)
    redis.call('ZREM', P .. ':wf:' .. workflow .. ':status:' .. status, rid)
    redis.call('ZREM', P .. ':expiring', cjson.encode({rid, workflow, status}))
    redis.call('ZREM', P .. ':timers', rid)
    redis.call('ZREM', P .. ':ready', rid)
    redis.call('ZREM', P .. ':leases', rid)
    if parent then
      redis.call('SREM', base(parent) .. ':children', rid)
    end
    if tags then
      for key, value in pairs(cjson.decode(tags)) do
        redis.call('ZREM', P .. ':tag:' .. key .. '=' .. value, rid)
      end
    end
    table.insert(deleted, rid)
  end
end
return deleted
