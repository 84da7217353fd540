-- lane_take(ARGV: prefix, now) -> the first run of the priority lane that still needs a worker,
-- or false (flow_logic.take_lane): runs that finished, are paused or are leased are dropped.
local now = tonumber(ARGV[2])
for _ = 1, 10 do
  local head = redis.call('ZPOPMIN', fc('lane'))
  if #head == 0 then return false end
  local rid = head[1]
  local m = redis.call('HMGET', meta_key(rid), 'status', 'owner', 'lease_until')
  if m[1] and not is_finished(m[1]) and m[1] ~= 'paused'
      and not (m[2] and m[2] ~= '' and (tonumber(m[3]) or 0) > now) then
    return rid
  end
end
return false
