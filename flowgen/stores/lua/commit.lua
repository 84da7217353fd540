-- commit(ARGV: prefix, run_id, commit JSON {epoch, pos, now, ready_score, ops})
-- -> {ok, reason, parked, woken parent or '', pause, cancel, held[, runs woken by released slots]}
-- See Commit in stores/base.py (stores/logic.py is the same rules in Python). First the guard
-- (lease epoch, journal position) and the operations' preconditions (consumed events are the
-- inbox heads), all before the first write (Lua does not roll back); then each operation
-- ([kind, arguments...]) by its branch below, in order; then one HSET (and HDEL) of the run's
-- metadata. This script runs at every step boundary: the metadata is read once.
local rid = ARGV[2]
local c = cjson.decode(ARGV[3])
local mk = meta_key(rid)
local b = base(rid)
local m = redis.call('HMGET', mk, 'epoch', 'owner', 'status', 'jlen', 'signals', 'parent', 'workflow',
  'created', 'pause', 'cancel')
if not m[3] then return {0, 'missing', 0, ''} end
if tonumber(m[1]) ~= c.epoch or m[2] == '' or is_finished(m[3]) then return {0, 'stale', 0, ''} end
if tonumber(m[4]) ~= c.pos then return {0, 'conflict', 0, ''} end

-- Every operation is one this script knows, and the consume operations' precondition holds: per
-- event type, their ids are the inbox's first, in order.
local KINDS = ' append start_attempt open park finish consume branch status deliver_cancel new_generation '
local consumed, types = {}, {}
for _, op in ipairs(c.ops) do
  if op[1] == 'consume' then
    local t = op[2]
    if not consumed[t] then consumed[t] = {}; table.insert(types, t) end
    table.insert(consumed[t], op[3])
  elseif not string.find(KINDS, ' ' .. tostring(op[1]) .. ' ', 1, true) then
    return redis.error_reply('unknown commit operation ' .. tostring(op[1]))
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

-- The run as the operations leave it: plain locals (this script runs at every step boundary, and
-- a table or a closure per operation kind costs Redis CPU at each). ``fields`` collects
-- field/value pairs for one HSET after the last operation (a field set twice: the last wins);
-- the open entry, which an operation may set and a later one delete, is kept apart in ``open``
-- (nil: untouched, false: deleted).
local status, jlen, pause, cancel = m[3], tonumber(m[4]), m[9] or '', m[10] or ''
local held, reply, open = 0, nil, nil
local fields = {'updated', c.now}
local function set_field(field, value)
  fields[#fields + 1] = field
  fields[#fields + 1] = value
end
-- A StartAttempt is held by a request pending when the commit began, whatever this one delivers.
local requested = pause == '1' or cancel == 'requested'

local function change_status(new)
  if status ~= new then
    index_status(rid, m[7], m[8], status, new)
    set_field('status', new)
    status = new
  end
end

-- One branch per operation kind ([kind, arguments...], encoded by RedisStore._encode), the
-- most frequent first; stores/logic.py has the same rules, one function each.
for _, op in ipairs(c.ops) do
  local kind = op[1]
  if kind == 'append' then
    -- ['append', [entry JSON, ...]]
    local entries = op[2]
    if #entries > 0 then
      push_all(b .. ':journal', entries)
      jlen = jlen + #entries
      set_field('jlen', tostring(jlen))
    end
  elseif kind == 'start_attempt' then
    -- ['start_attempt', open entry JSON]
    if requested then held = 1 else open = op[2] end
  elseif kind == 'open' then
    -- ['open', open entry JSON or false]
    open = op[2]
  elseif kind == 'park' then
    -- ['park', signals, waiting JSON, status, timer or false]: only if no signal came since the snapshot
    if tonumber(m[5]) == op[2] then
      change_status(op[4])
      set_field('waiting', op[3]); set_field('owner', ''); set_field('lease_until', '0')
      if op[5] then
        redis.call('ZADD', P .. ':timers', op[5], rid)
      else
        redis.call('ZREM', P .. ':timers', rid)
      end
      redis.call('ZREM', P .. ':ready', rid)
      redis.call('ZREM', P .. ':leases', rid)
      reply = {1, '', 1, '', pause, cancel, held}
    end
  elseif kind == 'finish' then
    -- ['finish', status, output or false, error JSON or false, (retention, expire_at)]
    change_status(op[2])
    set_field('finished', c.now); set_field('owner', ''); set_field('lease_until', '0'); set_field('waiting', '[]')
    open = false
    if op[3] then set_field('output', op[3]) end
    if op[4] then set_field('error', op[4]) end
    end_run(rid, m[7], op[2], op[5], op[6], jlen > 0)
    local woken = ''
    if m[6] and m[6] ~= '' and bump_signals(m[6], c.ready_score) then woken = m[6]; flow_resumed(m[6], c.now) end
    reply = {1, '', 0, woken, '', '', 0, flow_released(rid, c.ready_score, op[5])}
  elseif kind == 'consume' then
    -- ['consume', event type, event id]: the head, checked above
    local key = inbox_key(rid, op[2])
    redis.call('LPOP', key)
    if redis.call('LLEN', key) == 0 then redis.call('SREM', b .. ':inboxes', op[2]) end
  elseif kind == 'branch' then
    -- ['branch', key, dispatch record JSON or false]: a new record forgets the earlier attempts' reports
    local key = op[2]
    redis.call('HDEL', b .. ':branches', key .. '|s', key .. '|hb', key .. '|started', key .. '|r', key .. '|pk', key .. '|h')
    if op[3] == false then
      redis.call('HDEL', b .. ':branches', key)
    else
      redis.call('HSET', b .. ':branches', key, op[3])
    end
  elseif kind == 'status' then
    -- ['status', status]
    change_status(op[2])
  elseif kind == 'deliver_cancel' then
    -- ['deliver_cancel']
    cancel = 'delivered'
    set_field('cancel', cancel)
  elseif kind == 'new_generation' then
    -- ['new_generation', encoded args]: continue-as-new
    redis.call('DEL', b .. ':journal')
    redis.call('HINCRBY', mk, 'generation', 1)
    jlen = 0
    set_field('jlen', '0'); set_field('args', op[2])
    open = false
  end
end

if open then set_field('open', open) end
redis.call('HSET', mk, unpack(fields))
if open == false then redis.call('HDEL', mk, 'open') end
return reply or {1, '', 0, '', pause, cancel, held}
