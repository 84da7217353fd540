-- flow_wake_one(ARGV: base, member, ready_score) -> false when the waiter is gone (its run ended or
-- its branch is gone), else the runs made ready or signalled to take the slot (flow_wake_member):
-- on a many-shard cluster, the run's half of waking a step limit's waiter (stores/redis_gates.py).
local woken = {}
if not flow_wake_member(ARGV[2], ARGV[3], 'waiting', woken) then return false end
return woken
