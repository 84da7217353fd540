-- take_step(ARGV: prefix, run_id, epoch, now, lease_until, gates JSON)
-- -> {'stale'} | {'ok'} (taken, all or nothing) | {'retry', when}; see flow_logic.take_step.
local rid, epoch, now, lease_until = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local gates = cjson.decode(ARGV[6])
local m = redis.call('HMGET', meta_key(rid), 'epoch', 'owner')
if m[1] ~= epoch or not m[2] or m[2] == '' then return {'stale'} end
local retry = nil
for _, g in ipairs(gates) do
  local kind, name, count, period = g[1], g[2], tonumber(g[3]), tonumber(g[4])
  if kind == 'block' then
    local untilt = zscore('rblock', name)
    if untilt and untilt > now then retry = math.max(retry or 0, untilt) end
  elseif kind == 'limit' then
    local holders = fc('shold:' .. name)
    redis.call('ZREMRANGEBYSCORE', holders, '-inf', fnum(now))
    if not redis.call('ZSCORE', holders, rid) and redis.call('ZCARD', holders) >= count then
      local head = redis.call('ZRANGE', holders, 0, 0, 'WITHSCORES')
      retry = math.max(retry or 0, tonumber(head[2]) or now)
      if not redis.call('ZSCORE', fc('swait:' .. name), rid) then
        redis.call('ZADD', fc('swait:' .. name), fnum(now), rid)
      end
    end
  else
    local window = fc('rate:' .. name)
    redis.call('ZREMRANGEBYSCORE', window, '-inf', fnum(now - period))
    if redis.call('ZCARD', window) >= count then
      local head = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
      retry = math.max(retry or 0, tonumber(head[2]) + period)
    end
  end
end
if retry then return {'retry', fnum(math.max(retry, now))} end
local flow = flow_get(rid) or {}
local holds = flow.holds or {}
local changed = false
for _, g in ipairs(gates) do
  local kind, name = g[1], g[2]
  if kind == 'limit' then
    redis.call('ZADD', fc('shold:' .. name), lease_until, rid)
    redis.call('ZREM', fc('swait:' .. name), rid)
    local known = false
    for _, h in ipairs(holds) do if h == name then known = true end end
    if not known then table.insert(holds, name); changed = true end
  elseif kind == 'rate' then
    -- one member per start (two starts at the same instant are two)
    redis.call('ZADD', fc('rate:' .. name), ARGV[4], rid .. '@' .. redis.call('INCR', fc('seq')))
  end
end
if changed then
  flow.holds = holds
  flow_put(rid, flow)
end
return {'ok'}
