-- A contact is over (chat finished, call hung up): free the slot and start wrap-up.
-- KEYS: 1 request(ARGV[3]), 2 timers, 3 strategy, 4 events, 5 agent_feed, 6 work, 7 queues
-- ARGV: 3 request id, 4 reason / disposition
-- Returns {1, agent id} or {0, state}.
local rid = ARGV[3]
local f = redis.call('HMGET', KEYS[1], 'id', 'state', 'agent', 'channel', 'session',
  'accepted_at')
local r = {id = f[1] or nil, state = f[2] or nil, agent = f[3] or nil, channel = f[4] or nil,
  session = f[5] or nil, accepted_at = f[6] or nil}
if not r.id then return {0, 'unknown request'} end
if r.state ~= 'accepted' then return {0, r.state} end
-- the two settings it needs in one read (wrapup_for and finish would read one each)
local s = redis.call('HMGET', KEYS[3], 'wrapup_' .. r.channel, 'history_ttl')
end_contact(rid, r, tonumber(s[1]) or 0, 'closed', ARGV[4], s[2] or '2592000')
return {1, r.agent}
