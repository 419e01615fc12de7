"""The phones the fake switch can ring, and how each reacts to an INVITE.

The test decides how each phone answers (`add_phone(user, Answer(after=0.05))`, `Ring()`,
`Busy()`, `Reject()`, `Unreachable()`); `resolve` finds the phone a dial string reaches
(`user/<user>`, `sofia/<profile>/<user>@<host>`, `sofia/gateway/<gateway>/<number>`) and
`ring` waits for its answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .leg import Leg

# -- how a phone (an agent's, or a customer's behind a gateway) reacts to an INVITE -------------


@dataclass(frozen=True)
class Answer:
    """Rings, then answers after `after` seconds."""

    after: float = 0.05


@dataclass(frozen=True)
class Ring:
    """Rings until the originate gives up (`originate_timeout`): NO_ANSWER."""


@dataclass(frozen=True)
class Busy:
    """Answers 486 Busy Here (after ringing `ring_for` seconds): USER_BUSY."""

    ring_for: float = 0.0


@dataclass(frozen=True)
class Reject:
    """Refuses with `cause` (after ringing `ring_for` seconds), e.g. CALL_REJECTED."""

    cause: str = "CALL_REJECTED"
    ring_for: float = 0.0


@dataclass(frozen=True)
class Unreachable:
    """Nothing answers at the address: NORMAL_TEMPORARY_FAILURE at once (recording 05)."""


Behaviour = Answer | Ring | Busy | Reject | Unreachable


@dataclass
class Phone:
    """A SIP phone the switch can reach: an agent's extension or a customer's number."""

    user: str
    behaviour: Behaviour
    registered: bool
    domain: str
    contact_host: str


def ring(leg: Leg, behaviour: Behaviour, timeout: float) -> str | None:
    """Ring the phone `behaviour` describes for `leg` (at most `timeout` seconds, or until
    the leg is killed): the failure cause, or None once it answered."""
    if isinstance(behaviour, Unreachable):
        return "NORMAL_TEMPORARY_FAILURE"
    if isinstance(behaviour, Answer):
        if behaviour.after >= timeout:
            return "NO_ANSWER" if not leg.killed.wait(timeout) else leg.cause
        return leg.cause if leg.killed.wait(behaviour.after) else None
    if isinstance(behaviour, Ring):
        return leg.cause if leg.killed.wait(timeout) else "NO_ANSWER"
    ring_for = behaviour.ring_for
    if leg.killed.wait(min(ring_for, timeout)):
        return leg.cause
    if ring_for >= timeout:
        return "NO_ANSWER"
    return "USER_BUSY" if isinstance(behaviour, Busy) else behaviour.cause


def resolve(
    endpoint: str, phones: dict[str, Phone], trunk_phone: Behaviour | None
) -> tuple[Phone | None, str | None, str, str, str]:
    """(phone, failure cause, sofia profile, contact host, user) for a dial string: `phones`
    by user, `trunk_phone` for a number dialled through a gateway without a phone of its own."""
    kind, _, rest = endpoint.partition("/")
    if kind == "error":
        return None, rest or "NORMAL_CLEARING", "", "", ""
    if kind == "user":
        user, _, _domain = rest.partition("@")
        phone = phones.get(user)
        if phone is None or not phone.registered:
            return None, "USER_NOT_REGISTERED", "", "", ""
        return phone, None, "internal", phone.contact_host, user
    if kind == "sofia":
        profile, _, target = rest.partition("/")
        if profile == "gateway":
            gateway, _, number = target.partition("/")
            phone = phones.get(number) or Phone(number, trunk_phone or Unreachable(), False, "", "")
            return phone, None, gateway, f"{gateway}.gateway", number
        user, _, host = target.partition("@")
        phone = phones.get(user)
        if phone is None or (host and phone.contact_host != host):
            phone = Phone(user, Unreachable(), False, "", host)
        return phone, None, profile, host, user
    return None, "CHAN_NOT_IMPLEMENTED", "", "", ""


def split_variables(dialstring: str) -> tuple[list[tuple[str, str]], str]:
    """`{a=1,b=2}endpoint` -> ([("a", "1"), ("b", "2")], "endpoint")."""
    if not dialstring.startswith("{") or "}" not in dialstring:
        return [], dialstring
    inner, _, endpoint = dialstring[1:].partition("}")
    pairs = []
    for item in inner.split(","):
        name, _, value = item.partition("=")
        if name:
            pairs.append((name.strip(), value.strip().strip("'")))
    return pairs, endpoint


def registration_row(phone: Phone, hostname: str, expires: str) -> dict[str, str]:
    """A registered `phone` as a row of `show registrations` (api.REGISTRATION_COLUMNS)."""
    return {
        "reg_user": phone.user,
        "realm": phone.domain,
        "token": f"{phone.user}-{phone.contact_host}",
        "url": f"sofia/internal/sip:{phone.user}@{phone.contact_host}",
        "expires": expires,
        "network_ip": phone.contact_host.partition(":")[0],
        "network_port": phone.contact_host.partition(":")[2] or "5060",
        "network_proto": "udp",
        "hostname": hostname,
        "metadata": "",
    }
