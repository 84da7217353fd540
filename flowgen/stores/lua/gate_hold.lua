-- gate_hold(ARGV: base, action, member, names JSON, until) on a many-shard cluster, in the
-- limits' shard (stores/redis_gates.py):
--   'release': member gives back its slots of names -> per name, the first waiters in line (the
--              caller wakes the first one still there, in its own shard, as flow_wake does)
--   'renew':   member's slots of names move to until (only the ones it still holds)
--   'leave':   member leaves the lines of names (its run ended, or its branch is gone)
local action, member, names = ARGV[2], ARGV[3], cjson.decode(ARGV[4])
local reply = {}
for _, name in ipairs(names) do
  if action == 'release' then
    redis.call('ZREM', fc('shold:' .. name), member)
    table.insert(reply, redis.call('ZRANGE', fc('swait:' .. name), 0, 9))
  elseif action == 'renew' then
    redis.call('ZADD', fc('shold:' .. name), 'XX', ARGV[5], member)
  else
    redis.call('ZREM', fc('swait:' .. name), member)
  end
end
return reply
