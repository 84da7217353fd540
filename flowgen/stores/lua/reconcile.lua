-- reconcile(ARGV: prefix, now, limit, ready_score, cutoff) -> ready runs with no live lease to
-- enqueue again, among those whose ready score is at most cutoff (now less the queue's backlog).
local now = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', P .. ':ready', '-inf', ARGV[5], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, rid in ipairs(ids) do
  local m = redis.call('HMGET', meta_key(rid), 'status', 'owner', 'lease_until')
  if not m[1] or is_finished(m[1]) then
    redis.call('ZREM', P .. ':ready', rid)
  elseif m[2] and m[2] ~= '' and (tonumber(m[3]) or 0) > now then
    redis.call('ZADD', P .. ':ready', m[3], rid)
  else
    redis.call('ZADD', P .. ':ready', ARGV[4], rid)
    table.insert(out, rid)
  end
end
return out
