-- reset(ARGV: prefix, run_id, mode, now, ready_score, truncate_to or '')
-- -> {'ok', HGETALL meta} | {'missing'} | {'not_failed', status}
-- Archives the journal in P:{rid}:history, then restarts (new generation, empty journal, no
-- buffered events) or retries (same generation, journal cut to truncate_to). The epoch bump
-- fences off any worker still advancing the run.
local rid, mode, now, ready_score = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local mk = meta_key(rid)
local b = base(rid)
local m = redis.call('HMGET', mk, 'status', 'generation', 'output', 'error', 'finished')
local status = m[1]
if not status then return {'missing'} end
if mode == 'retry' and status ~= 'failed' then return {'not_failed', status} end
local entries = redis.call('LRANGE', b .. ':journal', 0, -1)
-- Assembled from the stored texts, not re-encoded: cjson would write an empty journal as {} and
-- round times to 14 significant digits (the other stores keep them exactly).
local function text_or_null(value) if value then return cjson.encode(value) end return 'null' end
local document = '{"mode":' .. cjson.encode(mode) .. ',"generation":' .. (m[2] or '0')
  .. ',"status":' .. cjson.encode(status) .. ',"output":' .. text_or_null(m[3])
  .. ',"error":' .. (m[4] or 'null') .. ',"finished":' .. (m[5] or 'null')
  .. ',"archived":' .. now .. ',"entries":[' .. table.concat(entries, ',') .. ']}'
redis.call('RPUSH', b .. ':history', document)
local length = 0
if mode == 'restart' then
  redis.call('DEL', b .. ':journal')
  redis.call('HINCRBY', mk, 'generation', 1)
  for _, t in ipairs(redis.call('SMEMBERS', b .. ':inboxes')) do redis.call('DEL', inbox_key(rid, t)) end
  redis.call('DEL', b .. ':inboxes')
else
  length = math.max(0, math.min(#entries, tonumber(ARGV[6]) or #entries))
  if length == 0 then
    redis.call('DEL', b .. ':journal')
  else
    redis.call('LTRIM', b .. ':journal', 0, length - 1)
  end
end
redis.call('DEL', b .. ':branches', b .. ':done')
set_status(rid, 'queued')
redis.call('HDEL', mk, 'output', 'error', 'finished', 'open')
redis.call('HSET', mk, 'jlen', tostring(length), 'waiting', '[]', 'pause', '', 'cancel', '', 'owner', '',
  'lease_until', '0', 'updated', now)
-- the stored trace counts the retries of a generation (flowgen/observability/ids.py, RETRIES)
local trace = redis.call('HGET', mk, 'trace') or ''
local caller, retries = string.match(trace, '^(.-);r=(%d+)$')
if not caller then caller, retries = trace, '0' end
if mode == 'restart' then
  if caller == '' then redis.call('HDEL', mk, 'trace') else redis.call('HSET', mk, 'trace', caller) end
else
  redis.call('HSET', mk, 'trace', caller .. ';r=' .. tostring(tonumber(retries) + 1))
end
redis.call('HINCRBY', mk, 'epoch', 1)
redis.call('HINCRBY', mk, 'signals', 1)
redis.call('PERSIST', mk)
redis.call('PERSIST', b .. ':journal')
redis.call('PERSIST', b .. ':seen')
redis.call('PERSIST', b .. ':history')
redis.call('ZREM', P .. ':timers', rid)
redis.call('ZREM', P .. ':leases', rid)
redis.call('ZADD', P .. ':ready', ready_score, rid)
return {'ok', redis.call('HGETALL', mk)}
