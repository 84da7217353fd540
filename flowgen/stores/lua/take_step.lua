-- take_step(ARGV: prefix, run_id, epoch, now, lease_until, gates JSON[, retry, refused JSON])
-- -> {'stale'} | {'ok'} (taken, all or nothing) | {'retry', when}; see flow_logic.take_step.
-- With retry given (on a many-shard cluster), the gates were already taken in their own shards
-- (gate_take.lua, stores/redis_gates.py): '' when taken, else when to try again; the run's flow
-- then records no holds (release_step.lua is not called there).
local rid, epoch, now, lease_until = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local gates = cjson.decode(ARGV[6])
local m = redis.call('HMGET', meta_key(rid), 'epoch', 'owner')
if m[1] ~= epoch or not m[2] or m[2] == '' then return {'stale'} end
local retry, refused
if ARGV[7] == nil then
  retry, refused = flow_take(rid, gates, now, lease_until)
elseif ARGV[7] ~= '' then
  retry, refused = tonumber(ARGV[7]), cjson.decode(ARGV[8])
end
local flow = flow_get(rid) or {}
if retry then
  flow_note_parked(rid, flow, '', refused, true)
  return {'retry', fnum(retry)}
end
local holds = flow.holds or {}
local changed = flow_note_parked(rid, flow, '', nil, false)
-- on a cluster the holds live in the limits' shards only (the taking process gives them back)
if ARGV[7] ~= nil then gates = {} end
for _, g in ipairs(gates) do
  local kind, name = g[1], g[2]
  if kind == 'limit' then
    local known = false
    for _, h in ipairs(holds) do if h == name then known = true end end
    if not known then table.insert(holds, name); changed = true end
  end
end
if changed then
  if #holds > 0 then flow.holds = holds end
  flow_put(rid, flow)
end
return {'ok'}
