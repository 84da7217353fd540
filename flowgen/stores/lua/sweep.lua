-- sweep(ARGV: prefix, now, limit): drop expired runs from the indexes (their keys expired by TTL).
-- A run whose meta key still lives is not swept: if it still expires (its TTL, set by the same
-- finish, can end a moment after the item's score) it is looked at again then; if it no longer
-- expires (reset or retried since), its item is dropped and its index entries stay.
local now = tonumber(ARGV[2])
local items = redis.call('ZRANGEBYSCORE', P .. ':expiring', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, item in ipairs(items) do
  local rid, workflow, status = unpack(cjson.decode(item))
  local ttl = redis.call('PTTL', meta_key(rid))
  if ttl == -2 then
    redis.call('ZREM', P .. ':runs', rid)
    redis.call('ZREM', P .. ':wf:' .. workflow, rid)
    redis.call('ZREM', P .. ':status:' .. status, rid)
    redis.call('ZREM', P .. ':wf:' .. workflow .. ':status:' .. status, rid)
    redis.call('ZREM', P .. ':expiring', item)
  elseif ttl == -1 then
    redis.call('ZREM', P .. ':expiring', item)
  else
    redis.call('ZADD', P .. ':expiring', now + ttl / 1000 + 0.001, item)
  end
end
return #items
