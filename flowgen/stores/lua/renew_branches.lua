-- renew_branches(ARGV: prefix, heartbeat_until, then triples run_id, key, attempt)
for i = 3, #ARGV, 3 do
  local bk = base(ARGV[i]) .. ':branches'
  local key = ARGV[i + 1]
  if redis.call('HGET', bk, key .. '|s') == ARGV[i + 2] and redis.call('HEXISTS', bk, key .. '|r') == 0 then
    redis.call('HSET', bk, key .. '|hb', ARGV[2])
  end
end
return 1
