-- Reserve one capacity slot of an agent for a queued request and record the offer.
-- This is the one place capacity is taken: two workers can never give the same slot away.
-- KEYS: 1 request(ARGV[3]), 2 agent(ARGV[4]), 3 offer(ARGV[5]), 4 agent_offers(ARGV[4]),
-- 5 pinned(ARGV[4]), 6 trace(ARGV[3]), 7 timers, 8 events, 9 agent_feed
-- (KEYS[5]: the request leaves it when it waited for this agent)
-- ARGV: 3 request id, 4 agent id, 5 offer id, 6 deadline ms, 7 queues json, 8 score,
-- 9 rule, 10 goal step, 11 strategy version, 12 trace json, 13 trace ttl s
-- Returns {1, offer id} or {0, reason, agent hash (flat, for the caller's view)}.
local rid, aid, oid = ARGV[3], ARGV[4], ARGV[5]
local rk, ak = KEYS[1], KEYS[2]
local RF = {'state', 'channel', 'session', 'user', 'service', 'pbx', 'call_id', 'callback',
  'queues', 'pinned', 'rej:' .. aid}
local rv = redis.call('HMGET', rk, unpack(RF))
local r = {}
for i, f in ipairs(RF) do r[f] = rv[i] or nil end
if r.state ~= 'queued' then return {0, 'request ' .. (r.state or 'missing')} end
local aflat = redis.call('HGETALL', ak)
if #aflat == 0 then return {0, 'unknown agent'} end
if num(r['rej:' .. aid]) > NOW then return {0, 'declined recently', aflat} end
local a = {}
for i = 1, #aflat, 2 do a[aflat[i]] = aflat[i + 1] end
local why = agent_refusal(a, r.channel)
if why then return {0, why, aflat} end

local slot = slot_of(r.channel)
a['load:' .. slot] = num(a['load:' .. slot]) + 1
a.busy = num(a.busy) + 1
a.v = num(a.v) + 1
a.last_offer = NOW
redis.call('HSET', ak, 'load:' .. slot, a['load:' .. slot], 'busy', a.busy, 'v', a.v,
  'last_offer', NOW)
redis.call('SADD', KEYS[4], oid)
redis.call('HSET', KEYS[3], 'id', oid, 'request', rid, 'agent', aid,
  'channel', r.channel, 'session', r.session, 'state', 'pending', 'created', NOW,
  'deadline', ARGV[6])
leave_queues(rid, r)
redis.call('HSET', rk, 'state', 'offered', 'offer', oid, 'agent', aid, 'queues', ARGV[7],
  'score', ARGV[8], 'rule', ARGV[9], 'step', ARGV[10], 'version', ARGV[11], 'pinned', '',
  'offered_at', NOW)
redis.call('HINCRBY', rk, 'attempts', 1)
redis.call('ZADD', KEYS[7], ARGV[6], 'offer:' .. oid)
trace(rid, ARGV[12], ARGV[13])
emit('type', 'offer.created', 'offer', oid, 'request', rid, 'session', r.session, 'agent', aid,
  'channel', r.channel, 'deadline', ARGV[6], 'user', r.user or '', 'service', r.service or '',
  'pbx', r.pbx or '', 'call_id', r.call_id or '', 'callback', r.callback or '',
  'queues', ARGV[7])
emit_agent(aid, a)
if r.channel ~= 'chat' then
  local timeout = math.max(1, math.floor((tonumber(ARGV[6]) - NOW) / 1000))
  if r.callback and r.callback ~= '' then
    cmd_callback(a.pbx, oid, rid, r.session, aid, a.endpoint or '', r.callback, timeout,
      ARGV[6])
  else
    cmd_ring_agent(r.pbx, oid, rid, r.session, aid, a.endpoint or '', a.pbx or '',
      r.call_id or '', timeout, ARGV[6])
  end
end
return {1, oid}
