-- gate_take(ARGV: base, member, now, held_until, gates JSON) -> {'ok'} | {'retry', when, refused JSON}
-- On a many-shard cluster, the step limits and rate limits of one slot, taken where their holders
-- and windows live (the limit's shard, stores/redis_gates.py) exactly as flow_take takes them on
-- a single Redis; the run's own script (take_step) records what was taken.
local retry, refused = flow_take(ARGV[2], cjson.decode(ARGV[5]), tonumber(ARGV[3]), ARGV[4])
if retry then return {'retry', fnum(retry), cjson.encode(refused)} end
return {'ok'}
