-- commit(ARGV: prefix, run_id, commit JSON {epoch, pos, now, ready_score, ops})
-- -> {ok, reason, parked, woken parent or '', pause, cancel, held}
-- See Commit in stores/base.py (stores/logic.py is the same rules in Python). First the guard
-- (lease epoch, journal position) and the operations' preconditions (consumed events are the
-- inbox heads), all before the first write (Lua does not roll back); then each operation
-- ([kind, arguments...]) by its function in OPS, in order; then one HSET (and HDEL) of the
-- run's metadata. This script runs at every step boundary: the metadata is read once.
local rid = ARGV[2]
local c = cjson.decode(ARGV[3])
local mk = meta_key(rid)
local b = base(rid)
local m = redis.call('HMGET', mk, 'epoch', 'owner', 'status', 'jlen', 'signals', 'parent', 'workflow',
  'created', 'pause', 'cancel')
if not m[3] then return {0, 'missing', 0, ''} end
if tonumber(m[1]) ~= c.epoch or m[2] == '' or is_finished(m[3]) then return {0, 'stale', 0, ''} end
if tonumber(m[4]) ~= c.pos then return {0, 'conflict', 0, ''} end

-- Precondition of the consume operations: per event type, their ids are the inbox's first, in order.
local consumed, types = {}, {}
for _, op in ipairs(c.ops) do
  if op[1] == 'consume' then
    local t = op[2]
    if not consumed[t] then consumed[t] = {}; table.insert(types, t) end
    table.insert(consumed[t], op[3])
  end
end
for _, t in ipairs(types) do
  local ids = consumed[t]
  local items = redis.call('LRANGE', inbox_key(rid, t), 0, #ids - 1)
  if #items < #ids then return {0, 'conflict', 0, ''} end
  for k = 1, #ids do
    if cjson.decode(items[k]).id ~= ids[k] then return {0, 'conflict', 0, ''} end
  end
end

-- The run as the operations leave it. ``fields`` maps a metadata field to its new value (false
-- deletes it); it is written once, after the last operation.
local run = {
  status = m[3],
  jlen = tonumber(m[4]),
  pause = m[9] or '',
  cancel = m[10] or '',
  held = 0,
  fields = {updated = c.now},
  reply = nil,
}
-- A StartAttempt is held by a request pending when the commit began, whatever this one delivers.
local requested = run.pause == '1' or run.cancel == 'requested'

local function change_status(new)
  if run.status ~= new then
    index_status(rid, m[7], m[8], run.status, new)
    run.fields.status = new
    run.status = new
  end
end

local OPS = {}

-- ['append', [entry JSON, ...]]
function OPS.append(op)
  local entries = op[2]
  if #entries == 0 then return end
  redis.call('RPUSH', b .. ':journal', unpack(entries))
  run.jlen = run.jlen + #entries
  run.fields.jlen = tostring(run.jlen)
end

-- ['open', open entry JSON or false]
function OPS.open(op)
  run.fields.open = op[2]
end

-- ['start_attempt', open entry JSON]
function OPS.start_attempt(op)
  if requested then run.held = 1 else run.fields.open = op[2] end
end

-- ['consume', event type, event id]: the head, checked above
function OPS.consume(op)
  local key = inbox_key(rid, op[2])
  redis.call('LPOP', key)
  if redis.call('LLEN', key) == 0 then redis.call('SREM', b .. ':inboxes', op[2]) end
end

-- ['branch', key, dispatch record JSON or false]: a new record forgets the earlier attempts' reports
function OPS.branch(op)
  local key = op[2]
  redis.call('HDEL', b .. ':branches', key .. '|s', key .. '|hb', key .. '|started', key .. '|r')
  if op[3] == false then
    redis.call('HDEL', b .. ':branches', key)
  else
    redis.call('HSET', b .. ':branches', key, op[3])
  end
end

-- ['status', status]
function OPS.status(op)
  change_status(op[2])
end

-- ['deliver_cancel']
function OPS.deliver_cancel(_op)
  run.cancel = 'delivered'
  run.fields.cancel = run.cancel
end

-- ['new_generation', encoded args]: continue-as-new
function OPS.new_generation(op)
  redis.call('DEL', b .. ':journal')
  redis.call('HINCRBY', mk, 'generation', 1)
  run.jlen = 0
  run.fields.jlen = '0'
  run.fields.args = op[2]
  run.fields.open = false
end

-- ['park', signals, waiting JSON, status, timer or false]: only if no signal came since the snapshot
function OPS.park(op)
  if tonumber(m[5]) ~= op[2] then return end
  change_status(op[4])
  run.fields.waiting = op[3]
  run.fields.owner = ''
  run.fields.lease_until = '0'
  if op[5] then
    redis.call('ZADD', P .. ':timers', op[5], rid)
  else
    redis.call('ZREM', P .. ':timers', rid)
  end
  redis.call('ZREM', P .. ':ready', rid)
  run.reply = {1, '', 1, '', run.pause, run.cancel, run.held}
end

-- ['finish', status, output or false, error JSON or false, (retention, expire_at)]
function OPS.finish(op)
  change_status(op[2])
  local f = run.fields
  f.finished, f.owner, f.lease_until, f.waiting, f.open = c.now, '', '0', '[]', false
  if op[3] then f.output = op[3] end
  if op[4] then f.error = op[4] end
  end_run(rid, m[7], op[2], op[5], op[6])
  local woken = ''
  if m[6] and m[6] ~= '' and bump_signals(m[6], c.ready_score) then woken = m[6] end
  run.reply = {1, '', 0, woken}
end

for _, op in ipairs(c.ops) do OPS[op[1]](op) end

local set, unset = {}, {}
for field, value in pairs(run.fields) do
  if value == false then
    table.insert(unset, field)
  else
    table.insert(set, field)
    table.insert(set, value)
  end
end
redis.call('HSET', mk, unpack(set))
if #unset > 0 then redis.call('HDEL', mk, unpack(unset)) end
return run.reply or {1, '', 0, '', run.pause, run.cancel, run.held}
