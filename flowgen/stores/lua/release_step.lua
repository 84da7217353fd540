-- release_step(ARGV: prefix, run_id, ready_score, names JSON) -> run ids woken to take the slots
local rid, ready_score = ARGV[2], ARGV[3]
local names = cjson.decode(ARGV[4])
local woken = {}
local flow = flow_get(rid)
if not flow then return woken end
local drop = {}
for _, name in ipairs(names) do
  drop[name] = true
  redis.call('ZREM', fc('shold:' .. name), rid)
  flow_wake('swait:' .. name, 1, ready_score, 'waiting', woken)
end
local holds = {}
for _, h in ipairs(flow.holds or {}) do if not drop[h] then table.insert(holds, h) end end
if #holds > 0 then flow.holds = holds else flow.holds = nil end
flow_put(rid, flow)
return woken
