-- Reserve a batch of decisions in one call: each is checked and carried out exactly as
-- reserve.lua does one (reserve_offer in prelude.lua), in order, so a later decision sees
-- the capacity an earlier one took; one refused decision does not undo the others.
-- KEYS: 1 timers, 2 events, 3 agent_feed
-- KEYS per decision, 9 ARGV each from ARGV[5]: request(+0), agent(+1), offer(+2),
-- agent_offers(+1), pinned(+1), trace(+0)
-- (the script names each decision's keys as K.* itself: their number varies)
-- ARGV: 3 strategy version, 4 trace ttl s, then per decision 9 values from 5 on:
-- request id, agent id, offer id, deadline ms, queues json, score, rule, goal step,
-- trace json
-- Returns one reply per decision, in order: {1, offer id} or {0, reason[, agent hash]}.
local version, ttl = ARGV[3], ARGV[4]
local out = {}
for i = 5, #ARGV, 9 do
  out[#out + 1] = reserve_offer(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], version, ARGV[i + 8], ttl)
end
return out
