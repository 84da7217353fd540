-- control(ARGV: prefix, run_id, action, now, ready_score, cancelled error JSON, retention or '',
--   expire_at or '')
-- -> {'ok', before, after, wake 0/1, woken parent or ''} | {'missing'} | {'finished', status} | {'not_paused', status}
-- See Store.control in stores/base.py for what each action does.
local rid, action, now, ready_score = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local mk = meta_key(rid)
local m = redis.call('HMGET', mk, 'status', 'owner', 'lease_until', 'pause', 'cancel', 'parent', 'workflow')
local status = m[1]
if not status then return {'missing'} end
-- cancelling a cancelled run again is a no-op (docs/control.md)
if status == 'cancelled' and (action == 'cancel' or action == 'terminate') then
  return {'ok', status, status, 0, ''}
end
if is_finished(status) then return {'finished', status} end
local leased = m[2] and m[2] ~= '' and (tonumber(m[3]) or 0) > tonumber(now)
local paused, cancelling = m[4] == '1', m[5] and m[5] ~= ''
local wake, woken, released = 0, '', {}

if action == 'pause' then
  if status == 'paused' or paused then return {'ok', status, status, 0, ''} end
  redis.call('HSET', mk, 'pause', '1')
  if not leased then
    set_status(rid, 'paused')
    redis.call('HSET', mk, 'waiting', '[]', 'owner', '', 'lease_until', '0')
    redis.call('ZREM', P .. ':timers', rid)
    redis.call('ZREM', P .. ':ready', rid)
    redis.call('ZREM', P .. ':leases', rid)
  end
elseif action == 'resume' then
  if status ~= 'paused' and not paused then return {'not_paused', status} end
  redis.call('HSET', mk, 'pause', '')
  if status == 'paused' then
    set_status(rid, 'queued')
    redis.call('ZADD', P .. ':ready', ready_score, rid)
    wake = 1
  end
elseif action == 'cancel' then
  if cancelling then return {'ok', status, status, 0, ''} end
  redis.call('HSET', mk, 'cancel', 'requested', 'pause', '')
  if status == 'paused' then set_status(rid, 'queued') end
  if not leased then
    redis.call('ZADD', P .. ':ready', ready_score, rid)
    wake = 1
  end
elseif action == 'terminate' then
  set_status(rid, 'cancelled')
  redis.call('HSET', mk, 'error', ARGV[6], 'finished', now, 'owner', '', 'lease_until', '0', 'waiting', '[]')
  redis.call('HINCRBY', mk, 'epoch', 1)
  redis.call('HDEL', mk, 'open')
  local dropped = {}  -- its branches' step slots, given back (flow_drop_branch)
  flow_drop_branches(rid, dropped)
  end_run(rid, m[7], 'cancelled', ARGV[7], ARGV[8])
  if m[6] and m[6] ~= '' and bump_signals(m[6], ready_score) then woken = m[6]; flow_resumed(m[6], now) end
  flow_release_dropped(rid, dropped, ready_score, released)
  for _, run in ipairs(flow_released(rid, ready_score, ARGV[7])) do table.insert(released, run) end
else
  return redis.error_reply('unknown control action ' .. action)
end
redis.call('HINCRBY', mk, 'signals', 1)
redis.call('HSET', mk, 'updated', now)
return {'ok', status, redis.call('HGET', mk, 'status'), wake, woken, released}
