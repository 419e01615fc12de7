-- Shared by every implus script (router/scripts.py puts it in front of each body).
-- ARGV[1] = key prefix "implus:{domain}:" (all keys share the hash tag: one slot),
-- ARGV[2] = now in ms (the caller's clock, so decisions and scripts agree on time).
-- Keys a script gets as KEYS are listed in its header; any other key is named as
-- K.<template>(parts...), which router/scripts.py expands from router/keys.py.
local NOW = tonumber(ARGV[2])
-- NOW as the caller sent it (its integer ms), for the arguments of redis.call: Redis turns
-- a Lua number argument into text with printf ('%.17g', ~0.5-1 us for a time in ms; ~30 of
-- them in a request's life), the caller's digits are the same text for free.
local NOW_S = ARGV[2]
-- (strings, as NOW_S: a Lua number would be formatted by Redis at every XADD)
local EVENTS_MAXLEN = '500000'
local FEED_MAXLEN = '100000'
local COMMANDS_MAXLEN = '100000'

local function hgetall(k)
  local flat = redis.call('HGETALL', k)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function num(v)
  return tonumber(v) or 0
end

-- Every event carries `at` (the caller's clock, ms): reports time events by it, not by
-- the stream id (Redis's clock).
local function emit(...)
  return redis.call('XADD', K.events(), 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'at', NOW_S, ...)
end

-- The agent feed carries what allocation workers need for their agent view (live state,
-- profiles, strategy loads) apart from `events`, so workers do not parse every event.
local function feed(...)
  return redis.call('XADD', K.agent_feed(), 'MAXLEN', '~', FEED_MAXLEN, '*', ...)
end

local function work(kind, id, ...)
  return redis.call('XADD', K.work(), '*', 'kind', kind, 'id', id, ...)
end

-- A request's routing fields change (a move, a transfer): the work item `submit` filed
-- carries the old ones, so it is deleted if no worker took it yet; the caller files a new
-- one. A worker holding it already decides within its round, as it read the hash before.
local function forget_work_item(r)
  if r.work_id and r.work_id ~= '' then
    redis.call('XDEL', K.work(), r.work_id)
  end
end

-- Commands to a PBX bridge: one function per command type, the only place each command is
-- written (docs/router-api.md lists them). No PBX ('' or nil): nothing to tell, nil.
local function pbx_command(pbx, ctype, ...)
  if pbx == nil or pbx == '' then return nil end
  return redis.call('XADD', K.pbx_commands(pbx), 'MAXLEN', '~', COMMANDS_MAXLEN, '*',
    'type', ctype, 'at', NOW_S, ...)
end

local function cmd_ring_agent(pbx, oid, rid, sid, aid, endpoint, agent_pbx, call_id, timeout,
    deadline)
  return pbx_command(pbx, 'ring_agent', 'offer', oid, 'request', rid, 'session', sid,
    'agent', aid, 'endpoint', endpoint, 'agent_pbx', agent_pbx, 'call_id', call_id,
    'timeout', timeout, 'deadline', deadline)
end

local function cmd_cancel_ring(pbx, oid, rid, aid, call_id)
  return pbx_command(pbx, 'cancel_ring', 'offer', oid, 'request', rid, 'agent', aid,
    'call_id', call_id)
end

local function cmd_callback(pbx, oid, rid, sid, aid, endpoint, number, timeout, deadline)
  return pbx_command(pbx, 'callback', 'offer', oid, 'request', rid, 'session', sid,
    'agent', aid, 'endpoint', endpoint, 'number', number, 'timeout', timeout,
    'deadline', deadline)
end

local function cmd_click_to_call(pbx, call, sid, aid, endpoint, number)
  return pbx_command(pbx, 'click_to_call', 'call', call, 'session', sid, 'agent', aid,
    'endpoint', endpoint, 'number', number)
end

local function cmd_overflow(pbx, rid, sid, call_id, destination)
  return pbx_command(pbx, 'overflow', 'request', rid, 'session', sid, 'call_id', call_id,
    'destination', destination)
end

local function cmd_hold(pbx, rid, call_id, aid)
  return pbx_command(pbx, 'hold', 'request', rid, 'call_id', call_id, 'agent', aid)
end

local function cmd_call_control(pbx, call_id, rid, sid, aid, by, action, tkind, target,
    endpoint, target_pbx)
  return pbx_command(pbx, 'call_control', 'call_id', call_id, 'request', rid, 'session', sid,
    'agent', aid, 'by', by, 'action', action, 'target_kind', tkind, 'target', target,
    'endpoint', endpoint, 'target_pbx', target_pbx)
end

local function cmd_supervise(pbx, call_id, rid, sid, aid, supervisor, mode)
  return pbx_command(pbx, 'supervise', 'call_id', call_id, 'request', rid, 'session', sid,
    'agent', aid, 'supervisor', supervisor, 'mode', mode)
end

local function slot_of(ch)
  if ch == 'voip' then return 'voice' end
  return ch
end

local function setting(field, default)
  local v = redis.call('HGET', K.strategy(), field)
  if v then return tonumber(v) end
  return default
end

-- Why agent `a` (a table of its hash) cannot take channel `ch` now; nil if it can.
-- router/model.py AgentState.unavailable_reason is the advisory copy of this.
local function agent_refusal(a, ch)
  if a.status ~= 'available' then return 'status ' .. (a.status or 'offline') end
  if num(a['lease:desktop']) <= NOW then return 'no desktop presence' end
  if ch ~= 'chat' then
    if num(a['lease:sip']) <= NOW then return 'no sip presence' end
    if a['dev:sip'] == 'busy' then return 'phone busy' end
    if a['dev:sip'] == 'offline' then return 'phone offline' end
  end
  if num(a.wrapup_until) > NOW then return 'wrap-up' end
  local slot = slot_of(ch)
  if num(a['load:' .. slot]) >= num(a['cap:' .. slot]) then return 'no free capacity' end
  local blockers = {}
  for k, v in pairs(a) do
    if string.sub(k, 1, 7) == 'blocks:' and num(a['load:' .. string.sub(k, 8)]) > 0 then
      for blocked in string.gmatch(v, '[^,]+') do
        if blocked == slot then table.insert(blockers, string.sub(k, 8)) end
      end
    end
  end
  if #blockers > 0 then
    table.sort(blockers)
    return 'blocked by ' .. blockers[1]
  end
  return nil
end

-- Publish an agent's live state (agent.state) or whole hash (agent.profile): workers keep
-- their agent view from these events. Keep DYNAMIC in step with AgentState.with_live().
-- emit_agent returns the feed entry's id (a worker skips the echo of its own reservation).
local DYNAMIC = {'status', 'reason', 'busy', 'idle_since', 'wrapup_until', 'no_answer',
  'last_offer', 'v', 'load:voice', 'load:chat', 'lease:desktop', 'lease:sip', 'dev:sip'}
local function emit_agent(aid, known)
  local vals
  if known then
    vals = {}
    for i, f in ipairs(DYNAMIC) do vals[i] = known[f] end
  else
    vals = redis.call('HMGET', K.agent(aid), unpack(DYNAMIC))
  end
  local out = {'type', 'agent.state', 'agent', aid}
  for i, f in ipairs(DYNAMIC) do
    if vals[i] then
      out[#out + 1] = f
      out[#out + 1] = vals[i]
    end
  end
  return feed(unpack(out))
end

local function emit_profile(aid)
  local flat = redis.call('HGETALL', K.agent(aid))
  if #flat == 0 then return end
  feed('type', 'agent.profile', 'agent', aid, unpack(flat))
end

local function transcript(sid, etype, data)
  local id = redis.call('XADD', K.transcript(sid), '*',
    'type', etype, 'at', NOW_S, 'data', data)
  emit('type', 'session.event', 'session', sid, 'entry', id, 'etype', etype, 'data', data)
  return id
end

local function trace(rid, text, ttl)
  if text == nil or text == '' then return end
  local tk = K.trace(rid)
  -- LTRIM only when the list outgrew its 50 entries: most requests have one or two
  if redis.call('RPUSH', tk, text) > 50 then redis.call('LTRIM', tk, -50, -1) end
  redis.call('EXPIRE', tk, ttl)
end

-- `no_goal`: the caller knows the request has no goal timer (see reserve_batch).
local function leave_queues(rid, r, no_goal)
  for _, q in ipairs(cjson.decode(r.queues or '[]')) do
    redis.call('ZREM', K.queue(q, r.channel), rid)
  end
  if r.pinned and r.pinned ~= '' then
    redis.call('ZREM', K.pinned(r.pinned), rid)
  end
  if not no_goal then redis.call('ZREM', K.timers(), 'goal:' .. rid) end
end

local function join_queues(rid, r)
  for _, q in ipairs(cjson.decode(r.queues or '[]')) do
    redis.call('ZADD', K.queue(q, r.channel), r.score or NOW_S, rid)
  end
  if r.pinned and r.pinned ~= '' then
    redis.call('ZADD', K.pinned(r.pinned), r.score or NOW_S, rid)
  end
end

-- The PBX that must act on a call of request `r` for agent `a`.
local function pbx_of(r, a)
  if r.callback and r.callback ~= '' then return a.pbx or '' end
  return r.pbx or ''
end

-- The agent's live fields (DYNAMIC) as a table, false where absent: one HMGET gives what
-- a slot release changes and what its agent.state event carries (emit_agent(aid, a)).
local function live_fields(ak)
  local vals = redis.call('HMGET', ak, unpack(DYNAMIC))
  local a = {}
  for i, f in ipairs(DYNAMIC) do a[f] = vals[i] end
  return a
end

-- Give back the capacity slot an offer or contact held and, with `wrapup_until` (ms), start
-- the agent's wrap-up unless a later one runs. One read and one write of the agent hash;
-- returns its live fields after the change, for emit_agent(aid, a) (nothing else may
-- change the agent in between).
local function free_slot(aid, ch, wrapup_until)
  local ak = K.agent(aid)
  local a = live_fields(ak)
  local slot = 'load:' .. slot_of(ch)
  local out = {}
  if num(a[slot]) > 0 then
    a[slot] = num(a[slot]) - 1
    out[#out + 1] = slot
    out[#out + 1] = a[slot]
  end
  if num(a.busy) > 0 then
    a.busy = num(a.busy) - 1
    out[#out + 1] = 'busy'
    out[#out + 1] = a.busy
    if a.busy == 0 then
      a.idle_since = NOW_S
      out[#out + 1] = 'idle_since'
      out[#out + 1] = NOW_S
    end
  end
  if wrapup_until and wrapup_until > num(a.wrapup_until) then
    a.wrapup_until = wrapup_until
    out[#out + 1] = 'wrapup_until'
    out[#out + 1] = wrapup_until
    redis.call('ZADD', K.timers(), wrapup_until, 'wrapup:' .. aid)
  end
  a.v = num(a.v) + 1
  out[#out + 1] = 'v'
  out[#out + 1] = a.v
  redis.call('HSET', ak, unpack(out))
  return a
end

-- Whether a request waits that agent `aid` may take: in its pinned list or in any queue
-- that ever held requests (K.queues(), every channel). The worker's agent round
-- (Allocator.serve_agents) reads exactly these; with none waiting, a freed agent needs no
-- work item: a request decided meanwhile is checked again once it is queued, when its
-- worker's view sync sees this agent's agent.state (Allocator.route_requests).
local CHANNEL_NAMES = {'voice', 'chat', 'voip'}  -- router/strategy/schema.py CHANNELS
local function anything_waiting(aid)
  local lines = {K.pinned(aid)}  -- one EXISTS for the pin list and every queue line
  for _, q in ipairs(redis.call('SMEMBERS', K.queues())) do
    for _, c in ipairs(CHANNEL_NAMES) do lines[#lines + 1] = K.queue(q, c) end
  end
  return redis.call('EXISTS', unpack(lines)) > 0
end

-- `ttl`: the strategy's history_ttl when the caller read it already (nil: read here).
local function finish(rk, state, reason, ttl)
  redis.call('HSET', rk, 'state', state, 'ended_at', NOW_S, 'end_reason', reason)
  redis.call('EXPIRE', rk, ttl or setting('history_ttl', 2592000))
end

-- End a pending offer with `outcome`. With `requeue`, its request waits again (not offered
-- to this agent for `delay_ms`); otherwise the caller decides the request's fate.
local function end_offer(oid, outcome, reason, delay_ms, requeue)
  local ok = K.offer(oid)
  local o = hgetall(ok)
  if o.state ~= 'pending' then return nil end
  redis.call('HSET', ok, 'state', outcome, 'ended', NOW_S, 'reason', reason)
  redis.call('EXPIRE', ok, setting('history_ttl', 2592000))
  redis.call('ZREM', K.timers(), 'offer:' .. oid)
  redis.call('SREM', K.agent_offers(o.agent), oid)
  local live = free_slot(o.agent, o.channel)
  local rk = K.request(o.request)
  local r = hgetall(rk)
  if o.channel ~= 'chat' and outcome ~= 'failed' then
    local a = hgetall(K.agent(o.agent))
    cmd_cancel_ring(pbx_of(r, a), oid, o.request, o.agent, r.call_id or '')
  end
  if requeue and r.state == 'offered' and r.offer == oid then
    redis.call('HSET', rk, 'state', 'queued', 'offer', '', 'agent', '')
    if delay_ms > 0 then
      redis.call('HSET', rk, 'rej:' .. o.agent, NOW + delay_ms)
    end
    r.state = 'queued'
    join_queues(o.request, r)
    work('request', o.request)
  end
  emit('type', 'offer.' .. outcome, 'offer', oid, 'request', o.request, 'session', o.session or '',
    'agent', o.agent, 'channel', o.channel, 'reason', reason)
  emit_agent(o.agent, live)
  work('agent', o.agent)
  return o
end

-- `by` ('' or nil: the agent or the router) is who forced the status (a supervisor).
local function set_status(aid, st, reason, by)
  local ak = K.agent(aid)
  local prev = redis.call('HGET', ak, 'status')
  redis.call('HSET', ak, 'status', st, 'reason', reason)
  if prev ~= st then redis.call('HSET', ak, 'status_at', NOW_S) end
  redis.call('HINCRBY', ak, 'v', 1)
  if st == 'available' then
    redis.call('HSET', ak, 'no_answer', 0)
    if prev ~= 'available' and num(redis.call('HGET', ak, 'busy')) <= 0 then
      redis.call('HSET', ak, 'idle_since', NOW_S)
    end
  elseif st == 'offline' then
    for _, oid in ipairs(redis.call('SMEMBERS', K.agent_offers(aid))) do
      end_offer(oid, 'rescinded', 'agent went offline', 0, true)
    end
  end
  if by and by ~= '' then
    emit('type', 'agent.status', 'agent', aid, 'status', st, 'reason', reason,
      'previous', prev or '', 'by', by)
  else
    emit('type', 'agent.status', 'agent', aid, 'status', st, 'reason', reason,
      'previous', prev or '')
  end
  emit_agent(aid)
  if st == 'available' then work('agent', aid) end
end

-- A request in progress (accepted) ends: free the agent, start wrap-up. Without wrap-up
-- the agent may take a waiting request at once: a work item when one waits.
local function end_contact(rid, r, wrapup_ms, state, reason, ttl)
  local aid = r.agent
  local live = free_slot(aid, r.channel, wrapup_ms > 0 and NOW + wrapup_ms or nil)
  redis.call('SREM', K.agent_contacts(aid), rid)
  if wrapup_ms <= 0 and anything_waiting(aid) then
    work('agent', aid)
  end
  finish(K.request(rid), state, reason, ttl)
  redis.call('SREM', K.session_requests(r.session), rid)
  emit('type', 'contact.ended', 'request', rid, 'session', r.session, 'agent', aid,
    'channel', r.channel, 'reason', reason, 'handle_ms', NOW - num(r.accepted_at),
    'wrapup_ms', wrapup_ms)
  emit_agent(aid, live)
end

local function wrapup_for(ch)
  return setting('wrapup_' .. ch, 0)
end

-- A request not yet accepted ends without an agent (abandoned, overflowed...).
local function drop_request(rid, r, state, reason)
  if r.state == 'offered' and r.offer and r.offer ~= '' then
    end_offer(r.offer, 'rescinded', reason, 0, false)
  end
  leave_queues(rid, r)
  finish(K.request(rid), state, reason)
  redis.call('SREM', K.session_requests(r.session), rid)
end
