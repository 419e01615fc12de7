-- Hand a contact (or a waiting request) to another queue or a named agent, in the same
-- session. An accepted contact ends for its agent (no wrap-up) and a new request carries
-- the conversation on; for a call the PBX puts the caller back on hold.
-- KEYS: 1 request(ARGV[3]), 2 request(ARGV[4]), 3 timers, 4 strategy, 5 events, 6 agent_feed,
-- 7 work, 8 queues
-- ARGV: 3 request id, 4 new request id, 5 queue ('' none), 6 agent ('' none), 7 by
-- Returns {1, request id now routing} or {0, reason}.
local rid, nid = ARGV[3], ARGV[4]
local rk = KEYS[1]
local r = hgetall(rk)
if not r.id then return {0, 'unknown request'} end
if r.state == 'queued' or r.state == 'offered' then
  if r.state == 'offered' then end_offer(r.offer, 'rescinded', 'transferred', 0, true) end
  redis.call('HSET', rk, 'force_queue', ARGV[5], 'force_agent', ARGV[6], 'owner', '')
  forget_work_item(r)
  work('request', rid)
  transcript(r.session, 'transferred', cjson.encode({request = rid, queue = ARGV[5],
    agent = ARGV[6], by = ARGV[7]}))
  return {1, rid}
end
if r.state ~= 'accepted' then return {0, 'request ' .. r.state} end
end_contact(rid, r, 0, 'closed', 'transferred')
redis.call('HSET', KEYS[2], 'id', nid, 'channel', r.channel, 'service', r.service,
  'user', r.user, 'session', r.session, 'created', NOW, 'state', 'queued',
  'priority', r.priority or 0, 'customer', r.customer or '{}', 'pbx', r.pbx or '',
  'call_id', r.call_id or '', 'callback', '', 'owner', '', 'force_queue', ARGV[5],
  'force_agent', ARGV[6], 'returning', 1, 'queues', '[]', 'score', NOW, 'attempts', 0,
  'transferred_from', rid, 'max_wait', r.max_wait or 0)
redis.call('SADD', K.session_requests(r.session), nid)
if r.channel ~= 'chat' then
  cmd_hold(r.pbx, nid, r.call_id or '', r.agent)
end
emit('type', 'request.transferred', 'request', rid, 'to_request', nid, 'session', r.session,
  'channel', r.channel, 'queue', ARGV[5], 'agent', ARGV[6], 'by', ARGV[7])
transcript(r.session, 'transferred', cjson.encode({request = rid, to_request = nid,
  queue = ARGV[5], agent = ARGV[6], by = ARGV[7], channel = r.channel}))
work('request', nid)
return {1, nid}
