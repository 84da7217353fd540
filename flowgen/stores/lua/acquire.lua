-- acquire(ARGV: prefix, run_id, owner, now, lease_until, journal_offset)
-- Takes the lease with a new epoch; returns {'ok', meta, journal tail, branches, inbox heads,
-- interrupted, flow document or false} or {'missing'} / {'finished'} / {'busy'} / {'blocked'} (over
-- a concurrency limit: it waits in line, see _flow.lua). or {'missing'} / {'finished'} / {'busy'}. ``interrupted`` is 1 when the previous
-- holder's lease expired without it parking, finishing or releasing the run.
local rid, owner, now, lease_until, offset = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local mk = meta_key(rid)
local m = redis.call('HMGET', mk, 'status', 'owner', 'lease_until', 'waiting', 'created', 'cancel')
if not m[1] then return {'missing'} end
if is_finished(m[1]) then return {'finished'} end
if m[2] and m[2] ~= '' and m[2] ~= owner and (tonumber(m[3]) or 0) > now then return {'busy'} end
local admitted, flow = flow_admit(rid, tonumber(m[5]), m[6], now)
if not admitted then return {'blocked'} end
local interrupted = 0
if m[2] and m[2] ~= '' then interrupted = 1 end
redis.call('HINCRBY', mk, 'epoch', 1)
redis.call('HSET', mk, 'owner', owner, 'lease_until', lease_until)
-- the reconciler checks when the lease ends that it was renewed (see reconcile.lua)
redis.call('ZADD', P .. ':leases', lease_until, rid)
-- A parked run taken by a (possibly stale) message goes back to the ready index, so the
-- reconciler moves it once the lease expires if this worker dies before parking it again.
if m[1] == 'waiting' then redis.call('ZADD', P .. ':ready', lease_until, rid) end
if m[1] == 'queued' or m[1] == 'waiting' then
  set_status(rid, 'running')
  redis.call('HSET', mk, 'updated', ARGV[4])
end
local counts = {}
local order = {}
for _, t in ipairs(cjson.decode(m[4] or '[]')) do
  if not counts[t] then table.insert(order, t) end
  counts[t] = (counts[t] or 0) + 1
end
local inbox = {}
for _, t in ipairs(order) do
  local items = redis.call('LRANGE', inbox_key(rid, t), 0, counts[t] - 1)
  if #items > 0 then
    table.insert(inbox, t)
    table.insert(inbox, items)
  end
end
return {'ok', redis.call('HGETALL', mk), redis.call('LRANGE', base(rid) .. ':journal', offset, -1),
  redis.call('HGETALL', base(rid) .. ':branches'), inbox, interrupted, flow and cjson.encode(flow) or false}
