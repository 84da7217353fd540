-- Flow control (stores/flow_logic.py is the same rules in Python; read its docstring for the
-- sets). Prepended to every script after _lib.lua. A run's flow document is the string key
-- {<run id>}:flow; scored sets are <prefix>:fc:<name>.
local FLOW_LEVEL = 1e10

local function fnum(x) return string.format('%.17g', x) end
local function fc(name) return P .. ':fc:' .. name end
local function flow_key(rid) return base(rid) .. ':flow' end

local function flow_get(rid)
  local text = redis.call('GET', flow_key(rid))
  if not text then return nil end
  return cjson.decode(text)
end

local function flow_put(rid, flow)
  local ttl = redis.call('PTTL', flow_key(rid))
  redis.call('SET', flow_key(rid), cjson.encode(flow))
  if ttl and ttl > 0 then redis.call('PEXPIRE', flow_key(rid), ttl) end
end

local function zscore(name, member)
  local s = redis.call('ZSCORE', fc(name), member)
  if s then return tonumber(s) end
  return nil
end

-- flow_logic.PRIORITY_SECONDS and RESUME_AHEAD
local LANE_PRIORITY_SECONDS, LANE_RESUME_AHEAD = 60, 30

local function flow_created(rid, text, now)
  if not text or text == '' then return end
  redis.call('SET', flow_key(rid), text)
  local flow = cjson.decode(text)
  if flow.start_at then
    redis.call('ZREM', P .. ':ready', rid)
    redis.call('ZADD', P .. ':timers', fnum(flow.start_at), rid)
  elseif flow.pri then
    redis.call('ZADD', fc('lane'), fnum(tonumber(now) - LANE_PRIORITY_SECONDS * flow.pri), rid)
  end
end

-- A timer of the run fell due: a prioritized run goes back into the lane, ahead of new starts.
local function flow_resumed(rid, now)
  local text = redis.call('GET', flow_key(rid))
  if not text then return end
  local flow = cjson.decode(text)
  if flow.pri then
    redis.call('ZADD', fc('lane'), fnum(tonumber(now) - LANE_PRIORITY_SECONDS * flow.pri - LANE_RESUME_AHEAD), rid)
  end
end

local function wait_score(gate, fairness, created)
  if fairness == '' then return created end
  local served = zscore('round', gate) or 0
  local last = zscore('level:' .. gate, fairness)
  local level = served
  if last then level = math.max(last + 1, served) end
  redis.call('ZADD', fc('level:' .. gate), fnum(level), fairness)
  return level * FLOW_LEVEL + created
end

-- Take the run's slots (acquire): returns admitted (bool) and the flow document (or nil).
local function flow_admit(rid, created, cancel, now)
  local flow = flow_get(rid)
  if flow and flow.pri then redis.call('ZREM', fc('lane'), rid) end
  if not flow or not flow.gates or flow['in'] then return true, flow end
  if cancel and cancel ~= '' then
    flow['in'] = 2
    flow_put(rid, flow)
    return true, flow
  end
  local free = true
  for _, g in ipairs(flow.gates) do
    local gate, maximum, fairness = g[1], tonumber(g[2]), g[3]
    local waiters = fc('wait:' .. gate)
    if not redis.call('ZSCORE', waiters, rid) then
      redis.call('ZADD', waiters, fnum(wait_score(gate, fairness, created)), rid)
    end
    local room = maximum - redis.call('ZCARD', fc('hold:' .. gate))
    if room <= 0 then
      free = false
    else
      local rank = redis.call('ZRANK', waiters, rid)
      if rank >= room then free = false end
    end
  end
  if not free then
    redis.call('ZREM', P .. ':ready', rid)
    return false, flow
  end
  for _, g in ipairs(flow.gates) do
    local gate, fairness = g[1], g[3]
    local score = zscore('wait:' .. gate, rid) or 0
    redis.call('ZREM', fc('wait:' .. gate), rid)
    redis.call('ZADD', fc('hold:' .. gate), fnum(now), rid)
    if fairness ~= '' then
      local round = math.max(zscore('round', gate) or 0, math.floor(score / FLOW_LEVEL))
      redis.call('ZADD', fc('round'), fnum(round), gate)
    end
  end
  flow['in'] = 1
  flow_put(rid, flow)
  return true, flow
end

-- Make the first count waiters parked as status ready (they keep their place in line).
local function flow_wake(waiters, count, ready_score, status, woken)
  if count <= 0 then return end
  for _, member in ipairs(redis.call('ZRANGE', fc(waiters), 0, count - 1)) do
    local m = redis.call('HMGET', meta_key(member), 'status', 'owner')
    if not m[1] or is_finished(m[1]) then
      redis.call('ZREM', fc(waiters), member)
    elseif m[1] == status and (not m[2] or m[2] == '') then
      redis.call('ZADD', P .. ':ready', ready_score, member)
      table.insert(woken, member)
    end
  end
end

-- The run ended: give back its slots; returns the runs woken to take them.
local function flow_released(rid, ready_score, retention)
  local woken = {}
  local flow = flow_get(rid)
  if not flow then return woken end
  for _, name in ipairs(flow.holds or {}) do
    redis.call('ZREM', fc('shold:' .. name), rid)
    flow_wake('swait:' .. name, 1, ready_score, 'waiting', woken)
  end
  flow.holds = nil
  for _, g in ipairs(flow.gates or {}) do
    local gate, maximum = g[1], tonumber(g[2])
    redis.call('ZREM', fc('hold:' .. gate), rid)
    redis.call('ZREM', fc('wait:' .. gate), rid)
    flow_wake('wait:' .. gate, maximum - redis.call('ZCARD', fc('hold:' .. gate)), ready_score, 'queued', woken)
  end
  flow['in'] = nil
  flow_put(rid, flow)
  if retention and retention ~= '' and tonumber(retention) >= 0 then
    redis.call('EXPIRE', flow_key(rid), math.max(1, math.floor(tonumber(retention))))
  end
  return woken
end

local function flow_renew(rid, lease_until)
  local flow = flow_get(rid)
  if not flow or not flow.holds then return end
  for _, name in ipairs(flow.holds) do
    if redis.call('ZSCORE', fc('shold:' .. name), rid) then
      redis.call('ZADD', fc('shold:' .. name), lease_until, rid)
    end
  end
end
