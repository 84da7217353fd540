-- create(ARGV: prefix, now, ready_score, namespace, then per run: run_id, workflow, args,
-- fingerprint, parent, flow JSON or '' (see _flow.lua), trace or '', and the run's first advance
-- message: queue name, message id, message data ('' '' '': none))
-- Returns per run: 1 when created, else the existing run's HGETALL.
--
-- The message is what the Dramatiq doorbell broker would enqueue (its dispatch.lua "enqueue":
-- the data in <namespace>:<queue>.msgs, the id pushed on <namespace>:<queue>), pushed only when
-- the run is created here: a start of an existing run id enqueues nothing. Each queue pushed to
-- rings its doorbell (the wake-up list <namespace>:doorbell:<queue>) once, after every message
-- is in it. So a
-- client's start is one round trip (transports/start_enqueue.py); on a cluster, where the queue
-- is in another slot than the run, no message is passed and the client enqueues it after.
local now = ARGV[2]
local ready_score = ARGV[3]
local namespace = ARGV[4]
local out = {}
local rung = {}
local rings = {}
local i = 5
while i <= #ARGV do
  local rid, workflow, args, fp, parent = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local flow, trace = ARGV[i + 5], ARGV[i + 6]
  local queue, message_id, message = ARGV[i + 7], ARGV[i + 8], ARGV[i + 9]
  i = i + 10
  local mk = meta_key(rid)
  if redis.call('EXISTS', mk) == 1 then
    table.insert(out, redis.call('HGETALL', mk))
  else
    redis.call('HSET', mk, 'run_id', rid, 'workflow', workflow, 'status', 'queued', 'created', now,
      'updated', now, 'args', args, 'fingerprint', fp, 'generation', '0', 'epoch', '0', 'owner', '',
      'lease_until', '0', 'signals', '0', 'waiting', '[]', 'jlen', '0', 'pause', '', 'cancel', '')
    if parent ~= '' then
      redis.call('HSET', mk, 'parent', parent)
      redis.call('SADD', base(parent) .. ':children', rid)
    end
    if trace ~= '' then redis.call('HSET', mk, 'trace', trace) end
    redis.call('ZADD', P .. ':runs', now, rid)
    redis.call('ZADD', P .. ':wf:' .. workflow, now, rid)
    index_status(rid, workflow, now, nil, 'queued')
    redis.call('ZADD', P .. ':ready', ready_score, rid)
    flow_created(rid, flow, now)
    if queue ~= '' then
      local queue_key = namespace .. ':' .. queue
      redis.call('HSET', queue_key .. '.msgs', message_id, message)
      redis.call('RPUSH', queue_key, message_id)
      if not rung[queue] then
        rung[queue] = true
        table.insert(rings, queue)
      end
    end
    table.insert(out, 1)
  end
end
-- The doorbell's ring (transports/doorbell_scripts.py RING): a wake-up token per waiting
-- message (at most 1000, MAX_TOKENS there); Redis hands a token to one idle consumer blocked
-- on the list.
for _, queue in ipairs(rings) do
  local waiting = math.min(redis.call('LLEN', namespace .. ':' .. queue), 1000)
  local bell = namespace .. ':doorbell:' .. queue
  for _ = redis.call('LLEN', bell) + 1, waiting do redis.call('LPUSH', bell, '1') end
end
return out
