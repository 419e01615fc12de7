"""Login throttling on the real redis-server: 20 wrong passwords used to answer 401 at
full speed and the right one worked at once. Now each (account, address) pair, each
address and each account has a budget of failed logins that refills over
``login_window_s``; past it the answer is 429 with Retry-After. An address that never
failed on an account can still log in to it while somebody else hammers it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from chattest import csrf_of, fast_accounts
from flask import Flask
from flask.testing import FlaskClient

from chat.accounts import Role
from chat.app import create_app
from chat.context import ctx
from chat.errors import Throttled
from chat.keys import ChatKeys
from chat.login_guard import LoginGuard, LoginLimits, client_address

pytestmark = pytest.mark.redis

ATTACKER = "203.0.113.5"
OFFICE = "198.51.100.7"
LIMITS = {
    "login_failures_per_account_address": 5,
    "login_failures_per_address": 30,
    "login_failures_per_account": 20,
    "login_window_s": 900,
}


@pytest.fixture
def fast_app(chat_config: dict[str, Any], redis_url: str) -> Iterator[Flask]:
    """The app with cheap password hashes (the throttle, not argon2, is under test)."""
    app = create_app(chat_config | LIMITS, start_background=False)
    app.config["TESTING"] = True
    accounts = fast_accounts(redis_url)
    ctx(app).accounts = accounts
    accounts.set_password(Role.AGENT, "alice", "alice-pw-1")
    return app


def token(client: FlaskClient, password: str, address: str, user: str = "alice") -> Any:
    return client.post(
        "/api/auth/token",
        json={"username": user, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_api_wrong_passwords_are_throttled_and_the_office_still_gets_in(fast_app: Flask) -> None:
    client = fast_app.test_client()
    answers = [token(client, f"wrong-{i}", ATTACKER) for i in range(20)]
    assert [r.status_code for r in answers[:5]] == [401] * 5
    assert {r.status_code for r in answers[5:]} == {429}
    limited = answers[5]
    assert limited.get_json()["error"] == "too_many_attempts"
    assert 0 < int(limited.headers["Retry-After"]) <= 900
    assert limited.get_json()["message"] == "too many failed logins: try again in 3 minutes"
    # the right password from the attacking address waits too...
    assert token(client, "alice-pw-1", ATTACKER).status_code == 429
    # ...but alice's own address, which never failed, logs in at once
    assert token(client, "alice-pw-1", OFFICE).status_code == 200


def test_login_form_is_throttled_too(fast_app: Flask) -> None:
    client = fast_app.test_client()
    csrf = csrf_of(client)

    def form(password: str, address: str) -> Any:
        return client.post(
            "/login",
            data={"username": "alice", "password": password, "csrf_token": csrf},
            environ_base={"REMOTE_ADDR": address},
        )

    codes = [form(f"wrong-{i}", ATTACKER).status_code for i in range(20)]
    assert codes == [401] * 5 + [429] * 15
    r = form("alice-pw-1", ATTACKER)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert b"Too many failed logins" in r.data
    assert form("alice-pw-1", OFFICE).status_code == 302


def test_one_address_spraying_many_accounts_is_stopped(fast_app: Flask) -> None:
    client = fast_app.test_client()
    codes = [token(client, "guess", ATTACKER, user=f"user{i}").status_code for i in range(40)]
    assert codes[:30] == [401] * 30
    assert set(codes[30:]) == {429}
    assert token(client, "alice-pw-1", OFFICE).status_code == 200


def test_many_addresses_on_one_account_lock_out_only_those_that_failed(fast_app: Flask) -> None:
    client = fast_app.test_client()
    codes = [token(client, "guess", f"192.0.2.{i // 4}").status_code for i in range(40)]
    assert codes[:20] == [401] * 20  # 4 per address: under the pair budget
    # the account's budget is spent: each further address gets its first try, no more
    assert codes[20:] == [401, 429, 429, 429] * 5
    assert token(client, "alice-pw-1", "192.0.2.1").status_code == 429
    assert token(client, "alice-pw-1", OFFICE).status_code == 200
    # a fresh address gets one try at it, not more
    assert token(client, "guess", "192.0.2.200").status_code == 401
    assert token(client, "guess", "192.0.2.200").status_code == 429


def test_a_success_clears_the_pair(fast_app: Flask) -> None:
    client = fast_app.test_client()
    for _ in range(2):
        assert [token(client, "typo", OFFICE).status_code for _ in range(4)] == [401] * 4
        assert token(client, "alice-pw-1", OFFICE).status_code == 200


def test_every_worker_shares_the_budget(fast_app: Flask, chat_config: dict[str, Any]) -> None:
    other = create_app(chat_config | LIMITS, start_background=False).test_client()
    client = fast_app.test_client()
    for i in range(5):
        c = client if i % 2 else other
        assert token(c, "wrong", ATTACKER).status_code == 401
    assert token(other, "wrong", ATTACKER).status_code == 429
    assert token(client, "wrong", ATTACKER).status_code == 429


def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    chat_config: dict[str, Any], redis_url: str
) -> None:
    direct = create_app(chat_config | LIMITS, start_background=False).test_client()
    spoof = {"X-Forwarded-For": ATTACKER}
    for _ in range(5):
        direct.post("/api/auth/token", json={"username": "bob", "password": "x"}, headers=spoof)
    # without proxy_hops the header is ignored: all five counted against 127.0.0.1
    r = direct.post("/api/auth/token", json={"username": "bob", "password": "x"})
    assert r.status_code == 429
    proxied = create_app(
        chat_config | LIMITS | {"proxy_hops": 1}, start_background=False
    ).test_client()
    r = proxied.post("/api/auth/token", json={"username": "bob", "password": "x"}, headers=spoof)
    assert r.status_code == 401  # a different client address: its own budget


# --- the guard itself, with a clock we move --------------------------------------------


@pytest.fixture
def guard(rds: Any, redis_url: str) -> LoginGuard:
    import redis

    return LoginGuard(
        redis.Redis.from_url(redis_url),
        ChatKeys("default"),
        LoginLimits(pair=5, address=30, account=20, window_s=900),
    )


def test_the_lockout_refills_and_ends(guard: LoginGuard) -> None:
    t0 = 1_000_000.0
    for _ in range(5):
        guard.attempt("agent", "alice", ATTACKER, now=t0)
    with pytest.raises(Throttled) as e:
        guard.attempt("agent", "alice", ATTACKER, now=t0)
    assert e.value.retry_after == 180  # one failure refills every 900 / 5 s
    with pytest.raises(Throttled):
        guard.attempt("agent", "alice", ATTACKER, now=t0 + 179)
    guard.attempt("agent", "alice", ATTACKER, now=t0 + 180)  # one more try...
    with pytest.raises(Throttled):
        guard.attempt("agent", "alice", ATTACKER, now=t0 + 181)  # ...and no second one
    for _ in range(5):  # after a whole window the budget is full again
        guard.attempt("agent", "alice", ATTACKER, now=t0 + 181 + 900)


def test_concurrent_attempts_cannot_exceed_the_budget(guard: LoginGuard) -> None:
    allowed: list[int] = []
    start = threading.Barrier(20)

    def one() -> None:
        start.wait()
        try:
            guard.attempt("agent", "alice", ATTACKER, now=2_000_000.0)
            allowed.append(1)
        except Throttled:
            pass

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 5


@pytest.mark.parametrize(
    ("remote", "address"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # one customer's whole /64
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_client_address(remote: str | None, address: str) -> None:
    assert client_address(remote) == address
