-- A goal (or the absence of any rule) sends a waiting request elsewhere.
-- ARGV: 3 request id, 4 destination, 5 trace json, 6 trace ttl s
-- Returns {1} or {0, state}.
local rid = ARGV[3]
local r = hgetall(key('request', rid))
if r.state ~= 'queued' then return {0, r.state or 'missing'} end
drop_request(rid, r, 'overflowed', 'overflow to ' .. ARGV[4])
trace(rid, ARGV[5], ARGV[6])
emit('type', 'request.overflowed', 'request', rid, 'session', r.session, 'channel', r.channel,
  'destination', ARGV[4], 'pbx', r.pbx or '', 'call_id', r.call_id or '')
if r.channel ~= 'chat' then
  pbx_command(r.pbx, 'overflow', 'request', rid, 'session', r.session,
    'call_id', r.call_id or '', 'destination', ARGV[4])
end
transcript(r.session, 'overflowed', cjson.encode({request = rid, channel = r.channel,
  destination = ARGV[4]}))
return {1}
