"""Login throttling: budgets of failed logins that refill over time, kept in Redis.

Three budgets, each refilling completely over ``window_s`` (one failure's worth every
``window_s / budget`` seconds), so every lock-out ends by itself:

- per (account, address): a guesser at one account from one address gets ``pair`` tries,
  then one more every ``window_s / pair`` seconds;
- per address: one address spraying many accounts gets ``address`` tries in all;
- per account: once ``account`` failures from any addresses hit one account, only the
  addresses that never failed on it may still try. The agent at their usual desk still
  logs in while a botnet hammers their account; each new attacking address gets one try
  before it joins the locked-out ones.

Every attempt is counted as a failure BEFORE the password is checked (one atomic Lua
script), and a success gives it back and clears the (account, address) budget: parallel
requests cannot squeeze in more tries than the budget, and argon2 never runs for a
throttled attempt. Unknown accounts are throttled exactly like real ones, so the answers
do not tell which accounts exist. Addresses are IPv4 addresses or IPv6 /64 networks (one
subscriber's whole allocation); behind a reverse proxy set ``proxy_hops`` so the
client's address comes from X-Forwarded-For. All workers and instances share the state.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

import redis

from chat.errors import Throttled, Unavailable
from chat.keys import ChatKeys

_ATTEMPT = """
-- KEYS: pair, address, account budgets (hashes n = failures, t = ms of n)
-- ARGV[1] 'take' or 'give_back'; ARGV[2] now (ms); ARGV[3..5] budgets (pair, address,
-- account); ARGV[6..8] ms for one failure to decay (same order).
-- Returns {1, 0} when the attempt may go ahead (and is counted), {0, ms to wait} if not.
local now = tonumber(ARGV[2])
local function per(i) return tonumber(ARGV[5 + i]) end
local function level(i)
  local h = redis.call('HMGET', KEYS[i], 'n', 't')
  local n, t = tonumber(h[1]) or 0, tonumber(h[2]) or now
  return math.max(0, n - math.max(0, now - t) / per(i))
end
local function store(i, n)
  if n <= 0 then redis.call('DEL', KEYS[i]); return end
  redis.call('HSET', KEYS[i], 'n', tostring(n), 't', ARGV[2])
  redis.call('PEXPIRE', KEYS[i], math.ceil(n * per(i)))
end
local function wait_below(n, i) -- ms until n has decayed to one under its budget
  return math.ceil((n - tonumber(ARGV[2 + i]) + 1) * per(i))
end
local p, a, c = level(1), level(2), level(3)
if ARGV[1] == 'give_back' then
  store(1, 0); store(2, a - 1); store(3, c - 1)
  return {1, 0}
end
local wait = 0
if p + 1 > tonumber(ARGV[3]) then wait = math.max(wait, wait_below(p, 1)) end
if a + 1 > tonumber(ARGV[4]) then wait = math.max(wait, wait_below(a, 2)) end
if c + 1 > tonumber(ARGV[5]) and p > 0 then
  wait = math.max(wait, math.min(wait_below(c, 3), math.ceil(p * per(1))))
end
if wait > 0 then return {0, wait} end
store(1, p + 1); store(2, a + 1); store(3, c + 1)
return {1, 0}
"""


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed per budget; each refills completely over ``window_s``."""

    pair: int = 5
    address: int = 30
    account: int = 20
    window_s: float = 900.0

    def decay_ms(self, budget: int) -> float:
        """Milliseconds for one failure of a budget of ``budget`` to be forgotten."""
        return self.window_s * 1000.0 / budget


def client_address(remote: str | None) -> str:
    """The address a login budget is kept for: IPv4 as is, IPv6 as its /64 network
    (an IPv6 subscriber has the whole /64), ``unknown`` when there is none."""
    try:
        ip = ipaddress.ip_address((remote or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginGuard:
    """Counts login attempts per (account, address), address and account in Redis."""

    def __init__(self, rds: redis.Redis, keys: ChatKeys, limits: LoginLimits) -> None:
        self._keys = keys
        self.limits = limits
        self._script = rds.register_script(_ATTEMPT)

    def attempt(self, kind: str, account_id: str, address: str, now: float | None = None) -> None:
        """Count one login attempt, or raise Throttled saying how long to wait."""
        allowed, wait_ms = self._run("take", kind, account_id, address, now)
        if not allowed:
            seconds = max(1, math.ceil(wait_ms / 1000))
            raise Throttled(
                f"too many failed logins: try again in {_human(seconds)}", retry_after=seconds
            )

    def succeeded(self, kind: str, account_id: str, address: str, now: float | None = None) -> None:
        """The attempt was right: give it back and clear the (account, address) budget."""
        self._run("give_back", kind, account_id, address, now)

    def _run(
        self, op: str, kind: str, account_id: str, address: str, now: float | None
    ) -> tuple[int, int]:
        lim = self.limits
        ms = int((time.time() if now is None else now) * 1000)
        keys = [
            self._keys.login_pair(kind, account_id, address),
            self._keys.login_address(address),
            self._keys.login_account(kind, account_id),
        ]
        args: list[str | int | float] = [op, ms, lim.pair, lim.address, lim.account]
        args += [lim.decay_ms(b) for b in (lim.pair, lim.address, lim.account)]
        try:
            allowed, wait_ms = self._script(keys=keys, args=args)
        except redis.RedisError as e:
            raise Unavailable(f"cannot check the login throttle in Redis: {e}") from e
        return int(allowed), int(wait_ms)


def _human(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} minutes"
