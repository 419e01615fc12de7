-- An attended transfer completed: the call of accepted request ARGV[3] goes on with agent
-- ARGV[5] (the consult target, who answered and now talks to the customer) as the new
-- accepted request ARGV[4]. The first agent's contact ends (no wrap-up: they handed it on).
-- KEYS: 1 request(ARGV[3]), 2 request(ARGV[4]), 3 agent(ARGV[5]), 4 agent_contacts(ARGV[5]),
-- 5 timers, 6 strategy, 7 events, 8 agent_feed, 9 work, 10 sessions_activity, 11 queues
-- ARGV: 3 request id, 4 new request id, 5 agent id, 6 by
-- Returns {1, new request id} or {0, reason}.
local rid, nid, aid = ARGV[3], ARGV[4], ARGV[5]
local r = hgetall(KEYS[1])
if not r.id then return {0, 'unknown request'} end
if r.state ~= 'accepted' then return {0, 'request ' .. r.state} end
local ak = KEYS[3]
if redis.call('EXISTS', ak) == 0 then return {0, 'unknown agent'} end
end_contact(rid, r, 0, 'closed', 'transferred to ' .. aid)
redis.call('HSET', KEYS[2], 'id', nid, 'channel', r.channel, 'service', r.service,
  'user', r.user, 'session', r.session, 'created', NOW, 'state', 'accepted',
  'accepted_at', NOW, 'agent', aid, 'priority', r.priority or 0,
  'customer', r.customer or '{}', 'pbx', r.pbx or '', 'call_id', r.call_id or '',
  'callback', '', 'owner', aid, 'force_queue', '', 'force_agent', aid, 'returning', 1,
  'queues', '[]', 'score', NOW, 'attempts', 0, 'transferred_from', rid)
redis.call('SADD', K.session_requests(r.session), nid)
redis.call('SADD', KEYS[4], nid)
redis.call('HINCRBY', ak, 'load:' .. slot_of(r.channel), 1)
redis.call('HINCRBY', ak, 'busy', 1)
redis.call('HINCRBY', ak, 'v', 1)
redis.call('HSET', K.session(r.session), 'owner', aid, 'activity', NOW)
redis.call('ZADD', KEYS[10], NOW, r.session)
emit('type', 'request.transferred', 'request', rid, 'to_request', nid, 'session', r.session,
  'channel', r.channel, 'queue', '', 'agent', aid, 'by', ARGV[6])
emit('type', 'contact.handed_over', 'request', nid, 'session', r.session, 'agent', aid,
  'from_agent', r.agent or '', 'channel', r.channel, 'by', ARGV[6])
transcript(r.session, 'assigned', cjson.encode({agent = aid, channel = r.channel,
  request = nid, by = 'attended transfer'}))
emit_agent(aid)
return {1, nid}
