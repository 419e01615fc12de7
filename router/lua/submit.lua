-- File a routing request in the user's open session for the service (or open one).
-- KEYS: 1 request(ARGV[3]), 2 session_open(ARGV[7], ARGV[6]), 3 user_sessions(ARGV[7]),
-- 4 session(ARGV[4]), 5 session_requests(ARGV[4]), 6 transcript(ARGV[4]),
-- 7 sessions_activity, 8 events, 9 work
-- (KEYS[4..6] are the new session's: used only when the user has none open for the service)
-- ARGV: 3 request id, 4 new session id (used only if none is open), 5 channel, 6 service,
-- 7 user id, 8 customer json, 9 priority, 10 pbx, 11 call id, 12 callback number,
-- 13 force queue, 14 force agent, 15 max wait s (0 none)
-- Returns {1, session id, joined(0/1)} or {0, 'exists', session id, state}.
local rid, ch, service, user = ARGV[3], ARGV[5], ARGV[6], ARGV[7]
local rk, open_key, user_sessions = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', rk) == 1 then
  local r = redis.call('HMGET', rk, 'session', 'state')
  return {0, 'exists', r[1], r[2]}
end
local sid = redis.call('GET', open_key)
local joined = 1
local returning = '1'
if not sid then
  joined = 0
  sid = ARGV[4]
  if redis.call('ZCARD', user_sessions) == 0 then returning = '0' end
  redis.call('HSET', KEYS[4], 'id', sid, 'user', user, 'service', service,
    'state', 'open', 'created', NOW_S, 'activity', NOW_S, 'owner', '')
  redis.call('SET', open_key, sid)
  redis.call('ZADD', user_sessions, NOW_S, sid)
  emit('type', 'session.opened', 'session', sid, 'user', user, 'service', service)
end
local sk = K.session(sid)
local owner = ''  -- a session opened just now has no owner yet
if joined == 1 then owner = redis.call('HGET', sk, 'owner') or '' end
-- The work item carries what a decision reads of the request (the worker needs no read);
-- a move or transfer before a worker took it deletes it (work_id) and files its own.
local fields = {'channel', ch, 'service', service, 'user', user, 'session', sid,
  'created', NOW_S, 'priority', ARGV[9], 'customer', ARGV[8], 'pbx', ARGV[10],
  'call_id', ARGV[11], 'callback', ARGV[12], 'owner', owner, 'force_queue', ARGV[13],
  'force_agent', ARGV[14], 'max_wait', ARGV[15] or '0', 'returning', returning}
local wid = work('request', rid, unpack(fields))
redis.call('HSET', rk, 'id', rid, 'state', 'queued', 'queues', '[]', 'score', NOW_S,
  'attempts', '0', 'work_id', wid, unpack(fields))
redis.call('SADD', K.session_requests(sid), rid)
-- a session opened just now has its activity already
if joined == 1 then redis.call('HSET', sk, 'activity', NOW_S) end
redis.call('ZADD', KEYS[7], NOW_S, sid)
emit('type', 'request.created', 'request', rid, 'session', sid, 'channel', ch,
  'service', service, 'user', user, 'pbx', ARGV[10], 'call_id', ARGV[11])
transcript(sid, 'request', cjson.encode({request = rid, channel = ch, call_id = ARGV[11],
  callback = ARGV[12], pbx = ARGV[10]}))
return {1, sid, joined}
