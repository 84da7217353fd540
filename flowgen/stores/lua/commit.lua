-- commit(ARGV: prefix, run_id, change JSON)
-- -> {ok, reason, parked, woken parent or '', pause, cancel, held}
-- Validates the lease epoch, the journal position and the inbox heads to consume before any
-- write (Lua does not roll back), then applies the change; see Commit in stores/base.py. The
-- run's metadata is read once and written with one HSET: this script runs at every step boundary.
local rid = ARGV[2]
local c = cjson.decode(ARGV[3])
local mk = meta_key(rid)
local b = base(rid)
local m = redis.call('HMGET', mk, 'epoch', 'owner', 'status', 'jlen', 'signals', 'parent', 'workflow',
  'created', 'pause', 'cancel')
local status, workflow, created = m[3], m[7], m[8]
if not status then return {0, 'missing', 0, ''} end
if tonumber(m[1]) ~= c.epoch or m[2] == '' or is_finished(status) then return {0, 'stale', 0, ''} end
if tonumber(m[4]) ~= c.pos then return {0, 'conflict', 0, ''} end

local want, order = {}, {}
for _, pair in ipairs(c.consume or {}) do
  local t = pair[1]
  if not want[t] then want[t] = {}; table.insert(order, t) end
  table.insert(want[t], pair[2])
end
for _, t in ipairs(order) do
  local ids = want[t]
  local items = redis.call('LRANGE', inbox_key(rid, t), 0, #ids - 1)
  if #items < #ids then return {0, 'conflict', 0, ''} end
  for k = 1, #ids do
    if cjson.decode(items[k]).id ~= ids[k] then return {0, 'conflict', 0, ''} end
  end
end

-- every check passed: write
local fields = {'updated', c.now}
local unset = {}
local function change_status(new)
  if status ~= new then
    index_status(rid, workflow, created, status, new)
    put(fields, 'status', new)
    status = new
  end
end

local append = c.append or {}
local jlen = tonumber(m[4])
if #append > 0 then
  push_all(b .. ':journal', append)
  jlen = jlen + #append
  put(fields, 'jlen', tostring(jlen))
end
local pause, cancel = m[9] or '', m[10] or ''
local held = 0
if c.hold and (pause == '1' or cancel == 'requested') then held = 1 end
if held == 1 then
  -- a pause or cancellation is pending: the step attempt in this open entry does not start
elseif c.open == false then
  table.insert(unset, 'open')
elseif c.open ~= nil then
  put(fields, 'open', c.open)
end
for _, t in ipairs(order) do
  local key = inbox_key(rid, t)
  redis.call('LTRIM', key, #want[t], -1)
  if redis.call('LLEN', key) == 0 then redis.call('SREM', b .. ':inboxes', t) end
end
for key, value in pairs(c.branches or {}) do
  redis.call('HDEL', b .. ':branches', key .. '|s', key .. '|hb', key .. '|started', key .. '|r')
  if value == false then
    redis.call('HDEL', b .. ':branches', key)
  else
    redis.call('HSET', b .. ':branches', key, value)
  end
end
if c.status then change_status(c.status) end
if c.cancel_delivered then
  cancel = 'delivered'
  put(fields, 'cancel', cancel)
end
if c.continue_as_new then
  redis.call('DEL', b .. ':journal')
  put(fields, 'jlen', '0', 'args', c.continue_as_new)
  redis.call('HINCRBY', mk, 'generation', 1)
  table.insert(unset, 'open')
end

if c.finish then
  local f = c.finish
  change_status(f.status)
  put(fields, 'finished', c.now, 'owner', '', 'lease_until', '0', 'waiting', '[]')
  if f.output then put(fields, 'output', f.output) end
  if f.error then put(fields, 'error', f.error) end
  redis.call('HSET', mk, unpack(fields))
  redis.call('HDEL', mk, 'open')
  redis.call('ZREM', P .. ':timers', rid)
  redis.call('ZREM', P .. ':ready', rid)
  redis.call('ZREM', P .. ':leases', rid)
  local inboxes = redis.call('SMEMBERS', b .. ':inboxes')
  for _, t in ipairs(inboxes) do redis.call('DEL', inbox_key(rid, t)) end
  redis.call('DEL', b .. ':inboxes', b .. ':branches')
  redis.call('RPUSH', b .. ':done', '1')
  if c.retention and c.retention >= 0 then
    local ttl = math.max(1, math.floor(c.retention))
    redis.call('EXPIRE', mk, ttl)
    redis.call('EXPIRE', b .. ':done', ttl)
    if jlen > 0 then redis.call('EXPIRE', b .. ':journal', ttl) end
    -- seen and history exist only for runs that got events or were restarted
    redis.call('EXPIRE', b .. ':seen', ttl)
    redis.call('EXPIRE', b .. ':history', ttl)
    redis.call('ZADD', P .. ':expiring', c.expire_at, cjson.encode({rid, workflow, f.status}))
  end
  local woken = ''
  if m[6] and m[6] ~= '' and bump_signals(m[6], c.ready_score) then woken = m[6] end
  return {1, '', 0, woken}
end

if c.park and tonumber(m[5]) == c.park.signals then
  local p = c.park
  change_status(p.status)
  put(fields, 'waiting', p.waiting, 'owner', '', 'lease_until', '0')
  redis.call('HSET', mk, unpack(fields))
  if #unset > 0 then redis.call('HDEL', mk, unpack(unset)) end
  if p.timer then
    redis.call('ZADD', P .. ':timers', p.timer, rid)
  else
    redis.call('ZREM', P .. ':timers', rid)
  end
  redis.call('ZREM', P .. ':ready', rid)
  redis.call('ZREM', P .. ':leases', rid)
  return {1, '', 1, '', pause, cancel, held}
end
redis.call('HSET', mk, unpack(fields))
if #unset > 0 then redis.call('HDEL', mk, unpack(unset)) end
return {1, '', 0, '', pause, cancel, held}
