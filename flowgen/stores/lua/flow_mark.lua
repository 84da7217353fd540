-- flow_mark(ARGV: prefix, action, ...)
--   'block', key, until: RateLimited(key=...) blocks the key until then (never shortens a block)
--   'timed_out', run_id, now: RunTimeoutError was raised into the run (once) -> its final deadline
--   'unstart', member, name, since: a granted start ran no body; remove the member's latest
--     entry of the window recorded at or after since (flow_rates.give_back)
local action = ARGV[2]
if action == 'unstart' then
  local member, found = ARGV[3], nil
  local window = fc('rate:' .. ARGV[4])
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', window, ARGV[5], '+inf')) do
    local at = string.find(entry, '@[^@]*$')
    if at and string.sub(entry, 1, at - 1) == member then found = entry end
  end
  if found then redis.call('ZREM', window, found) end
  return {'ok'}
end
if action == 'block' then
  local untilt = math.max(tonumber(ARGV[4]), zscore('rblock', ARGV[3]) or 0)
  redis.call('ZADD', fc('rblock'), fnum(untilt), ARGV[3])
  return {'ok'}
end
local rid, now = ARGV[3], tonumber(ARGV[4])
local flow = flow_get(rid) or {}
if not flow.timed_out then
  flow.timed_out = now
  flow_put(rid, flow)
end
return {'ok', fnum(flow.timed_out + math.min(tonumber(ARGV[5]), tonumber(flow.timeout or ARGV[5])))}
