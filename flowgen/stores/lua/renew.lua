-- renew(ARGV: prefix, lease_until, then pairs run_id, epoch) -> run ids whose lease was lost
-- (a run finished under the same epoch is neither renewed nor lost)
local lost = {}
for i = 3, #ARGV, 2 do
  local rid, epoch = ARGV[i], ARGV[i + 1]
  local mk = meta_key(rid)
  local m = redis.call('HMGET', mk, 'epoch', 'owner', 'status')
  if m[1] == epoch and is_finished(m[3]) then
    -- this very lease finished the run: nothing to renew, nothing lost
  elseif m[1] == epoch and m[2] and m[2] ~= '' then
    redis.call('HSET', mk, 'lease_until', ARGV[2])
    redis.call('ZADD', P .. ':leases', ARGV[2], rid)
    flow_renew(rid, ARGV[2])
  else
    table.insert(lost, rid)
  end
end
return lost
