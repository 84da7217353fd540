-- create(ARGV: prefix, now, ready_score, then per run: run_id, workflow, args, fingerprint, parent,
-- flow JSON or '' (see _flow.lua))
-- Returns per run: 1 when created, else the existing run's HGETALL.
local now = ARGV[2]
local ready_score = ARGV[3]
local out = {}
local i = 4
while i <= #ARGV do
  local rid, workflow, args, fp, parent = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local flow = ARGV[i + 5]
  i = i + 6
  local mk = meta_key(rid)
  if redis.call('EXISTS', mk) == 1 then
    table.insert(out, redis.call('HGETALL', mk))
  else
    redis.call('HSET', mk, 'run_id', rid, 'workflow', workflow, 'status', 'queued', 'created', now,
      'updated', now, 'args', args, 'fingerprint', fp, 'generation', '0', 'epoch', '0', 'owner', '',
      'lease_until', '0', 'signals', '0', 'waiting', '[]', 'jlen', '0', 'pause', '', 'cancel', '',
      -- '1': no flow document, no branch record: acquire and the end need not look (see _flow.lua)
      'plain', flow == '' and '1' or '0')
    if parent ~= '' then
      redis.call('HSET', mk, 'parent', parent)
      redis.call('SADD', base(parent) .. ':children', rid)
    end
    redis.call('ZADD', P .. ':runs', now, rid)
    redis.call('ZADD', P .. ':wf:' .. workflow, now, rid)
    index_status(rid, workflow, now, nil, 'queued')
    redis.call('ZADD', P .. ':ready', ready_score, rid)
    flow_created(rid, flow, now)
    table.insert(out, 1)
  end
end
return out
