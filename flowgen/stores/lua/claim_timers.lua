-- claim_timers(ARGV: prefix, now, limit, ready_score) -> run ids whose timer fell due.
-- Each claimed run moves to the ready index, so a lost enqueue is repaired by the reconciler.
local due = redis.call('ZRANGEBYSCORE', P .. ':timers', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, rid in ipairs(due) do
  redis.call('ZREM', P .. ':timers', rid)
  redis.call('ZADD', P .. ':ready', ARGV[4], rid)
  flow_resumed(rid, ARGV[2])
end
return due
