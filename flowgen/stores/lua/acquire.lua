-- acquire(ARGV: prefix, run_id, owner, now, lease_until, journal_offset)
-- Takes the lease with a new epoch; returns {'ok', meta as one JSON array, journal tail, branches, inbox heads,
-- interrupted, flow document or false} or {'missing'} / {'finished'} / {'busy'} / {'blocked'} (over
-- a concurrency limit: it waits in line, see _flow.lua). ``interrupted`` is 1 when the previous
-- holder's lease expired without it parking, finishing or releasing the run.
-- This script runs once per advance, and every command a script issues costs Redis several
-- thousand instructions whatever it does, and every element of a reply about a thousand more
-- (once into Lua, once back out): the metadata is read once (HGETALL) and written once (HSET),
-- goes back as one JSON array of its fields and values as this call leaves them (one element,
-- not two per field; all texts), the flow document and the branch records only for a run that
-- may have them (not marked plain, see _flow.lua), and the journal only past the offset.
local rid, owner, now, lease_until, offset = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local mk = meta_key(rid)
local all = redis.call('HGETALL', mk)
-- the fields this script reads, picked from the flat reply (a Lua table keyed by every field
-- costs Redis more than the whole scan: it grows, rehashing, field by field)
local status, holder, held_until, epoch, created, cancel, workflow, waiting, jlen, plain
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  if f == 'status' then status = v
  elseif f == 'owner' then holder = v
  elseif f == 'lease_until' then held_until = v
  elseif f == 'epoch' then epoch = v
  elseif f == 'created' then created = v
  elseif f == 'cancel' then cancel = v
  elseif f == 'workflow' then workflow = v
  elseif f == 'waiting' then waiting = v
  elseif f == 'jlen' then jlen = v
  elseif f == 'plain' then plain = v end
end
if not status then return {'missing'} end
if is_finished(status) then return {'finished'} end
holder = holder or ''
if holder ~= '' and holder ~= owner and (tonumber(held_until) or 0) > now then return {'busy'} end
local admitted, flow = true, nil
plain = plain == '1'
if not plain then admitted, flow = flow_admit(rid, tonumber(created), cancel, now) end
if not admitted then return {'blocked'} end
local interrupted = 0
if holder ~= '' then interrupted = 1 end
local fields = {'epoch', tostring((tonumber(epoch) or 0) + 1), 'owner', owner, 'lease_until', lease_until}
-- the reconciler checks when the lease ends that it was renewed (see reconcile.lua)
redis.call('ZADD', P .. ':leases', lease_until, rid)
-- A parked run taken by a (possibly stale) message goes back to the ready index, so the
-- reconciler moves it once the lease expires if this worker dies before parking it again.
if status == 'waiting' then redis.call('ZADD', P .. ':ready', lease_until, rid) end
if status == 'queued' or status == 'waiting' then
  index_status(rid, workflow, created, status, 'running')
  fields[7], fields[8], fields[9], fields[10] = 'status', 'running', 'updated', ARGV[4]
end
redis.call('HSET', mk, unpack(fields))
-- the reply's metadata as this call leaves it
for i = 1, #fields, 2 do
  local j = 1
  while j <= #all and all[j] ~= fields[i] do j = j + 2 end
  all[j], all[j + 1] = fields[i], fields[i + 1]
end
local inbox = {}
if waiting and waiting ~= '[]' then
  local counts = {}
  local order = {}
  for _, t in ipairs(cjson.decode(waiting)) do
    if not counts[t] then table.insert(order, t) end
    counts[t] = (counts[t] or 0) + 1
  end
  for _, t in ipairs(order) do
    local items = redis.call('LRANGE', inbox_key(rid, t), 0, counts[t] - 1)
    if #items > 0 then
      table.insert(inbox, t)
      table.insert(inbox, items)
    end
  end
end
local journal = {}
jlen = tonumber(jlen)
if not jlen or offset < 0 or jlen > offset then journal = redis.call('LRANGE', base(rid) .. ':journal', offset, -1) end
local branches = {}
if not plain then branches = redis.call('HGETALL', base(rid) .. ':branches') end
return {'ok', cjson.encode(all), journal, branches, inbox, interrupted, flow and cjson.encode(flow) or false}
