-- send_event(ARGV: prefix, run_id, type, event JSON, event id, ready_score, now)
-- -> {'missing'} | {'finished', status} | {'duplicate'} | {'ok', woken 0/1}
local rid, t, event, event_id, ready_score = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local mk = meta_key(rid)
local b = base(rid)
local m = redis.call('HMGET', mk, 'status', 'waiting')
if not m[1] then return {'missing'} end
if is_finished(m[1]) then return {'finished', m[1]} end
if redis.call('SADD', b .. ':seen', event_id) == 0 then return {'duplicate'} end
redis.call('RPUSH', inbox_key(rid, t), event)
redis.call('SADD', b .. ':inboxes', t)
redis.call('HINCRBY', mk, 'signals', 1)
if m[1] == 'waiting' then
  for _, waited in ipairs(cjson.decode(m[2] or '[]')) do
    if waited == t then
      redis.call('ZADD', P .. ':ready', ready_score, rid)
      flow_resumed(rid, ARGV[7])
      return {'ok', 1}
    end
  end
end
return {'ok', 0}
