-- acquire(ARGV: prefix, run_id, owner, now, lease_until, journal_offset)
-- Takes the lease with a new epoch; returns {'ok', meta (the values of RedisStore's ACQUIRED),
-- journal tail, branches, inbox heads, interrupted, flow document or false} or {'missing'} / {'finished'} / {'busy'} / {'blocked'} (over
-- a concurrency limit: it waits in line, see _flow.lua). ``interrupted`` is 1 when the previous
-- holder's lease expired without it parking, finishing or releasing the run.
-- This script runs once per advance, and every command a script issues costs Redis several
-- thousand instructions whatever it does, and every element of a reply about a thousand more
-- (once into Lua, once back out): the metadata is read once (HMGET of the record's fields, no
-- names coming back) and written once (HSET), and goes back as this call leaves it; the flow
-- document and the branch records are read only for a run that may have them (not marked
-- plain, see _flow.lua), and the journal only past the offset.
local rid, owner, now, lease_until, offset = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local mk = meta_key(rid)
-- the fields of RunRecord in a fixed order (ACQUIRED in stores/redis.py; run_id is the caller's): looked
-- up by position and patched in place, no table keyed by field, and the reply carries no names
local m = redis.call('HMGET', mk, 'status', 'owner', 'lease_until', 'epoch', 'created', 'cancel', 'workflow',
  'waiting', 'jlen', 'plain', 'updated', 'args', 'fingerprint', 'output', 'error', 'parent', 'generation',
  'signals', 'pause', 'finished', 'open', 'trace')
local status, holder = m[1], m[2] or ''
if not status then return {'missing'} end
if is_finished(status) then return {'finished'} end
if holder ~= '' and holder ~= owner and (tonumber(m[3]) or 0) > now then return {'busy'} end
local admitted, flow = true, nil
local plain = m[10] == '1'
if not plain then admitted, flow = flow_admit(rid, tonumber(m[5]), m[6], now) end
if not admitted then return {'blocked'} end
local interrupted = 0
if holder ~= '' then interrupted = 1 end
m[2], m[3], m[4] = owner, lease_until, tostring((tonumber(m[4]) or 0) + 1)
local fields = {'epoch', m[4], 'owner', owner, 'lease_until', lease_until}
-- the reconciler checks when the lease ends that it was renewed (see reconcile.lua)
redis.call('ZADD', P .. ':leases', lease_until, rid)
-- A parked run taken by a (possibly stale) message goes back to the ready index, so the
-- reconciler moves it once the lease expires if this worker dies before parking it again.
if status == 'waiting' then redis.call('ZADD', P .. ':ready', lease_until, rid) end
if status == 'queued' or status == 'waiting' then
  index_status(rid, m[7], m[5], status, 'running')
  fields[7], fields[8], fields[9], fields[10] = 'status', 'running', 'updated', ARGV[4]
  m[1], m[11] = 'running', ARGV[4]
end
redis.call('HSET', mk, unpack(fields))
local inbox = {}
local waiting = m[8]
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
local jlen = tonumber(m[9])
if not jlen or offset < 0 or jlen > offset then journal = redis.call('LRANGE', base(rid) .. ':journal', offset, -1) end
local branches = {}
if not plain then branches = redis.call('HGETALL', base(rid) .. ':branches') end
return {'ok', m, journal, branches, inbox, interrupted, flow and cjson.encode(flow) or false}
