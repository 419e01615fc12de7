-- An agent chooses a status (available / away with a reason / offline).
-- KEYS: 1 agent(ARGV[3]), 2 agent_offers(ARGV[3]), 3 timers, 4 strategy, 5 events,
-- 6 agent_feed, 7 work
-- ARGV: 3 agent id, 4 status, 5 reason
-- Returns {1} or {0, reason}.
local aid = ARGV[3]
local a = redis.call('HMGET', KEYS[1], 'id', 'lease:desktop')
if not a[1] then return {0, 'unknown agent'} end
if ARGV[4] == 'available' and num(a[2]) <= NOW then
  return {0, 'the agent desktop is not connected: log in on the desktop first'}
end
set_status(aid, ARGV[4], ARGV[5])
return {1}
