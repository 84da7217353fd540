-- branch_finish(ARGV: prefix, run_id, key, attempt, report JSON, ready_score, now)
-- -> the runs to enqueue: this one if it waits, and those woken for the step slots it gave back
local rid, key, attempt = ARGV[2], ARGV[3], tonumber(ARGV[4])
local woken = {}
local status = redis.call('HGET', meta_key(rid), 'status')
if not status or is_finished(status) then return woken end
local bk = base(rid) .. ':branches'
local record = redis.call('HGET', bk, key)
if not record or cjson.decode(record).d ~= attempt then return woken end
if tonumber(redis.call('HGET', bk, key .. '|s')) ~= attempt then return woken end
if redis.call('HEXISTS', bk, key .. '|r') == 1 then return woken end
redis.call('HSET', bk, key .. '|r', ARGV[5])
local held = redis.call('HGET', bk, key .. '|h')
local freed = {}
if held then
  for _, name in ipairs(cjson.decode(held)) do
    redis.call('ZREM', fc('shold:' .. name), rid .. '#' .. key)
    flow_wake('swait:' .. name, 1, ARGV[6], 'waiting', freed)
  end
end
if bump_signals(rid, ARGV[6]) then
  table.insert(woken, rid)
  flow_resumed(rid, ARGV[7])
end
for _, other in ipairs(freed) do if other ~= rid then table.insert(woken, other) end end
return woken
