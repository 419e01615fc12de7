-- An offer ends without a contact: the agent rejected it, did not answer in time, or the
-- PBX could not ring the phone. The request waits again for the next agent.
-- KEYS: 1 offer(ARGV[3]), 2 timers, 3 strategy, 4 events, 5 agent_feed, 6 work,
-- 7 agent(ARGV[4]?), 8 agent_offers(ARGV[4]?)
-- (the agent's keys are built from the offer's agent, the one ARGV[4] names if given)
-- ARGV: 3 offer id, 4 agent id ('' = any), 5 outcome (rejected|timeout|failed),
-- 6 reason text, 7 counts as a missed offer (1/0)
-- Returns {1, request id} or {0, reason}.
local oid = ARGV[3]
local o = hgetall(KEYS[1])
if not o.id then return {0, 'unknown offer'} end
if ARGV[4] ~= '' and o.agent ~= ARGV[4] then return {0, 'the offer was made to another agent'} end
if o.state ~= 'pending' then return {0, 'offer ' .. o.state} end
local delay = setting('reject_delay_ms', 10000)
end_offer(oid, ARGV[5], ARGV[6], delay, true)
if ARGV[7] == '1' then
  local ak = K.agent(o.agent)
  local missed = redis.call('HINCRBY', ak, 'no_answer', 1)
  local max_missed = setting('max_no_answer', 3)
  if max_missed > 0 and missed >= max_missed and redis.call('HGET', ak, 'status') == 'available' then
    set_status(o.agent, 'away', 'no-answer')
  end
end
return {1, o.request}
