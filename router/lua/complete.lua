-- A contact is over (chat finished, call hung up): free the slot and start wrap-up.
-- ARGV: 3 request id, 4 reason / disposition
-- Returns {1, agent id} or {0, state}.
local rid = ARGV[3]
local r = hgetall(key('request', rid))
if not r.id then return {0, 'unknown request'} end
if r.state ~= 'accepted' then return {0, r.state} end
end_contact(rid, r, wrapup_for(r.channel), 'closed', ARGV[4])
return {1, r.agent}
