-- branch_begin(ARGV: prefix, run_id, key, attempt, heartbeat_until, started[, retry, refused JSON])
-- -> the dispatch record JSON if this attempt may start, else false. A record with gates (g)
-- takes them first (stores/flow_branches.py); refused, the branch is parked until |pk. On a
-- many-shard cluster retry is '?' first: a record with gates is returned as {'gates', record}
-- untouched, the gates are taken in their own shards (stores/redis_gates.py), and the call is
-- made again with retry '' (taken) or when to try again (refused), as take_step.lua's.
local rid, key, attempt = ARGV[2], ARGV[3], tonumber(ARGV[4])
local status = redis.call('HGET', meta_key(rid), 'status')
if not status or is_finished(status) then return false end
local bk = base(rid) .. ':branches'
local record = redis.call('HGET', bk, key)
if not record then return false end
local decoded = cjson.decode(record)
if decoded.d ~= attempt then return false end
if (tonumber(redis.call('HGET', bk, key .. '|s')) or 0) >= attempt then return false end
if decoded.g then
  local retry, refused
  if ARGV[7] == nil then
    retry, refused = flow_take(rid .. '#' .. key, decoded.g, tonumber(ARGV[6]), ARGV[5])
  elseif ARGV[7] == '?' then
    return {'gates', record}
  elseif ARGV[7] ~= '' then
    retry, refused = tonumber(ARGV[7]), cjson.decode(ARGV[8])
  end
  local flow = flow_get(rid) or {}
  if retry then
    flow_note_parked(rid, flow, key, refused, true)
    redis.call('HSET', bk, key .. '|pk', fnum(retry))
    local m = redis.call('HMGET', meta_key(rid), 'status', 'owner')
    if m[1] == 'waiting' and (not m[2] or m[2] == '') then
      local timer = redis.call('ZSCORE', P .. ':timers', rid)
      if not timer or tonumber(timer) > retry then redis.call('ZADD', P .. ':timers', fnum(retry), rid) end
    else
      redis.call('HINCRBY', meta_key(rid), 'signals', 1)  -- being advanced: its park is refused
    end
    return false
  end
  if flow.sw and flow.sw[key] then flow_note_parked(rid, flow, key, nil, true) end
  local held = {}
  for _, g in ipairs(decoded.g) do if g[1] == 'limit' then table.insert(held, g[2]) end end
  redis.call('HDEL', bk, key .. '|pk')
  if #held > 0 then redis.call('HSET', bk, key .. '|h', cjson.encode(held)) end
end
redis.call('HSET', bk, key .. '|s', ARGV[4], key .. '|hb', ARGV[5], key .. '|started', ARGV[6])
return record
