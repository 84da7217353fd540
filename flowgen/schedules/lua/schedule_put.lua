-- Write a schedule if its revision is still `expected` (0: create; empty spec: delete).
-- Returns the new revision (0 after a delete), or -1 when the revision moved (nothing written).
-- ARGV: prefix, name, expected, spec, state, due ('' for none), now
local prefix, name, expected = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = prefix .. ':schedule:' .. name
local stored = redis.call('HGET', key, 'rev')
local revision = stored and tonumber(stored) or 0
if revision ~= expected then
  return -1
end
if ARGV[4] == '' then
  redis.call('DEL', key, key .. ':runs')
  redis.call('ZREM', prefix .. ':schedules:due', name)
  redis.call('ZREM', prefix .. ':schedules', name)
  return 0
end
redis.call('HSET', key, 'spec', ARGV[4], 'state', ARGV[5], 'rev', revision + 1)
if ARGV[6] == '' then
  redis.call('ZREM', prefix .. ':schedules:due', name)
else
  redis.call('ZADD', prefix .. ':schedules:due', ARGV[6], name)
end
redis.call('ZADD', prefix .. ':schedules', 'NX', ARGV[7], name)
return revision + 1
