-- A goal, the request's max wait (or the absence of any rule) sends a waiting request
-- elsewhere.
-- KEYS: 1 request(ARGV[3]), 2 trace(ARGV[3]), 3 timers, 4 strategy, 5 events
-- ARGV: 3 request id, 4 destination ('' the entry point's own), 5 trace json,
-- 6 trace ttl s, 7 why (for the request's end reason)
-- Returns {1} or {0, state}.
local rid = ARGV[3]
local r = hgetall(KEYS[1])
if r.state ~= 'queued' then return {0, r.state or 'missing'} end
local why = ARGV[7] or ''
if why == '' then why = 'overflow to ' .. ARGV[4] end
drop_request(rid, r, 'overflowed', why)
trace(rid, ARGV[5], ARGV[6])
emit('type', 'request.overflowed', 'request', rid, 'session', r.session, 'channel', r.channel,
  'destination', ARGV[4], 'pbx', r.pbx or '', 'call_id', r.call_id or '')
if r.channel ~= 'chat' then
  cmd_overflow(r.pbx, rid, r.session, r.call_id or '', ARGV[4])
end
transcript(r.session, 'overflowed', cjson.encode({request = rid, channel = r.channel,
  destination = ARGV[4]}))
return {1}
