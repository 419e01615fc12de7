-- Close a session: contacts in progress end (with wrap-up), waiting requests are dropped,
-- the session leaves the user's open slot and stays in their history.
-- KEYS: 1 session(ARGV[3]), 2 session_requests(ARGV[3]), 3 transcript(ARGV[3]),
-- 4 sessions_activity, 5 timers, 6 strategy, 7 events, 8 agent_feed, 9 work, 10 queues
-- ARGV: 3 session id, 4 disposition, 5 by, 6 only if idle since (ms, 0 = always)
-- Returns {1} or {0, reason}.
local sid = ARGV[3]
local sk = KEYS[1]
local s = redis.call('HMGET', sk, 'state', 'user', 'service', 'activity')
if not s[1] then return {0, 'unknown session'} end
if s[1] ~= 'open' then return {0, 'session ' .. s[1]} end
local idle_since = tonumber(ARGV[6])
local open = redis.call('SMEMBERS', KEYS[2])
if idle_since > 0 and (num(s[4]) > idle_since or #open > 0) then return {0, 'active'} end
for _, rid in ipairs(open) do
  local r = hgetall(K.request(rid))
  if r.state == 'accepted' then
    end_contact(rid, r, wrapup_for(r.channel), 'closed', 'session closed')
  elseif r.state == 'queued' or r.state == 'offered' then
    drop_request(rid, r, 'abandoned', 'session closed')
    emit('type', 'request.cancelled', 'request', rid, 'session', sid, 'channel', r.channel,
      'reason', 'session closed', 'previous', r.state)
  else
    redis.call('SREM', KEYS[2], rid)
  end
end
redis.call('HSET', sk, 'state', 'closed', 'closed_at', NOW, 'disposition', ARGV[4],
  'closed_by', ARGV[5])
local open_key = K.session_open(s[2], s[3])
if redis.call('GET', open_key) == sid then redis.call('DEL', open_key) end
redis.call('ZREM', KEYS[4], sid)
transcript(sid, 'closed', cjson.encode({disposition = ARGV[4], by = ARGV[5]}))
emit('type', 'session.closed', 'session', sid, 'user', s[2], 'service', s[3],
  'disposition', ARGV[4], 'by', ARGV[5])
return {1}
