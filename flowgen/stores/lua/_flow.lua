-- Flow control (stores/flow_logic.py is the same rules in Python; read its docstring for the
-- sets). Prepended to every script after _lib.lua. A run's flow document is the string key
-- {<run id>}:flow; scored sets are <prefix>:fc:<name>. A run created without a document has the
-- field plain = '1' in its metadata (create.lua): deleted when a document first appears
-- (flow_put), set to '0' by the commit that writes its first branch record (commit.lua). The
-- scripts at every advance (acquire, a finishing commit) do not look for the document and the
-- branch records of a run marked so; a run without the mark (created before it) is looked at.
local FLOW_LEVEL = 1e10
-- flow_rates.RATE_MARGIN and RATE_LATENESS
local FLOW_RATE_MARGIN, FLOW_RATE_LATENESS = 1.02, 0.01

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
  -- the first document of the run (-2: there was no key): the run is no longer marked without one
  if ttl == -2 then redis.call('HDEL', meta_key(rid), 'plain') end
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

-- The run resumes (a timer, an event, a child's end, a branch's outcome): a prioritized run goes
-- back into the lane, ahead of new starts.
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
    local deadline = tonumber(flow.deadline)
    if deadline and tonumber(now) >= deadline then
      -- its deadline passed in line: it leaves the line and passes, only to be failed
      for _, g in ipairs(flow.gates) do redis.call('ZREM', fc('wait:' .. g[1]), rid) end
      flow['in'] = 2
      flow_put(rid, flow)
      return true, flow
    end
    redis.call('ZREM', P .. ':ready', rid)
    if deadline then redis.call('ZADD', P .. ':timers', fnum(deadline), rid) end
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

-- Wake the first count waiters (flow_logic._wake): a run parked as status is made ready; a step
-- branch (<run id>#<key>) parked for a slot is made due (its |pk) and its run signalled. Waiters
-- whose run ended or whose branch is gone leave the line and do not count.
-- One waiter (flow_wake): false when it is gone, else true, and the run made ready or signalled
-- is added to woken. Touches only the waiter's run (flow_wake_one.lua calls it on a cluster).
local function flow_wake_member(member, ready_score, status, woken)
  local rid, key = member, nil
  local cut = string.find(member, '#', 1, true)
  if cut then rid, key = string.sub(member, 1, cut - 1), string.sub(member, cut + 1) end
  local m = redis.call('HMGET', meta_key(rid), 'status', 'owner')
  local bk = base(rid) .. ':branches'
  if not m[1] or is_finished(m[1]) or (key and redis.call('HEXISTS', bk, key) == 0) then return false end
  if key then
    if redis.call('HEXISTS', bk, key .. '|pk') == 1 then
      redis.call('HSET', bk, key .. '|pk', '0')
      if bump_signals(rid, ready_score) then table.insert(woken, rid) end
    end
  elseif m[1] == status and (not m[2] or m[2] == '') then
    redis.call('ZADD', P .. ':ready', ready_score, member)
    table.insert(woken, member)
  end
  return true
end

local function flow_wake(waiters, count, ready_score, status, woken)
  if count <= 0 then return end
  for _, member in ipairs(redis.call('ZRANGE', fc(waiters), 0, count + 9)) do
    if count <= 0 then break end
    if flow_wake_member(member, ready_score, status, woken) then
      count = count - 1
    else
      redis.call('ZREM', fc(waiters), member)
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

-- Take the slots and starts of gates for member (flow_logic.take_gates): nil when taken (all or
-- nothing), else when to try again and the first gate that refused ({kind, gate, max}).
local function flow_take(member, gates, now, held_until)
  local retry, refused = nil, nil
  for _, g in ipairs(gates) do
    local kind, name, count, period = g[1], g[2], tonumber(g[3]), tonumber(g[4])
    local at = nil
    if kind == 'block' then
      local untilt = zscore('rblock', name)
      if untilt and untilt > now then at = untilt end
    elseif kind == 'limit' then
      local holders = fc('shold:' .. name)
      redis.call('ZREMRANGEBYSCORE', holders, '-inf', fnum(now))
      if not redis.call('ZSCORE', holders, member) and redis.call('ZCARD', holders) >= count then
        local head = redis.call('ZRANGE', holders, 0, 0, 'WITHSCORES')
        at = tonumber(head[2]) or now
        if not redis.call('ZSCORE', fc('swait:' .. name), member) then
          redis.call('ZADD', fc('swait:' .. name), fnum(now), member)
        end
      end
    else
      -- the rate window and its waiters (flow_rates.wait), on a clock that only moves forward
      -- (flow_rates.window_now)
      local now = math.max(now, zscore('rnow', name) or now)
      local span = period * FLOW_RATE_MARGIN
      local window, waiters = fc('rate:' .. name), fc('rwait:' .. name)
      redis.call('ZREMRANGEBYSCORE', window, '-inf', fnum(now - span - period * FLOW_RATE_LATENESS))
      redis.call('ZREMRANGEBYSCORE', waiters, '-inf', fnum(now - 2 * span))
      local mine = redis.call('ZSCORE', waiters, member)
      if mine then mine = tonumber(mine) end
      -- the waiters due before this attempt: all due ones for a newcomer or a waiter woken too
      -- early, none for a waiter whose token time has come
      local due = 0
      if not (mine and mine <= now) then due = redis.call('ZCOUNT', waiters, '-inf', fnum(now)) end
      local old = redis.call('ZCOUNT', window, '-inf', fnum(now - span))  -- kept for the record below
      local kept = redis.call('ZCARD', window)
      local used = kept - old
      local spaced = kept < count
      if not spaced then
        -- the guarantee itself, checked on what the record below writes: the count-th latest
        -- recorded start is a whole span before now (used < count implies it)
        local nth = redis.call('ZRANGE', window, kept - count, kept - count, 'WITHSCORES')
        spaced = tonumber(nth[2]) + span <= now
      end
      if used + due >= count or not spaced then
        -- a newcomer is behind every waiter; a waiter that woke too early keeps its place in line
        local ahead
        if mine then ahead = redis.call('ZRANK', waiters, member) else ahead = redis.call('ZCARD', waiters) end
        -- count tokens per period: the free ones now, each used one period after its start
        local starts = redis.call('ZRANGE', window, old, old + count - 1, 'WITHSCORES')
        local free = count - #starts / 2
        local cycle, index = math.floor(ahead / count), ahead % count
        if index < free then at = now + span * cycle
        else at = tonumber(starts[2 * (index - free) + 2]) + span * (cycle + 1) end
        at = math.max(at, now + 0.001)
        redis.call('ZADD', waiters, fnum(at), member)
      end
    end
    if at then
      retry = math.max(retry or 0, at)
      if not refused and kind ~= 'block' then refused = {kind, name, count} end
    end
  end
  if retry then return math.max(retry, now), refused end
  for _, g in ipairs(gates) do
    local kind, name = g[1], g[2]
    if kind == 'limit' then
      redis.call('ZADD', fc('shold:' .. name), held_until, member)
      redis.call('ZREM', fc('swait:' .. name), member)
    elseif kind == 'rate' then
      -- where the start is recorded (flow_rates.start); one member per start
      local count, period = tonumber(g[3]), tonumber(g[4])
      local latest = zscore('rnow', name)
      local clock = math.max(now, latest or now)
      local start = clock
      local token = zscore('rwait:' .. name, member)
      local window = fc('rate:' .. name)
      if token then
        start = math.max(token, clock - period * FLOW_RATE_LATENESS)
        if latest then start = math.max(start, latest) end
        local kept = redis.call('ZCARD', window)
        if kept >= count then
          local nth = redis.call('ZRANGE', window, kept - count, kept - count, 'WITHSCORES')
          start = math.max(start, tonumber(nth[2]) + period * FLOW_RATE_MARGIN)
        end
        start = math.min(start, clock)
      end
      redis.call('ZADD', window, fnum(start), member .. '@' .. redis.call('INCR', fc('seq')))
      redis.call('ZADD', fc('rnow'), fnum(start), name)
      redis.call('ZREM', fc('rwait:' .. name), member)
    end
  end
  return nil, nil
end

-- Note in the run's flow (sw) the step gate slot waits for ('' the inline attempt, else a branch
-- key), or forget it (gate nil); writes the flow when it changed (flow_logic.note_parked).
local function flow_note_parked(rid, flow, slot, gate, write)
  local parked = flow.sw or {}
  if gate == nil then
    if parked[slot] == nil then return false end
    parked[slot] = nil
  else
    parked[slot] = gate
  end
  if next(parked) == nil then flow.sw = nil else flow.sw = parked end
  if write then flow_put(rid, flow) end
  return true
