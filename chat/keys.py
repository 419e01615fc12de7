"""Every Redis key the chat service owns (the router's keys live in ``router.keys``).

Chat keys share the router's ``implus:{domain}:`` prefix so a Redis Cluster keeps a
domain on one shard, under a ``chat:`` sub-prefix so they can never collide.

===============================  ======  =================================================
key (after ``implus:{domain}:``)  type    lifetime / meaning
===============================  ======  =================================================
chat:account:<kind>:<id>         hash    login of an agent or admin (argon2 hash, gen);
                                         until removed
chat:accounts:<kind>             set     ids of the accounts of a kind; until removed
chat:files:<session>             hash    sha256 -> JSON metadata of files shared in the
                                         session; kept as long as the session history
chat:receipts:<session>          hash    party -> last transcript entry id it has seen;
                                         same lifetime
chat:customer:<user>             string  JSON profile of a customer (name, language, tags,
                                         vip) from the site's backend; until replaced
chat:visit:<session>             string  JSON of where the session's chat started (page,
                                         browser); expires after 30 days
chat:canned                      hash    canned reply id -> JSON (shortcut, title, text);
                                         until an admin removes it
chat:signals                     pubsub  ephemeral signals between instances (typing,
                                         receipts); nothing stored
chat:staff-session:<sid>         string  "<kind>:<id>" of a live agent/admin login session;
                                         expires with its token (staff_token_ttl), deleted
                                         on logout or revocation
chat:staff-sessions:<kind>:<id>  set     ids of the account's sessions (for "revoke all");
                                         expires staff_token_ttl after the last login
chat:login:pair:<kind>:<id>:     hash    failed logins of one address on one account (n,
<address>                                t ms), decaying; expires once it decayed to 0
chat:login:address:<address>     hash    failed logins from one address on any account;
                                         same
chat:login:account:<kind>:<id>   hash    failed logins on one account from any address;
                                         same
===============================  ======  =================================================

``<address>`` is an IPv4 address or an IPv6 /64 network (see chat.login_guard).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatKeys:
    """Key names for one routing domain."""

    domain: str = "default"
    namespace: str = "implus"

    @property
    def prefix(self) -> str:
        return f"{self.namespace}:{{{self.domain}}}:chat:"

    def account(self, kind: str, account_id: str) -> str:
        return f"{self.prefix}account:{kind}:{account_id}"

    def accounts(self, kind: str) -> str:
        return f"{self.prefix}accounts:{kind}"

    def files(self, session_id: str) -> str:
        return f"{self.prefix}files:{session_id}"

    def receipts(self, session_id: str) -> str:
        return f"{self.prefix}receipts:{session_id}"

    def signals(self) -> str:
        return self.prefix + "signals"

    def staff_session(self, session_id: str) -> str:
        return f"{self.prefix}staff-session:{session_id}"

    def staff_sessions(self, kind: str, account_id: str) -> str:
        return f"{self.prefix}staff-sessions:{kind}:{account_id}"

    def login_pair(self, kind: str, account_id: str, address: str) -> str:
        return f"{self.prefix}login:pair:{kind}:{account_id}:{address}"

    def login_address(self, address: str) -> str:
        return f"{self.prefix}login:address:{address}"

    def login_account(self, kind: str, account_id: str) -> str:
        return f"{self.prefix}login:account:{kind}:{account_id}"

    def customer(self, user_id: str) -> str:
        return f"{self.prefix}customer:{user_id}"

    def visit(self, session_id: str) -> str:
        return f"{self.prefix}visit:{session_id}"

    def canned(self) -> str:
        return self.prefix + "canned"
