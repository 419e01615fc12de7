-- An agent asks for an outbound VoIP call from a session: the agent's PBX rings the agent's
-- phone first, then dials the number. The request lands in the session's transcript.
-- KEYS: 1 agent(ARGV[5]), 2 session(ARGV[4]), 3 transcript(ARGV[4]), 4 sessions_activity,
-- 5 events
-- ARGV: 3 call id, 4 session id, 5 agent id, 6 number
-- Returns {1, command id} or {0, reason}: 'unknown agent', 'no pbx', 'unknown session'.
local call, sid, aid, number = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local a = redis.call('HMGET', KEYS[1], 'id', 'pbx', 'endpoint')
if not a[1] then return {0, 'unknown agent'} end
if not a[2] or a[2] == '' then return {0, 'no pbx'} end
local sk = KEYS[2]
local state = redis.call('HGET', sk, 'state')
if not state then return {0, 'unknown session'} end
local id = cmd_click_to_call(a[2], call, sid, aid, a[3] or '', number)
transcript(sid, 'call.requested', cjson.encode({call = call, agent = aid, number = number,
  direction = 'outbound', channel = 'voip'}))
redis.call('HSET', sk, 'activity', NOW)
if state == 'open' then redis.call('ZADD', KEYS[4], NOW, sid) end
return {1, id}
