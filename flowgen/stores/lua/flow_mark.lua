-- flow_mark(ARGV: prefix, action, ...)
--   'block', key, until: RateLimited(key=...) blocks the key until then (never shortens a block)
--   'timed_out', run_id, now: RunTimeoutError was raised into the run (once) -> its final deadline
local action = ARGV[2]
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
