-- take_step(ARGV: prefix, run_id, epoch, now, lease_until, gates JSON)
-- -> {'stale'} | {'ok'} (taken, all or nothing) | {'retry', when}; see flow_logic.take_step.
local rid, epoch, now, lease_until = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local gates = cjson.decode(ARGV[6])
local m = redis.call('HMGET', meta_key(rid), 'epoch', 'owner')
if m[1] ~= epoch or not m[2] or m[2] == '' then return {'stale'} end
local retry = nil
for _, g in ipairs(gates) do
  local kind, name, count, period = g[1], g[2], tonumber(g[3]), tonumber(g[4]) * 1.02  -- RATE_MARGIN
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
    -- the rate window and its waiters (flow_logic._rate_wait), on a clock that only moves forward
    -- (flow_logic._window_now)
    local now = math.max(now, zscore('rnow', name) or now)
    local window, waiters = fc('rate:' .. name), fc('rwait:' .. name)
    redis.call('ZREMRANGEBYSCORE', window, '-inf', fnum(now - period))
    redis.call('ZREMRANGEBYSCORE', waiters, '-inf', fnum(now - 2 * period))
    local mine = redis.call('ZSCORE', waiters, rid)
    if mine then mine = tonumber(mine) end
    -- the waiters due before this attempt: all due ones for a newcomer, those ahead for a waiter
    local due_by = now
    if mine then due_by = math.min(now, mine) end
    local due = redis.call('ZCOUNT', waiters, '-inf', fnum(due_by))
    if mine and mine <= now then due = due - 1 end
    local used = redis.call('ZCARD', window)
    if used + due >= count then
      -- a newcomer is behind every waiter; a waiter that woke too early keeps its place in line
      local ahead
      if mine then ahead = redis.call('ZRANK', waiters, rid) else ahead = redis.call('ZCARD', waiters) end
      local starts = redis.call('ZRANGE', window, 0, count - 1, 'WITHSCORES')
      local m = #starts / 2
      local j = math.max(0, ahead - (count - used))
      local cycle, index = math.floor(j / math.max(1, m)), j % math.max(1, m)
      local at
      if m > 0 then at = tonumber(starts[2 * index + 2]) + period * (cycle + 1)
      else at = now + period * (cycle + 1) end
      at = math.max(at, now + 0.001)
      redis.call('ZADD', waiters, fnum(at), rid)
      retry = math.max(retry or 0, at)
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
    -- one member per start (two starts at the same instant are two), on the window's clock
    local start = math.max(now, zscore('rnow', name) or now)
    redis.call('ZADD', fc('rate:' .. name), fnum(start), rid .. '@' .. redis.call('INCR', fc('seq')))
    redis.call('ZADD', fc('rnow'), fnum(start), name)
    redis.call('ZREM', fc('rwait:' .. name), rid)
  end
end
if changed then
  flow.holds = holds
  flow_put(rid, flow)
end
return {'ok'}
