-- Reaper: leases that ran out. A lost desktop logs the agent off (pending offers go back
-- to their queues); a lost phone lease marks the device offline (no calls offered).
-- KEYS: 1 leases(ARGV[3]), 2 timers, 3 strategy, 4 events, 5 agent_feed, 6 work
-- ARGV: 3 source, 4 limit
-- Returns the number of agents changed.
local src = ARGV[3]
local lk = KEYS[1]
local due = redis.call('ZRANGEBYSCORE', lk, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
local changed = 0
for _, aid in ipairs(due) do
  local ak = K.agent(aid)
  local cur = redis.call('HMGET', ak, 'lease:' .. src, 'status', 'dev:' .. src)
  if num(cur[1]) > NOW then
    redis.call('ZADD', lk, cur[1], aid)
  else
    redis.call('ZREM', lk, aid)
    if cur[1] then
      changed = changed + 1
      if src == 'desktop' then
        if cur[2] ~= 'offline' then
          set_status(aid, 'offline', 'desktop disconnected')
        end
      else
        redis.call('HSET', ak, 'dev:' .. src, 'offline')
        redis.call('HINCRBY', ak, 'v', 1)
        emit('type', 'agent.presence', 'agent', aid, 'source', src, 'state', 'offline')
        emit_agent(aid)
      end
    end
  end
end
return changed
