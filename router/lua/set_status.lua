-- An agent chooses a status (available / away with a reason / offline).
-- ARGV: 3 agent id, 4 status, 5 reason
-- Returns {1} or {0, reason}.
local aid = ARGV[3]
local ak = key('agent', aid)
local a = redis.call('HMGET', ak, 'id', 'lease:desktop')
if not a[1] then return {0, 'unknown agent'} end
if ARGV[4] == 'available' and num(a[2]) <= NOW then
  return {0, 'the agent desktop is not connected: log in on the desktop first'}
end
set_status(aid, ARGV[4], ARGV[5])
return {1}
