-- Reserve one capacity slot of an agent for a queued request and record the offer
-- (reserve_offer in prelude.lua; reserve_batch.lua does several in one call).
-- KEYS: 1 request(ARGV[3]), 2 agent(ARGV[4]), 3 offer(ARGV[5]), 4 agent_offers(ARGV[4]),
-- 5 pinned(ARGV[4]), 6 trace(ARGV[3]), 7 timers, 8 events, 9 agent_feed
-- (KEYS[5]: the request leaves it when it waited for this agent)
-- ARGV: 3 request id, 4 agent id, 5 offer id, 6 deadline ms, 7 queues json, 8 score,
-- 9 rule, 10 goal step, 11 strategy version, 12 trace json, 13 trace ttl s
-- Returns {1, offer id} or {0, reason, agent hash (flat, for the caller's view)}.
return reserve_offer(ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9],
  ARGV[10], ARGV[11], ARGV[12], ARGV[13])
