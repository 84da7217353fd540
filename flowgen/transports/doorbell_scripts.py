"""The Lua scripts of the doorbell broker (:mod:`.doorbell`): reads and batched writes on
Dramatiq's Redis queue layout (a list of message ids per queue, their data in a hash, each
worker's fetched ids in an acks set; see Dramatiq's ``dispatch.lua``)."""

from __future__ import annotations

# The message at the head of a queue (the next one a worker fetches), read atomically: the
# queue is a list of message ids, their data a hash (see Dramatiq's dispatch.lua).
HEAD_MESSAGE = """
local id = redis.call('LINDEX', KEYS[1], 0)
if not id then return false end
return redis.call('HGET', KEYS[1] .. '.msgs', id)
"""

# Dramatiq's "ack" (see its dispatch.lua) for many messages in one call: forget each message
# this worker fetched, unless it is no longer in the worker's acks set (then it was requeued).
# Returns how many it forgot.
ACK_MANY = """
local acked = 0
for _, id in ipairs(ARGV) do
  if redis.call('SREM', KEYS[1], id) > 0 then
    redis.call('HDEL', KEYS[2], id)
    acked = acked + 1
  end
end
return acked
"""

# A consumer's presence on its queue: record this broker id as fetching now, forget the ones
# that have not fetched for the heartbeat timeout (their worker is dead).
PRESENCE = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
return 1
"""


# The messages dead workers had fetched and not acked, back at the head of their queues (see
# DoorbellRedisBroker.requeue_dead): KEYS[1] the heartbeats, ARGV namespace, the window of
# heartbeats that count as dead (since, until, ms) and the queue names to look at.
REQUEUE_DEAD = """
local moved = {}
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[3])) do
  for i = 4, #ARGV do
    local queue = ARGV[1] .. ':' .. ARGV[i]
    local acks = ARGV[1] .. ':__acks__.' .. worker .. '.' .. ARGV[i]
    local ids = redis.call('SMEMBERS', acks)
    for _, id in ipairs(ids) do
      if redis.call('HEXISTS', queue .. '.msgs', id) == 1 then
        redis.call('LPUSH', queue, id)
        moved[ARGV[i]] = (moved[ARGV[i]] or 0) + 1
      end
    end
    if #ids > 0 then redis.call('DEL', acks) end
  end
end
local out = {}
for name, count in pairs(moved) do
  table.insert(out, name)
  table.insert(out, count)
end
return out
"""

# Messages this worker fetched but will not start, back at the head of their queue in their
# order: KEYS[1] the worker's acks set, KEYS[2] the queue; ARGV the message ids.
RETURN_MESSAGES = """
local returned = 0
for i = #ARGV, 1, -1 do
  if redis.call('SREM', KEYS[1], ARGV[i]) > 0 then
    redis.call('LPUSH', KEYS[2], ARGV[i])
    returned = returned + 1
  end
end
return returned
"""


# Ring a queue's doorbell: make the wake-up list (KEYS[2]) hold at least one token per message
# waiting in the queue (KEYS[1]). Each idle consumer blocks on the list with BLPOP, and Redis
# hands one token to one blocked consumer: one message wakes one consumer, not every process's.
# Keeping tokens >= messages means a consumer that starts waiting while messages wait finds a
# token at once. The tokens are capped at MAX_TOKENS (ARGV[1]), more than the consumers that can
# wait at once (each takes one and fetches), so a ring after a large requeue stays short.
# Returns how many tokens it added. (lua/create.lua rings the same way.)
RING = """
local waiting = math.min(redis.call('LLEN', KEYS[1]), tonumber(ARGV[1]))
local tokens = redis.call('LLEN', KEYS[2])
for _ = tokens + 1, waiting do redis.call('LPUSH', KEYS[2], '1') end
return math.max(waiting - tokens, 0)
"""

MAX_TOKENS = 1000
"""Most wake-up tokens a doorbell holds (see :data:`RING`)."""

# After a fetch: once the queue (KEYS[1]) is empty, every message enqueued so far has been
# fetched, so the tokens left in the wake-up list (KEYS[2]) are stale: forget them (else each
# would wake a consumer for an empty fetch). A message enqueued later rings anew.
SETTLE = """
if redis.call('LLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[2]) end
return 0
"""
