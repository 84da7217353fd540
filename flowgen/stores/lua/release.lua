-- release(ARGV: prefix, run_id, epoch): drop the lease if this epoch still holds it.
local mk = meta_key(ARGV[2])
local m = redis.call('HMGET', mk, 'epoch', 'owner')
if m[1] == ARGV[3] and m[2] and m[2] ~= '' then
  redis.call('HSET', mk, 'owner', '', 'lease_until', '0')
  redis.call('ZREM', P .. ':leases', ARGV[2])
end
return 1
