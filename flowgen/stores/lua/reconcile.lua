-- reconcile(ARGV: prefix, now, limit, ready_score, cutoff) -> runs to enqueue again:
-- 1. runs whose lease ended without being renewed (their worker died or froze), checked
--    against now: their message was consumed when the lease was taken, so the queue's backlog
--    says nothing about them. A renewed lease is checked again when it now ends; a run that no
--    longer holds a lease leaves P:leases; a paused one stays paused.
-- 2. ready runs with no live lease among those whose ready score is at most cutoff (now less
--    the queue's backlog: a run enqueued after the oldest waiting message is still queued).
-- See logic.reconcile (the same rules for the SQLite and memory stores).
local now = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local out = {}
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', P .. ':leases', '-inf', ARGV[2], 'LIMIT', 0, limit)) do
  local m = redis.call('HMGET', meta_key(rid), 'status', 'owner', 'lease_until')
  local owned = m[2] and m[2] ~= ''
  if owned and (tonumber(m[3]) or 0) > now then
    redis.call('ZADD', P .. ':leases', m[3], rid)
  else
    redis.call('ZREM', P .. ':leases', rid)
    if m[1] and owned and not is_finished(m[1]) and m[1] ~= 'paused' then
      redis.call('ZADD', P .. ':ready', ARGV[4], rid)
      table.insert(out, rid)
    end
  end
end
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', P .. ':ready', '-inf', ARGV[5], 'LIMIT', 0, limit)) do
  local m = redis.call('HMGET', meta_key(rid), 'status', 'owner', 'lease_until')
  if not m[1] or is_finished(m[1]) then
    redis.call('ZREM', P .. ':ready', rid)
  elseif m[2] and m[2] ~= '' and (tonumber(m[3]) or 0) > now then
    redis.call('ZADD', P .. ':ready', m[3], rid)
  else
    redis.call('ZADD', P .. ':ready', ARGV[4], rid)
    redis.call('ZREM', P .. ':leases', rid)
    table.insert(out, rid)
  end
end
return out
