-- The customer gave up (caller hung up, widget closed) before an agent took the request.
-- KEYS: 1 request(ARGV[3]), 2 timers, 3 strategy, 4 events, 5 agent_feed, 6 work
-- ARGV: 3 request id, 4 reason
-- Returns {1, previous state} or {0, state}.
local rid = ARGV[3]
local r = hgetall(KEYS[1])
if not r.id then return {0, 'unknown request'} end
if r.state ~= 'queued' and r.state ~= 'offered' then return {0, r.state} end
local prev = r.state
drop_request(rid, r, 'abandoned', ARGV[4])
emit('type', 'request.cancelled', 'request', rid, 'session', r.session, 'channel', r.channel,
  'reason', ARGV[4], 'previous', prev, 'waited_ms', NOW - num(r.created))
transcript(r.session, 'abandoned', cjson.encode({request = rid, channel = r.channel,
  reason = ARGV[4], waited_ms = NOW - num(r.created)}))
return {1, prev}
