-- Renew a presence lease (desktop websocket, SIP registration/device state).
-- The new expiry is published only when it moved far enough (half a lease) or the device
-- state changed, so workers' views stay current without an event per heartbeat.
-- KEYS: 1 agent(ARGV[3]), 2 leases(ARGV[4]), 3 agent_feed, 4 work
-- ARGV: 3 agent id, 4 source, 5 ttl ms, 6 device state ('' for the desktop)
-- Returns {1, changed(0/1)} or {0, reason}.
local aid, src = ARGV[3], ARGV[4]
local ttl = tonumber(ARGV[5])
local ak = KEYS[1]
local cur = redis.call('HMGET', ak, 'id', 'lease:' .. src, 'leasepub:' .. src, 'dev:' .. src)
if not cur[1] then return {0, 'unknown agent'} end
local untl = NOW + ttl
redis.call('HSET', ak, 'lease:' .. src, untl)
redis.call('ZADD', KEYS[2], untl, aid)
local was_alive = num(cur[2]) > NOW
local changed = not was_alive
if ARGV[6] ~= '' and cur[4] ~= ARGV[6] then
  redis.call('HSET', ak, 'dev:' .. src, ARGV[6])
  changed = true
end
if changed or untl - num(cur[3]) > ttl / 2 then
  redis.call('HSET', ak, 'leasepub:' .. src, untl)
  redis.call('HINCRBY', ak, 'v', 1)
  emit_agent(aid)
end
if changed then work('agent', aid) end
return {1, changed and 1 or 0}
