-- Remove an agent that has no offer or contact in progress.
-- ARGV: 3 agent id
-- Returns {1} or {0, reason}.
local aid = ARGV[3]
local ak = key('agent', aid)
if redis.call('EXISTS', ak) == 0 then return {0, 'unknown agent'} end
if num(redis.call('HGET', ak, 'busy')) > 0 then
  return {0, 'the agent has offers or contacts in progress: set them offline and retry later'}
end
redis.call('DEL', ak, key('agent', aid, 'offers'), key('agent', aid, 'contacts'))
redis.call('SREM', P .. 'agents', aid)
redis.call('ZREM', key('leases', 'desktop'), aid)
redis.call('ZREM', key('leases', 'sip'), aid)
emit('type', 'agent.removed', 'agent', aid)
feed('type', 'agent.removed', 'agent', aid)
return {1}
