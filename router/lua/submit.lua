-- File a routing request in the user's open session for the service (or open one).
-- ARGV: 3 request id, 4 new session id (used only if none is open), 5 channel, 6 service,
-- 7 user id, 8 customer json, 9 priority, 10 pbx, 11 call id, 12 callback number,
-- 13 force queue, 14 force agent
-- Returns {1, session id, joined(0/1)} or {0, 'exists', session id, state}.
local rid, ch, service, user = ARGV[3], ARGV[5], ARGV[6], ARGV[7]
local rk = key('request', rid)
if redis.call('EXISTS', rk) == 1 then
  local r = redis.call('HMGET', rk, 'session', 'state')
  return {0, 'exists', r[1], r[2]}
end
local open_key = key('session-open', user, service)
local sid = redis.call('GET', open_key)
local joined = 1
local returning = 1
if not sid then
  joined = 0
  sid = ARGV[4]
  if redis.call('ZCARD', key('user', user, 'sessions')) == 0 then returning = 0 end
  redis.call('HSET', key('session', sid), 'id', sid, 'user', user, 'service', service,
    'state', 'open', 'created', NOW, 'activity', NOW, 'owner', '')
  redis.call('SET', open_key, sid)
  redis.call('ZADD', key('user', user, 'sessions'), NOW, sid)
  emit('type', 'session.opened', 'session', sid, 'user', user, 'service', service)
end
local owner = redis.call('HGET', key('session', sid), 'owner') or ''
redis.call('HSET', rk, 'id', rid, 'channel', ch, 'service', service, 'user', user,
  'session', sid, 'created', NOW, 'state', 'queued', 'priority', ARGV[9], 'customer', ARGV[8],
  'pbx', ARGV[10], 'call_id', ARGV[11], 'callback', ARGV[12], 'owner', owner,
  'force_queue', ARGV[13], 'force_agent', ARGV[14], 'returning', returning,
  'queues', '[]', 'score', NOW, 'attempts', 0)
redis.call('SADD', key('session', sid, 'requests'), rid)
redis.call('HSET', key('session', sid), 'activity', NOW)
redis.call('ZADD', P .. 'sessions:activity', NOW, sid)
emit('type', 'request.created', 'request', rid, 'session', sid, 'channel', ch,
  'service', service, 'user', user, 'pbx', ARGV[10], 'call_id', ARGV[11])
transcript(sid, 'request', cjson.encode({request = rid, channel = ch, call_id = ARGV[11],
  callback = ARGV[12], pbx = ARGV[10]}))
work('request', rid)
return {1, sid, joined}
