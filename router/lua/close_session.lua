-- Close a session: contacts in progress end (with wrap-up), waiting requests are dropped,
-- the session leaves the user's open slot and stays in their history.
-- ARGV: 3 session id, 4 disposition, 5 by, 6 only if idle since (ms, 0 = always)
-- Returns {1} or {0, reason}.
local sid = ARGV[3]
local sk = key('session', sid)
local s = redis.call('HMGET', sk, 'state', 'user', 'service', 'activity')
if not s[1] then return {0, 'unknown session'} end
if s[1] ~= 'open' then return {0, 'session ' .. s[1]} end
local idle_since = tonumber(ARGV[6])
local open = redis.call('SMEMBERS', key('session', sid, 'requests'))
if idle_since > 0 and (num(s[4]) > idle_since or #open > 0) then return {0, 'active'} end
for _, rid in ipairs(open) do
  local r = hgetall(key('request', rid))
  if r.state == 'accepted' then
    end_contact(rid, r, wrapup_for(r.channel), 'closed', 'session closed')
  elseif r.state == 'queued' or r.state == 'offered' then
    drop_request(rid, r, 'abandoned', 'session closed')
    emit('type', 'request.cancelled', 'request', rid, 'session', sid, 'channel', r.channel,
      'reason', 'session closed', 'previous', r.state)
  else
    redis.call('SREM', key('session', sid, 'requests'), rid)
  end
end
redis.call('HSET', sk, 'state', 'closed', 'closed_at', NOW, 'disposition', ARGV[4],
  'closed_by', ARGV[5])
local open_key = key('session-open', s[2], s[3])
if redis.call('GET', open_key) == sid then redis.call('DEL', open_key) end
redis.call('ZREM', P .. 'sessions:activity', sid)
transcript(sid, 'closed', cjson.encode({disposition = ARGV[4], by = ARGV[5]}))
emit('type', 'session.closed', 'session', sid, 'user', s[2], 'service', s[3],
  'disposition', ARGV[4], 'by', ARGV[5])
return {1}
