-- A supervisor forces an agent's status: away (with a reason) or offline (logged out).
-- Unlike the agent's own change, offers still ringing are taken back at once (their
-- requests wait again in their queues), and the agent.status event says who (`by`).
-- KEYS: 1 agent(ARGV[3]), 2 agent_offers(ARGV[3]), 3 timers, 4 strategy, 5 events,
-- 6 agent_feed, 7 work
-- ARGV: 3 agent id, 4 status (away | offline), 5 reason, 6 by (the supervisor's login)
-- Returns {1, previous status} or {0, reason}.
local aid, st = ARGV[3], ARGV[4]
if st ~= 'away' and st ~= 'offline' then
  return {0, 'a supervisor sets an agent away or offline, not ' .. st}
end
local a = redis.call('HMGET', KEYS[1], 'id', 'status')
if not a[1] then return {0, 'unknown agent'} end
for _, oid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  end_offer(oid, 'rescinded', 'agent set ' .. st .. ' by a supervisor', 0, true)
end
set_status(aid, st, ARGV[5], ARGV[6])
return {1, a[2] or 'offline'}