end

-- The run forgets the branch key (flow_branches.drop_branch): it leaves its gates' lines now; the
-- step slots its attempt holds go into dropped, given back by flow_release_dropped once every
-- branch the commit forgets has left its lines (so a slot goes to a waiter still there).
local function flow_drop_branch(rid, key, dropped)
  local bk = base(rid) .. ':branches'
  local record = redis.call('HGET', bk, key)
  if not record or not string.find(record, '"g":', 1, true) then return end
  local decoded = cjson.decode(record)
  if not decoded.g then return end
  local member = rid .. '#' .. key
  for _, g in ipairs(decoded.g) do
    if g[1] == 'limit' then redis.call('ZREM', fc('swait:' .. g[2]), member)
    elseif g[1] == 'rate' then redis.call('ZREM', fc('rwait:' .. g[2]), member) end
  end
  local held = redis.call('HGET', bk, key .. '|h')
  if held and redis.call('HEXISTS', bk, key .. '|r') == 0 then table.insert(dropped, {key, cjson.decode(held)}) end
end

-- Every branch of a run that ends (before its branches are deleted).
local function flow_drop_branches(rid, dropped)
  for _, field in ipairs(redis.call('HKEYS', base(rid) .. ':branches')) do
    if not string.find(field, '|', 1, true) then flow_drop_branch(rid, field, dropped) end
  end
end

-- Give back the step slots of the forgotten branches; the runs woken go into woken.
local function flow_release_dropped(rid, dropped, ready_score, woken)
  for _, d in ipairs(dropped) do
    for _, name in ipairs(d[2]) do
      redis.call('ZREM', fc('shold:' .. name), rid .. '#' .. d[1])
      flow_wake('swait:' .. name, 1, ready_score, 'waiting', woken)
    end
  end
end
