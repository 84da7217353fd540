-- Shared helpers, prepended to every flowgen script. The base of the shard the script works in
-- is <prefix>:{t:NN} on a cluster (stores/redis_shards.py), declared as KEYS[1] so the cluster
-- routes the call to its slot, and every key a script touches is built from it, so all are in
-- KEYS[1]'s hash slot; it is put in front of ARGV too. On a single Redis the base is the key
-- prefix, passed as ARGV[1] with no key declared: the bare prefix is not a key flowgen uses, and
-- declaring it would make Redis refuse every call of a user whose ACL allows only flowgen's
-- real keys (e.g. ~flowgen:*). Either way ARGV[1] is the base. Keys of one run share the hash
-- tag {<run id>} on a single Redis; on a cluster the shard's tag comes first and wins.
local P
if #KEYS > 0 then
  P = KEYS[1]
  table.insert(ARGV, 1, P)
else
  P = ARGV[1]
end

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
  -- nudge watchers (flowgen/observability/watch.py): nothing is kept without them. One PUBLISH,
  -- on the run's channel: a watcher of every run subscribes to the pattern P:watch:{*} (each call
  -- a script makes costs Redis about as much as a small command's work, and most go to nobody).
  -- pcall: a Redis user without channel permissions (ACL) still advances runs, unwatched.
  redis.pcall('PUBLISH', P .. ':watch:{' .. rid .. '}', new)
end

local function set_status(rid, new)
  local mk = meta_key(rid)
  local m = redis.call('HMGET', mk, 'status', 'workflow', 'created')
  if m[1] ~= new then
    index_status(rid, m[2], m[3], m[1], new)
    redis.call('HSET', mk, 'status', new)
  end
end

-- RPUSH items[from..to] (default: all) to key, in slices: Lua's unpack() fails beyond about 8,000
-- values ("too many results to unpack"), and one advance may journal more entries than that.
local PUSH_SLICE = 1000
local function push_all(key, items, from, to)
  from, to = from or 1, to or #items
  for first = from, to, PUSH_SLICE do
    redis.call('RPUSH', key, unpack(items, first, math.min(first + PUSH_SLICE - 1, to)))
  end
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

-- End a run's life (a finishing commit, a terminate): its timer, ready entry, inboxes and
-- branches go and result() waiters wake. With a retention (seconds), its keys expire and the
-- sweep drops it from the listing indexes once expire_at has passed. journaled: the journal is
-- known not to be empty (nil: look). unsignalled: the run's signals count is 0, so no event was
-- ever sent to it (send_event.lua counts each one): it has no inboxes and no seen set. plain:
-- no branch record was ever written (see _flow.lua), so there is no branches hash (every other
-- field of it is written only next to a record).
local function end_run(rid, workflow, status, retention, expire_at, journaled, unsignalled, plain)
  local b = base(rid)
  redis.call('ZREM', P .. ':timers', rid)
  redis.call('ZREM', P .. ':ready', rid)
  redis.call('ZREM', P .. ':leases', rid)
  if unsignalled then
    if not plain then redis.call('DEL', b .. ':branches') end
  elseif plain then
    for _, t in ipairs(redis.call('SMEMBERS', b .. ':inboxes')) do redis.call('DEL', inbox_key(rid, t)) end
    redis.call('DEL', b .. ':inboxes')
  else
    for _, t in ipairs(redis.call('SMEMBERS', b .. ':inboxes')) do redis.call('DEL', inbox_key(rid, t)) end
    redis.call('DEL', b .. ':inboxes', b .. ':branches')
  end
  redis.call('RPUSH', b .. ':done', '1')
  if retention and retention ~= '' and tonumber(retention) >= 0 then
    local ttl = math.max(1, math.floor(tonumber(retention)))
    -- only keys that exist (no events, no history, an empty journal): EXPIRE is a write even on
    -- a missing key, and a run whose journal write was refused must still be able to end. The
    -- metadata and done exist (this run's, just pushed); seen and history exist only for runs
    -- that got events or were reset, so one EXISTS of both is all most runs pay.
    redis.call('EXPIRE', b .. ':meta', ttl)
    redis.call('EXPIRE', b .. ':done', ttl)
    if journaled or redis.call('EXISTS', b .. ':journal') == 1 then redis.call('EXPIRE', b .. ':journal', ttl) end
    if unsignalled then
      -- history exists only for a run that was reset (reset.lua)
      if redis.call('EXISTS', b .. ':history') == 1 then redis.call('EXPIRE', b .. ':history', ttl) end
    elseif redis.call('EXISTS', b .. ':seen', b .. ':history') > 0 then
      for _, suffix in ipairs({':seen', ':history'}) do
        if redis.call('EXISTS', b .. suffix) == 1 then redis.call('EXPIRE', b .. suffix, ttl) end
      end
    end
    redis.call('ZADD', P .. ':expiring', expire_at, cjson.encode({rid, workflow, status}))
  end
end
