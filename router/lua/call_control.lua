-- Ask the PBX that carries a session's live call to act on it: call control by the agent
-- on the call (or a supervisor), or a supervisor listening in. The call is the session's
-- accepted voice/VoIP request with a PBX call id (a routed inbound call).
-- KEYS: 1 session(ARGV[3]), 2 session_requests(ARGV[3]), 3 transcript(ARGV[3]), 4 events
-- ARGV: 3 session id, 4 kind ('call_control' | 'supervise' | 'authorize'), 5 action / mode,
-- 6 by (who asks), 7 '1' when `by` asks as a supervisor, 8 target kind ('' | agent |
-- queue | number), 9 target
-- 'authorize' only checks and writes the transcript entry (the router itself carries the
-- action out: a blind transfer to a queue or an agent).
-- Returns {1, request id, command id} or {0, reason}.
local sid, kind, action, by = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local as_supervisor = ARGV[7] == '1'
local tkind, target = ARGV[8], ARGV[9]
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 'unknown session'} end
local r = nil
for _, rid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local q = hgetall(K.request(rid))
  if q.state == 'accepted' and q.channel ~= 'chat' and (q.call_id or '') ~= ''
      and (q.pbx or '') ~= '' then
    r = q
  end
end
if r == nil then return {0, 'no call in progress in this session'} end
if not as_supervisor and r.agent ~= by then
  return {0, 'the call is handled by another agent'}
end
local endpoint, tpbx = '', ''
if tkind == 'agent' then
  local t = redis.call('HMGET', K.agent(target), 'id', 'endpoint', 'pbx')
  if not t[1] then return {0, 'unknown agent ' .. target} end
  if target == r.agent then return {0, 'the call is already with ' .. target} end
  endpoint, tpbx = t[2] or '', t[3] or ''
end

local entry
local command = ''
if kind == 'supervise' then
  entry = {mode = action, supervisor = by, state = 'requested', request = r.id,
    call_id = r.call_id}
  command = cmd_supervise(r.pbx, r.call_id, r.id, sid, r.agent, by, action)
  transcript(sid, 'call.supervise', cjson.encode(entry))
else
  entry = {action = action, by = by, state = 'requested', request = r.id, call_id = r.call_id,
    target_kind = tkind, target = target}
  if kind == 'call_control' then
    command = cmd_call_control(r.pbx, r.call_id, r.id, sid, r.agent, by, action, tkind,
      target, endpoint, tpbx)
  end
  transcript(sid, 'call.control', cjson.encode(entry))
end
return {1, r.id, command}
