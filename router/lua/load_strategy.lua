-- Install a new strategy version; the workers re-apply it to every waiting request.
-- KEYS: 1 strategy, 2 strategy_versions, 3 events, 4 agent_feed, 5 work
-- ARGV: 3 '1': only if no strategy was ever loaded (the built-in one at a worker's start),
-- 4 yaml text, 5.. setting field/value pairs the scripts read (reject_delay_ms...)
-- Returns the new version number (with ARGV[3] '1' and a strategy loaded: its version).
local sk = KEYS[1]
if ARGV[3] == '1' then
  local current = redis.call('HGET', sk, 'version')
  if current then return tonumber(current) end
end
local version = redis.call('HINCRBY', sk, 'version', 1)
redis.call('HSET', sk, 'yaml', ARGV[4], 'loaded_at', NOW, unpack(ARGV, 5))
redis.call('HSET', KEYS[2], version, ARGV[4])
emit('type', 'strategy.loaded', 'version', version)
feed('type', 'strategy.loaded', 'version', version)
work('reroute', tostring(version))
return version
