-- commit(ARGV: prefix, run_id, epoch, position, now, ready_score, then the operations: each its
-- kind and its arguments, a fixed count per kind (append: a count, then that many entries), every
-- one a text, '' for an absent value; see RedisStore.commit and redis_wire.encode_operation)
-- -> {ok, reason, parked, woken parent or '', pause, cancel, held[, runs woken by released slots]},
-- or 1: applied, with nothing else to say (no pause or cancel pending, nothing held or parked)
-- See Commit in stores/base.py (stores/logic.py is the same rules in Python). First the guard
-- (lease epoch, journal position) and the operations' preconditions (consumed events are the
-- inbox heads), all before the first write (Lua does not roll back); then each operation by its
-- branch below, in order; then one HSET (and HDEL) of the run's metadata. This script runs at
-- every step boundary: the metadata is read once, only the fields its operations use (each field
-- an HMGET looks up and hands to Lua costs Redis a few thousand instructions), and the operations
-- are read where they are in ARGV (no JSON document to decode).
-- commit_step is this script without the parts marked rare (stores/redis_scripts.py, VARIANTS):
-- the commits of a step boundary (append, start_attempt, open, consume, deliver_cancel), which
-- then carry none of the library that parking, branches and the end use (Redis runs the whole
-- text of a script at every call: each library function is a new closure, and garbage, each time).
local rid, now, ready_score = ARGV[2], ARGV[5], ARGV[6]
local mk = meta_key(rid)
local b = base(rid)

