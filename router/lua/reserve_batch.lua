-- Reserve capacity slots of agents for queued requests and record the offers: the one
-- place capacity is taken, so two workers can never give the same slot away. A worker
-- sends a batch of decisions (or one); each is checked and carried out on its own, in
-- order, so a later decision sees the capacity an earlier one took, and one refused
-- decision does not undo the others.
-- KEYS: 1 timers, 2 events, 3 agent_feed
-- KEYS per decision, 9 ARGV each from ARGV[5]: request(+0), agent(+1), offer(+2),
-- agent_offers(+1), pinned(+1), trace(+0)
-- (the script names each decision's keys as K.* itself: their number varies)
-- ARGV: 3 strategy version, 4 trace ttl s, then per decision 9 values from 5 on:
-- request id, agent id, offer id, deadline ms, queues json, score, rule, goal step,
-- trace json
-- Returns one reply per decision, in order: {1, offer id, agent feed entry id} or
-- {0, reason[, agent hash]}. The feed entry is the agent.state event of the reservation:
-- the worker that reserved has counted it in its view already and skips it
-- (router/worker/view.py, WorkerView.expect_echo).

-- One decision: reserve one capacity slot of agent `aid` for queued request `rid` and
-- record offer `oid`. Returns {1, oid, feed entry id} or {0, reason[, agent hash (flat,
-- for the view)]}.
local RESERVE_FIELDS = {'state', 'channel', 'session', 'user', 'service', 'pbx', 'call_id',
  'callback', 'queues', 'pinned', 'attempts', 'version'}
local function reserve_offer(rid, aid, oid, deadline, queues, score, rule, step, version,
    trace_text, trace_ttl)
  local rk, ak = K.request(rid), K.agent(aid)
  local rv = redis.call('HMGET', rk, 'rej:' .. aid, unpack(RESERVE_FIELDS))
  local r = {}
  for i, f in ipairs(RESERVE_FIELDS) do r[f] = rv[i + 1] or nil end
  if r.state ~= 'queued' then return {0, 'request ' .. (r.state or 'missing')} end
  local aflat = redis.call('HGETALL', ak)
  if #aflat == 0 then return {0, 'unknown agent'} end
  if num(rv[1]) > NOW then return {0, 'declined recently', aflat} end
  local a = {}
  for i = 1, #aflat, 2 do a[aflat[i]] = aflat[i + 1] end
  local why = agent_refusal(a, r.channel)
  if why then return {0, why, aflat} end

  local slot = slot_of(r.channel)
  a['load:' .. slot] = num(a['load:' .. slot]) + 1
  a.busy = num(a.busy) + 1
  a.v = num(a.v) + 1
  a.last_offer = NOW_S
  redis.call('HSET', ak, 'load:' .. slot, a['load:' .. slot], 'busy', a.busy, 'v', a.v,
    'last_offer', NOW_S)
  redis.call('SADD', K.agent_offers(aid), oid)
  redis.call('HSET', K.offer(oid), 'id', oid, 'request', rid, 'agent', aid,
    'channel', r.channel, 'session', r.session, 'state', 'pending', 'created', NOW_S,
    'deadline', deadline)
  -- only `enqueue` sets a goal timer, and it sets the request's version with it: a request
  -- without one (decided at its first look) has no timer to remove
  leave_queues(rid, r, r.version == nil)
  redis.call('HSET', rk, 'state', 'offered', 'offer', oid, 'agent', aid, 'queues', queues,
    'score', score, 'rule', rule, 'step', step, 'version', version, 'pinned', '',
    'offered_at', NOW_S, 'attempts', num(r.attempts) + 1)
  redis.call('ZADD', K.timers(), deadline, 'offer:' .. oid)
  trace(rid, trace_text, trace_ttl)
  emit('type', 'offer.created', 'offer', oid, 'request', rid, 'session', r.session,
    'agent', aid, 'channel', r.channel, 'deadline', deadline, 'user', r.user or '',
    'service', r.service or '', 'pbx', r.pbx or '', 'call_id', r.call_id or '',
    'callback', r.callback or '', 'queues', queues)
  local fid = emit_agent(aid, a)
  if r.channel ~= 'chat' then
    local timeout = math.max(1, math.floor((tonumber(deadline) - NOW) / 1000))
    if r.callback and r.callback ~= '' then
      cmd_callback(a.pbx, oid, rid, r.session, aid, a.endpoint or '', r.callback, timeout,
        deadline)
    else
      cmd_ring_agent(r.pbx, oid, rid, r.session, aid, a.endpoint or '', a.pbx or '',
        r.call_id or '', timeout, deadline)
    end
  end
  return {1, oid, fid}
end

local version, ttl = ARGV[3], ARGV[4]
local out = {}
for i = 5, #ARGV, 9 do
  out[#out + 1] = reserve_offer(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], version, ARGV[i + 8], ttl)
end
return out
