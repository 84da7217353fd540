-- branch_finish(ARGV: prefix, run_id, key, attempt, report JSON, ready_score) -> 1 if the run must be enqueued
local rid, key, attempt = ARGV[2], ARGV[3], tonumber(ARGV[4])
local status = redis.call('HGET', meta_key(rid), 'status')
if not status or is_finished(status) then return 0 end
local bk = base(rid) .. ':branches'
local record = redis.call('HGET', bk, key)
if not record or cjson.decode(record).d ~= attempt then return 0 end
if tonumber(redis.call('HGET', bk, key .. '|s')) ~= attempt then return 0 end
if redis.call('HEXISTS', bk, key .. '|r') == 1 then return 0 end
redis.call('HSET', bk, key .. '|r', ARGV[5])
if bump_signals(rid, ARGV[6]) then return 1 end
return 0
