-- A supervisor moves a waiting contact - a request queued or ringing an agent, never one
-- an agent has answered - to another queue or to a named agent, in the same session. A
-- ringing offer is taken back. Moved to a queue, the request waits there at once (routed
-- by that queue alone, outside the rules) keeping its place by age; moved to an agent, it
-- waits for that agent (the strategy's known_agent_wait, counted from now) in the queues
-- it was in, then routes as before. The event and the transcript entry say who moved it.
-- KEYS: 1 request(ARGV[3]), 2 timers, 3 strategy, 4 events, 5 agent_feed, 6 work,
-- 7 queues, 8 agent(ARGV[5]?), 9 pinned(ARGV[5]?)
-- ARGV: 3 request id, 4 queue ('' none), 5 agent ('' none), 6 by (the supervisor's login)
-- Returns {1, previous state} or {0, reason}.
local rid, q, aid, by = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if (q == '') == (aid == '') then return {0, 'move to exactly one of a queue or an agent'} end
local rk = KEYS[1]
local r = hgetall(rk)
if not r.id then return {0, 'unknown request'} end
if r.state ~= 'queued' and r.state ~= 'offered' then
  return {0, 'request ' .. r.state .. ': only a waiting contact can be moved'}
end
if aid ~= '' then
  local a = redis.call('HMGET', K.agent(aid), 'id', 'status', 'lease:desktop')
  if not a[1] then return {0, 'unknown agent ' .. aid} end
  if (a[2] ~= 'available' and a[2] ~= 'away') or num(a[3]) <= NOW then
    return {0, 'agent ' .. aid .. ' is not logged in'}
  end
end
local prev, from = r.state, r.queues or '[]'
if r.state == 'offered' then
  end_offer(r.offer, 'rescinded', 'moved by a supervisor', 0, true)
  r = hgetall(rk)
  if r.state ~= 'queued' then return {0, 'request ' .. r.state} end
end
leave_queues(rid, r)
forget_work_item(r)
if q ~= '' then
  r.queues, r.pinned = cjson.encode({q}), ''
  redis.call('SADD', KEYS[7], q)
else
  r.pinned = aid
  redis.call('HDEL', rk, 'rej:' .. aid)
end
join_queues(rid, r)
redis.call('HSET', rk, 'force_queue', q, 'force_agent', aid, 'forced_at', NOW, 'owner', '',
  'queues', r.queues or '[]', 'pinned', r.pinned)
emit('type', 'request.moved', 'request', rid, 'session', r.session, 'channel', r.channel,
  'queues', from, 'queue', q, 'agent', aid, 'by', by, 'previous', prev)
transcript(r.session, 'moved', cjson.encode({request = rid, channel = r.channel, queue = q,
  agent = aid, by = by}))
work('request', rid)
return {1, prev}
