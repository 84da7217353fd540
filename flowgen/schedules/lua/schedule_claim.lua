-- Claim the schedules due at `now`: move each one's due time to now + ttl (its claim lease)
-- and return name, spec, state, revision for each, four values per schedule.
-- ARGV: prefix, now, limit, ttl
local prefix, now, limit, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local due = prefix .. ':schedules:due'
local names = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[2], 'LIMIT', 0, limit)
local out = {}
for _, name in ipairs(names) do
  local fields = redis.call('HMGET', prefix .. ':schedule:' .. name, 'spec', 'state', 'rev')
  if fields[1] then
    redis.call('ZADD', due, string.format('%.17g', now + ttl), name)
    out[#out + 1] = name
    out[#out + 1] = fields[1]
    out[#out + 1] = fields[2]
    out[#out + 1] = fields[3]
  else
    redis.call('ZREM', due, name)
  end
end
return out
