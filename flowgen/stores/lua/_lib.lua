-- Shared helpers, prepended to every flowgen script. ARGV[1] is always the key prefix.
-- Keys of one run share the hash tag {<run id>}; global indexes are plain keys under the prefix.
local P = ARGV[1]

local function base(rid) return P .. ':{' .. rid .. '}' end
local function meta_key(rid) return base(rid) .. ':meta' end
local function inbox_key(rid, event_type) return base(rid) .. ':inbox:' .. event_type end

local function is_finished(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end

-- Move a run between the status indexes (global and per workflow); scores are creation times.
local function index_status(rid, workflow, created, old, new)
  if old == new then return end
  if old and old ~= '' then
    redis.call('ZREM', P .. ':status:' .. old, rid)
    redis.call('ZREM', P .. ':wf:' .. workflow .. ':status:' .. old, rid)
  end
  redis.call('ZADD', P .. ':status:' .. new, created, rid)
  redis.call('ZADD', P .. ':wf:' .. workflow .. ':status:' .. new, created, rid)
end

local function set_status(rid, new)
  local mk = meta_key(rid)
  local m = redis.call('HMGET', mk, 'status', 'workflow', 'created')
  if m[1] ~= new then
    index_status(rid, m[2], m[3], m[1], new)
    redis.call('HSET', mk, 'status', new)
  end
end

-- RPUSH every element of items to key, in slices: Lua's unpack() fails beyond about 8,000
-- values ("too many results to unpack"), and one advance may journal more entries than that.
local PUSH_SLICE = 1000
local function push_all(key, items)
  for first = 1, #items, PUSH_SLICE do
    redis.call('RPUSH', key, unpack(items, first, math.min(first + PUSH_SLICE - 1, #items)))
  end
end

-- Append field/value pairs to a table that becomes one HSET.
local function put(fields, ...)
  for _, value in ipairs({...}) do table.insert(fields, value) end
end

-- Make a waiting run ready (it is woken by an event, a branch outcome or a child).
local function bump_signals(rid, ready_score)
  local mk = meta_key(rid)
  local status = redis.call('HGET', mk, 'status')
  if not status or is_finished(status) then return false end
  redis.call('HINCRBY', mk, 'signals', 1)
  if status == 'waiting' then
    redis.call('ZADD', P .. ':ready', ready_score, rid)
    return true
  end
  return false
end
