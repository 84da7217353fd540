-- tag(ARGV: prefix, run_id, tags JSON, then key, value per tag): give a run its tags unless it has
-- some. The tags live in the run's meta hash (field "tags", so they expire with it) and each is
-- indexed in P:tag:<key>=<value>, a zset of run ids by creation time. Returns 1 if set, else 0.
local rid = ARGV[2]
local mk = meta_key(rid)
local created = redis.call('HGET', mk, 'created')
if not created or redis.call('HEXISTS', mk, 'tags') == 1 then
  return 0
end
redis.call('HSET', mk, 'tags', ARGV[3])
for i = 4, #ARGV, 2 do
  redis.call('ZADD', P .. ':tag:' .. ARGV[i] .. '=' .. ARGV[i + 1], created, rid)
end
return 1