-- Where each operation starts in ARGV (ops), every kind one this script knows with all its
-- arguments there (each kind's count in the chain below: constant tables would be built again at
-- every call); full: an operation uses the metadata past the guard's (signals, parent, workflow,
-- created, plain: a status change, a park, the end).
local ops, consumed, types = {}, {}, {}
local full = false
local at = 7
while at <= #ARGV do
  local kind = ARGV[at]
  local arity
  if kind == 'append' then arity = 1 + (tonumber(ARGV[at + 1]) or -1)
  elseif kind == 'start_attempt' then arity = 1
  elseif kind == 'open' then arity = 1
  elseif kind == 'consume' then arity = 2
  elseif kind == 'deliver_cancel' then arity = 0
  -- [rare: from here to the closing mark, the lines are not in commit_step (see the header)
  elseif kind == 'park' then arity = 4; full = true
  elseif kind == 'finish' then arity = 5; full = true
  elseif kind == 'branch' then arity = 2
  elseif kind == 'status' then arity = 1; full = true
  elseif kind == 'new_generation' then arity = 1
  -- rare]
  else return redis.error_reply('unknown commit operation ' .. tostring(kind)) end
  if arity < 0 or at + arity > #ARGV then
    return redis.error_reply('commit operation ' .. kind .. ' at argument ' .. at .. ' lacks arguments')
  end
  ops[#ops + 1] = at
  if kind == 'consume' then
    local t = ARGV[at + 1]
    if not consumed[t] then consumed[t] = {}; table.insert(types, t) end
    table.insert(consumed[t], ARGV[at + 2])
  end
  at = at + 1 + arity
end

-- The guard (lease epoch, journal position); then the consume operations' precondition: per event
-- type, their ids are the inbox's first, in order.
local m
if full then
  m = redis.call('HMGET', mk, 'epoch', 'owner', 'status', 'jlen', 'pause', 'cancel', 'signals', 'parent',
    'workflow', 'created', 'plain')
else
  m = redis.call('HMGET', mk, 'epoch', 'owner', 'status', 'jlen', 'pause', 'cancel')
end
if not m[3] then return {0, 'missing', 0, ''} end
if tonumber(m[1]) ~= tonumber(ARGV[3]) or m[2] == '' or is_finished(m[3]) then return {0, 'stale', 0, ''} end
if tonumber(m[4]) ~= tonumber(ARGV[4]) then return {0, 'conflict', 0, ''} end
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
local status, jlen, pause, cancel = m[3], tonumber(m[4]), m[5] or '', m[6] or ''
local held, reply, open = 0, nil, nil
local fields = {'updated', now}
local function set_field(field, value)
  fields[#fields + 1] = field
  fields[#fields + 1] = value
end
-- A StartAttempt is held by a request pending when the commit began, whatever this one delivers.
local requested = pause == '1' or cancel == 'requested'
-- [rare
-- no flow document, no branch record (see _flow.lua; read by the commits that end the run)
local plain = m[11] == '1'
local dropped = {}  -- step slots of branches this commit forgets (flow_drop_branch)

local function change_status(new)
  if status ~= new then
    index_status(rid, m[9], m[10], status, new)
    set_field('status', new)
    status = new
  end
end
-- rare]

-- One branch per operation kind (at: where its kind is in ARGV; encoded by redis_wire.encode_operation),
-- those of a step boundary first; stores/logic.py has the same rules, one function each.
for _, at in ipairs(ops) do
  local kind = ARGV[at]
  if kind == 'append' then
    -- append, count, entry JSON...
    local count = tonumber(ARGV[at + 1])
    if count > 0 then
      push_all(b .. ':journal', ARGV, at + 2, at + 1 + count)
      jlen = jlen + count
      set_field('jlen', tostring(jlen))
    end
  elseif kind == 'start_attempt' then
    -- start_attempt, open entry JSON
    if requested then held = 1 else open = ARGV[at + 1] end
  elseif kind == 'open' then
    -- open, open entry JSON or '' (deleted)
    open = ARGV[at + 1]
    if open == '' then open = false end
  elseif kind == 'consume' then
    -- consume, event type, event id: the head, checked above
    local key = inbox_key(rid, ARGV[at + 1])
    redis.call('LPOP', key)
    if redis.call('LLEN', key) == 0 then redis.call('SREM', b .. ':inboxes', ARGV[at + 1]) end
  elseif kind == 'deliver_cancel' then
    -- deliver_cancel
    cancel = 'delivered'
    set_field('cancel', cancel)
  -- [rare
  elseif kind == 'park' then
    -- park, signals, waiting JSON, status, timer or '': only if no signal came since the snapshot
    if tonumber(m[7]) == tonumber(ARGV[at + 1]) then
      change_status(ARGV[at + 3])
      set_field('waiting', ARGV[at + 2]); set_field('owner', ''); set_field('lease_until', '0')
      if ARGV[at + 4] ~= '' then
        redis.call('ZADD', P .. ':timers', ARGV[at + 4], rid)
      else
        redis.call('ZREM', P .. ':timers', rid)
      end
      redis.call('ZREM', P .. ':ready', rid)
      redis.call('ZREM', P .. ':leases', rid)
      reply = {1, '', 1, '', pause, cancel, held}
    end
  elseif kind == 'finish' then
    -- finish, status, output or '', error JSON or '', retention or '', expire_at or ''
    local final, output, error_json, retention = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
    change_status(final)
    set_field('finished', now); set_field('owner', ''); set_field('lease_until', '0'); set_field('waiting', '[]')
    -- emptied in the one HSET, not deleted by a second command: '' reads as no open entry
    open = ''
    if output ~= '' then set_field('output', output) end
    if error_json ~= '' then set_field('error', error_json) end
    if not plain then flow_drop_branches(rid, dropped) end
    end_run(rid, m[9], final, retention, ARGV[at + 5], jlen > 0, m[7] == '0', plain)
    local woken = ''
    if m[8] and m[8] ~= '' and bump_signals(m[8], ready_score) then woken = m[8]; flow_resumed(m[8], now) end
    local freed = {}
    flow_release_dropped(rid, dropped, ready_score, freed)
    dropped = {}
    if not plain then
      for _, run in ipairs(flow_released(rid, ready_score, retention)) do table.insert(freed, run) end
    end
    reply = {1, '', 0, woken, '', '', 0, freed}
  elseif kind == 'branch' then
    -- branch, key, dispatch record JSON or '' (deleted): a new record forgets the earlier attempts' reports
    local key = ARGV[at + 1]
    if ARGV[at + 2] == '' then flow_drop_branch(rid, key, dropped) end
    redis.call('HDEL', b .. ':branches', key .. '|s', key .. '|hb', key .. '|started', key .. '|r', key .. '|pk', key .. '|h')
    if ARGV[at + 2] == '' then
      redis.call('HDEL', b .. ':branches', key)
    else
      redis.call('HSET', b .. ':branches', key, ARGV[at + 2])
      plain = false
      set_field('plain', '0')
    end
  elseif kind == 'status' then
    -- status, status
    change_status(ARGV[at + 1])
  elseif kind == 'new_generation' then
    -- new_generation, encoded args: continue-as-new
    redis.call('DEL', b .. ':journal')
    redis.call('HINCRBY', mk, 'generation', 1)
    jlen = 0
    set_field('jlen', '0'); set_field('args', ARGV[at + 1])
    open = false
  -- rare]
  end
end

if open then set_field('open', open) end
redis.call('HSET', mk, unpack(fields))
if open == false then redis.call('HDEL', mk, 'open') end
-- [rare
if #dropped > 0 then
  reply = reply or {1, '', 0, '', pause, cancel, held}
  local freed = {}
  flow_release_dropped(rid, dropped, ready_score, freed)
  reply[8] = freed
end
-- rare]
if reply then return reply end
-- applied, nothing parked, woken, requested or held (most step boundaries): 1 alone, not a
-- table of seven (each element of a reply costs Redis about a thousand instructions)
if pause == '' and cancel == '' and held == 0 then return 1 end
return {1, '', 0, '', pause, cancel, held}
