-- Move due timers into the work stream, so each is handled at least once by some worker.
-- KEYS: 1 timers, 2 work
-- ARGV: 3 limit
-- Returns the number of timers moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local kind, id = string.match(member, '^(%a+):(.+)$')
  if kind == 'goal' then
    work('request', id)
  elseif kind == 'offer' then
    work('offer_timeout', id)
  elseif kind == 'wrapup' then
    work('agent', id)
  end
end
return #due
