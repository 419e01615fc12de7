-- A queued request waits: put it in its queues (and the known agent's pin list).
-- KEYS: 1 request(ARGV[3]), 2 trace(ARGV[3]), 3 queues, 4 timers, 5 events, 6 pinned(ARGV[9]?)
-- ARGV: 3 request id, 4 queues json, 5 score, 6 rule, 7 goal step, 8 strategy version,
-- 9 pinned agent ('' none), 10 pinned until ms, 11 next check ms (0 none), 12 trace json,
-- 13 trace ttl s
-- Returns {1} or {0, state}.
local rid = ARGV[3]
local rk = KEYS[1]
local r = hgetall(rk)
if r.state ~= 'queued' then return {0, r.state or 'missing'} end
local old = cjson.decode(r.queues or '[]')
local new = cjson.decode(ARGV[4])
local keep = {}
for _, q in ipairs(new) do keep[q] = true end
for _, q in ipairs(old) do
  if not keep[q] then redis.call('ZREM', K.queue(q, r.channel), rid) end
end
for _, q in ipairs(new) do
  redis.call('ZADD', K.queue(q, r.channel), ARGV[5], rid)
  redis.call('SADD', KEYS[3], q)
end
if r.pinned and r.pinned ~= '' and r.pinned ~= ARGV[9] then
  redis.call('ZREM', K.pinned(r.pinned), rid)
end
if ARGV[9] ~= '' then redis.call('ZADD', K.pinned(ARGV[9]), ARGV[5], rid) end
redis.call('HSET', rk, 'queues', ARGV[4], 'score', ARGV[5], 'rule', ARGV[6], 'step', ARGV[7],
  'version', ARGV[8], 'pinned', ARGV[9], 'pinned_until', ARGV[10])
if tonumber(ARGV[11]) > 0 then
  redis.call('ZADD', KEYS[4], ARGV[11], 'goal:' .. rid)
else
  redis.call('ZREM', KEYS[4], 'goal:' .. rid)
end
trace(rid, ARGV[12], ARGV[13])
if #old == 0 or r.rule ~= ARGV[6] or r.queues ~= ARGV[4] then
  emit('type', 'request.queued', 'request', rid, 'session', r.session, 'channel', r.channel,
    'queues', ARGV[4], 'rule', ARGV[6], 'step', ARGV[7], 'pinned', ARGV[9])
end
return {1}
