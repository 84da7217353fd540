-- branch_begin(ARGV: prefix, run_id, key, attempt, heartbeat_until, started)
-- -> the dispatch record JSON if this attempt may start, else false.
local rid, key, attempt = ARGV[2], ARGV[3], tonumber(ARGV[4])
local status = redis.call('HGET', meta_key(rid), 'status')
if not status or is_finished(status) then return false end
local bk = base(rid) .. ':branches'
local record = redis.call('HGET', bk, key)
if not record then return false end
if cjson.decode(record).d ~= attempt then return false end
if (tonumber(redis.call('HGET', bk, key .. '|s')) or 0) >= attempt then return false end
redis.call('HSET', bk, key .. '|s', ARGV[4], key .. '|hb', ARGV[5], key .. '|started', ARGV[6])
return record
