-- Remove an agent that has no offer or contact in progress.
-- KEYS: 1 agent(ARGV[3]), 2 agent_offers(ARGV[3]), 3 agent_contacts(ARGV[3]), 4 agents,
-- 5 leases('desktop'), 6 leases('sip'), 7 events, 8 agent_feed
-- ARGV: 3 agent id
-- Returns {1} or {0, reason}.
local aid = ARGV[3]
local ak = KEYS[1]
if redis.call('EXISTS', ak) == 0 then return {0, 'unknown agent'} end
if num(redis.call('HGET', ak, 'busy')) > 0 then
  return {0, 'the agent has offers or contacts in progress: set them offline and retry later'}
end
redis.call('DEL', ak, KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], aid)
redis.call('ZREM', KEYS[5], aid)
redis.call('ZREM', KEYS[6], aid)
emit('type', 'agent.removed', 'agent', aid)
feed('type', 'agent.removed', 'agent', aid)
return {1}
