-- The agent takes the offer (for calls: the agent's phone answered).
-- KEYS: 1 offer(ARGV[3]), 2 timers, 3 sessions_activity, 4 events, 5 agent_feed,
-- 6 agent(ARGV[4]?), 7 agent_offers(ARGV[4]?), 8 agent_contacts(ARGV[4]?)
-- (the agent's keys are built from the offer's agent, the one ARGV[4] names if given)
-- ARGV: 3 offer id, 4 agent id ('' = whoever it was offered to), 5 stats window ms
-- Returns {1, request id, session id} or {0, reason}. Accepting an offer already accepted
-- (its contact still going on) returns {1, ...} again: a retry after a lost reply.
local oid = ARGV[3]
local ok = KEYS[1]
local o = hgetall(ok)
if not o.id then return {0, 'unknown offer'} end
if ARGV[4] ~= '' and o.agent ~= ARGV[4] then return {0, 'the offer was made to another agent'} end
if o.state == 'accepted' and redis.call('HGET', K.request(o.request), 'state') == 'accepted'
then
  return {1, o.request, o.session} -- the same accept again (a retry after a lost reply)
end
if o.state ~= 'pending' then return {0, 'offer ' .. o.state} end
local aid, rid, ch, sid = o.agent, o.request, o.channel, o.session
redis.call('HSET', ok, 'state', 'accepted', 'ended', NOW_S)
redis.call('ZREM', KEYS[2], 'offer:' .. oid)
redis.call('SREM', K.agent_offers(aid), oid)
redis.call('SADD', K.agent_contacts(aid), rid)
-- An answered offer ends a run of missed ones. Nothing else of the agent's live state
-- changes (the offer's slot now holds the contact): with no missed offers counted, the
-- agent hash and the workers' views stay as they are (no version, no agent.state).
local ak = K.agent(aid)
local reset = num(redis.call('HGET', ak, 'no_answer')) ~= 0
if reset then
  redis.call('HSET', ak, 'no_answer', 0)
  redis.call('HINCRBY', ak, 'v', 1)
end
local rk = K.request(rid)
local r = redis.call('HMGET', rk, 'created', 'queues')
redis.call('HSET', rk, 'state', 'accepted', 'accepted_at', NOW_S)
redis.call('HSET', K.session(sid), 'owner', aid, 'activity', NOW_S)
redis.call('ZADD', KEYS[3], NOW_S, sid)
local waited = NOW - num(r[1])
local queues = cjson.decode(r[2] or '[]')
if #queues > 0 then
  local sk = K.stats(queues[1], ch)
  redis.call('ZADD', sk, NOW_S, rid .. ':' .. waited)
  redis.call('ZREMRANGEBYSCORE', sk, '-inf', NOW - tonumber(ARGV[5]))
end
emit('type', 'offer.accepted', 'offer', oid, 'request', rid, 'session', sid, 'agent', aid,
  'channel', ch, 'wait_ms', waited)
transcript(sid, 'assigned', cjson.encode({agent = aid, channel = ch, request = rid,
  wait_ms = waited}))
if reset then emit_agent(aid) end
return {1, rid, sid}
