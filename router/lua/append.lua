-- Append an entry to a session's transcript, once per client message id.
-- KEYS: 1 session(ARGV[3]), 2 session_cmids(ARGV[3]), 3 transcript(ARGV[3]),
-- 4 sessions_activity, 5 events
-- ARGV: 3 session id, 4 entry type, 5 data json, 6 client message id ('' none)
-- Returns {1, entry id, duplicate(0/1), session state} or {0, reason}.
local sid, cmid = ARGV[3], ARGV[6]
local sk, ck = KEYS[1], KEYS[2]
local state = redis.call('HGET', sk, 'state')
if not state then return {0, 'unknown session'} end
if cmid ~= '' then
  local prev = redis.call('HGET', ck, cmid)
  if prev then return {1, prev, 1, state} end
end
local id = transcript(sid, ARGV[4], ARGV[5])
if cmid ~= '' then redis.call('HSET', ck, cmid, id) end
redis.call('HSET', sk, 'activity', NOW)
if state == 'open' then redis.call('ZADD', KEYS[4], NOW, sid) end
return {1, id, 0, state}
