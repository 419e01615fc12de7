-- Create or update an agent's profile; live state (status, load, leases) is kept.
-- KEYS: 1 agent(ARGV[3]), 2 agents, 3 agent_feed, 4 work
-- ARGV: 3 agent id, 4.. profile field/value pairs (name, skills, cap:*, blocks:*, pbx,
-- endpoint, weight)
-- Returns {1, created(0/1)}.
local aid = ARGV[3]
local ak = KEYS[1]
local created = redis.call('EXISTS', ak) == 0
for _, f in ipairs(redis.call('HKEYS', ak)) do
  if string.sub(f, 1, 4) == 'cap:' or string.sub(f, 1, 7) == 'blocks:' then
    redis.call('HDEL', ak, f)
  end
end
redis.call('HSET', ak, 'id', aid, unpack(ARGV, 4))
if created then
  redis.call('HSET', ak, 'status', 'offline', 'reason', '', 'busy', 0, 'idle_since', NOW)
end
redis.call('SADD', KEYS[2], aid)
redis.call('HINCRBY', ak, 'v', 1)
emit_profile(aid)
work('agent', aid)
return {1, created and 1 or 0}
