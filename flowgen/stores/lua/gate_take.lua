-- gate_take(ARGV: base, member, now, held_until, gates JSON)
-- -> {'ok', fresh JSON} | {'retry', when, refused JSON}
-- On a many-shard cluster, the step limits and rate limits of one slot, taken where their holders
-- and windows live (the limit's shard, stores/redis_gates.py) exactly as flow_take takes them on
-- a single Redis; the run's own script (take_step) records what was taken. fresh names the
-- limits member did not hold already: the only slots the caller may give back if the attempt
-- then does not start (a slot member already held is another attempt's of the same run).
local member, now, gates = ARGV[2], tonumber(ARGV[3]), cjson.decode(ARGV[5])
local held = {}
for _, g in ipairs(gates) do
  if g[1] == 'limit' then
    local until_at = redis.call('ZSCORE', fc('shold:' .. g[2]), member)
    if until_at and tonumber(until_at) > now then held[g[2]] = true end
  end
end
local retry, refused = flow_take(member, gates, now, ARGV[4])
if retry then return {'retry', fnum(retry), cjson.encode(refused)} end
local fresh = {}
for _, g in ipairs(gates) do
  if g[1] == 'limit' and not held[g[2]] then table.insert(fresh, g[2]) end
end
return {'ok', cjson.encode(fresh)}
