-- renew_branches(ARGV: prefix, heartbeat_until, then triples run_id, key, attempt): the heartbeat
-- and the step slots the attempt holds (|h) move to heartbeat_until
for i = 3, #ARGV, 3 do
  local bk = base(ARGV[i]) .. ':branches'
  local key = ARGV[i + 1]
  if redis.call('HGET', bk, key .. '|s') == ARGV[i + 2] and redis.call('HEXISTS', bk, key .. '|r') == 0 then
    redis.call('HSET', bk, key .. '|hb', ARGV[2])
    local held = redis.call('HGET', bk, key .. '|h')
    if held then
      local member = ARGV[i] .. '#' .. key
      for _, name in ipairs(cjson.decode(held)) do
        redis.call('ZADD', fc('shold:' .. name), 'XX', ARGV[2], member)
      end
    end
  end
end
return 1
