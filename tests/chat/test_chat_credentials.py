"""Accounts (argon2 in the real Redis) and signed tokens."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from chat.accounts import AccountStore, Role
from chat.errors import AuthError, BadInput, NotFoundError
from chat.tokens import TokenSigner

pytestmark = pytest.mark.redis


def test_password_is_hashed_with_argon2(accounts: AccountStore, rds) -> None:
    accounts.set_password(Role.AGENT, "alice", "correct horse")
    stored = rds.hget("implus:{default}:chat:account:agent:alice", "hash")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert accounts.verify(Role.AGENT, "alice", "correct horse") is not None
    assert accounts.verify(Role.AGENT, "alice", "wrong horse!") is None
    assert accounts.verify(Role.ADMIN, "alice", "correct horse") is None  # roles are separate
    assert accounts.verify(Role.AGENT, "nobody", "correct horse") is None
    assert accounts.verify(Role.AGENT, "../etc", "correct horse") is None


def test_password_change_and_removal_bump_generation(accounts: AccountStore) -> None:
    a1 = accounts.set_password(Role.AGENT, "bob", "password-one")
    a2 = accounts.set_password(Role.AGENT, "bob", "password-two")
    assert a2.generation == a1.generation + 1
    accounts.remove(Role.AGENT, "bob")
    assert accounts.get(Role.AGENT, "bob") is None
    a3 = accounts.set_password(Role.AGENT, "bob", "password-three")
    assert a3.generation > a2.generation  # old tokens never come back to life
    with pytest.raises(NotFoundError):
        accounts.remove(Role.AGENT, "carol")


def test_bad_ids_and_passwords(accounts: AccountStore) -> None:
    with pytest.raises(BadInput, match="account id"):
        accounts.set_password(Role.AGENT, "a b", "long enough")
    with pytest.raises(BadInput, match="8 to 1024"):
        accounts.set_password(Role.AGENT, "ok", "short")


def test_customer_token_scope_and_tampering() -> None:
    signer = TokenSigner(b"k" * 40, customer_ttl=3600, staff_ttl=3600)
    token = signer.customer_token("u42", ("booking",))
    who = signer.read_customer(token)
    assert who.user_id == "u42"
    assert who.may_use("booking")
    assert not who.may_use("billing")
    forged = URLSafeTimedSerializer(b"other" * 10, salt="implus.chat.customer").dumps({"u": "u1"})
    with pytest.raises(AuthError, match="invalid or expired"):
        signer.read_customer(forged)
    with pytest.raises(AuthError):
        signer.read_customer(token[:-2] + "xx")
    # a staff token is not a customer token, and the other way round
    with pytest.raises(AuthError):
        signer.read_customer(signer.staff_token("alice", Role.AGENT, 1, "s1"))
    with pytest.raises(AuthError):
        signer.read_staff(token)


def test_tokens_expire() -> None:
    signer = TokenSigner(b"k" * 40, customer_ttl=3600, staff_ttl=3600)
    token = signer.customer_token("u42", ttl=60)
    signer.read_customer(token)
    later = TokenSigner(b"k" * 40, customer_ttl=3600, staff_ttl=3600)
    original = time.time
    try:
        time.time = lambda: original() + 120  # type: ignore[assignment]
        with pytest.raises(AuthError, match="expired"):
            later.read_customer(token)
    finally:
        time.time = original  # type: ignore[assignment]
