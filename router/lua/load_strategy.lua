-- Install a new strategy version; the workers re-apply it to every waiting request.
-- KEYS: 1 strategy, 2 strategy_versions, 3 events, 4 agent_feed, 5 work
-- ARGV: 3 yaml text, 4.. setting field/value pairs the scripts read (reject_delay_ms...)
-- Returns the new version number.
local sk = KEYS[1]
local version = redis.call('HINCRBY', sk, 'version', 1)
redis.call('HSET', sk, 'yaml', ARGV[3], 'loaded_at', NOW, unpack(ARGV, 4))
redis.call('HSET', KEYS[2], version, ARGV[3])
emit('type', 'strategy.loaded', 'version', version)
feed('type', 'strategy.loaded', 'version', version)
work('reroute', tostring(version))
return version
