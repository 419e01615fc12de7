"""SIP messages as the relay sees them (RFC 3261 text over WebSocket, RFC 7118).

Just enough of SIP to check and rewrite what browsers send: the start line, headers in
order (compact forms understood), the body, the parts of a few headers (URI user, tag,
Via branch, CSeq), responses built from a request, and digest authentication (RFC 2617 /
RFC 7616: MD5 and SHA-256, qop=auth). Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "v": "via",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "e": "content-encoding",
    "s": "subject",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "y": "identity",
}
MAX_MESSAGE = 64 * 1024
_STATUS = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9]) ?(.*)$")
_REQUEST = re.compile(r"^([A-Z]{2,16}) (\S{1,2048}) SIP/2\.0$")


class SipParseError(ValueError):
    """The text is not a SIP message the relay will forward."""


def _canon(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


@dataclass
class SipMessage:
    """One SIP request or response; ``headers`` keep their order and spelling."""

    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    # --- start line --------------------------------------------------------------------
    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        """The request's method, or the method of the request a response answers."""
        if self.is_request:
            return self.start.split(" ", 1)[0]
        return cseq(self.get("cseq") or "")[1]

    @property
    def uri(self) -> str:
        return self.start.split(" ")[1] if self.is_request else ""

    @property
    def status(self) -> int:
        m = _STATUS.match(self.start)
        return int(m.group(1)) if m else 0

    # --- headers -----------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """The first value of a header (case-insensitive, compact forms too)."""
        want = _canon(name)
        return next((v for n, v in self.headers if _canon(n) == want), None)

    def get_all(self, name: str) -> list[str]:
        want = _canon(name)
        return [v for n, v in self.headers if _canon(n) == want]

    def set(self, name: str, value: str) -> None:
        """Replace the first header of that name (or append it)."""
        want = _canon(name)
        for i, (n, _) in enumerate(self.headers):
            if _canon(n) == want:
                self.headers[i] = (n, value)
                return
        self.headers.append((name, value))

    def remove(self, *names: str, prefix: str = "") -> None:
        """Drop every header with one of ``names`` or whose name starts with ``prefix``."""
        drop = {_canon(n) for n in names}
        low_prefix = prefix.lower()
        self.headers = [
            (n, v)
            for n, v in self.headers
            if _canon(n) not in drop and not (low_prefix and n.lower().startswith(low_prefix))
        ]

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def to_tag(self) -> str:
        return param(self.get("to") or "", "tag")

    @property
    def branch(self) -> str:
        return param(self.get("via") or "", "branch")

    def set_branch(self, branch: str) -> None:
        """Rewrite the top Via's branch."""
        via = self.get("via") or ""
        new = re.sub(r"(;\s*branch=)[^;,\s]+", lambda m: m.group(1) + branch, via, count=1)
        self.set("via", new)

    def set_cseq(self, number: int) -> None:
        self.set("cseq", f"{number} {self.method}")

    def __str__(self) -> str:
        body = self.body.encode()
        lines = [self.start]
        lines += [f"{n}: {v}" for n, v in self.headers if _canon(n) != "content-length"]
        lines.append(f"Content-Length: {len(body)}")
        return "\r\n".join(lines) + "\r\n\r\n" + self.body


def parse(text: str | bytes) -> SipMessage:
    """Parse one message; raises SipParseError for anything malformed or oversized."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as e:
            raise SipParseError("not UTF-8") from e
    if len(text) > MAX_MESSAGE:
        raise SipParseError("message too large")
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        raise SipParseError("no blank line after the headers")
    lines = head.split("\r\n")
    start = lines[0]
    if not (_REQUEST.match(start) or _STATUS.match(start)):
        raise SipParseError(f"bad start line {start[:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation
            n, v = headers[-1]
            headers[-1] = (n, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not re.fullmatch(r"[A-Za-z0-9!%*_+`'~.-]{1,64}", name.strip()):
            raise SipParseError(f"bad header line {line[:80]!r}")
        if any(c in value for c in "\r\n\x00"):
            raise SipParseError("control characters in a header")
        headers.append((name.strip(), value.strip()))
    msg = SipMessage(start, headers, body)
    for needed in ("via", "call-id", "cseq", "from", "to"):
        if msg.get(needed) is None:
            raise SipParseError(f"missing {needed} header")
    number, method = cseq(msg.get("cseq") or "")
    if number < 0 or (msg.is_request and method != msg.method):
        raise SipParseError("bad CSeq")
    return msg


def cseq(value: str) -> tuple[int, str]:
    """``"102 INVITE"`` -> ``(102, "INVITE")``; ``(-1, "")`` when malformed."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10:
        return -1, ""
    return int(parts[0]), parts[1]


def param(header: str, name: str) -> str:
    """A ``;name=value`` parameter of a header outside its ``<...>`` URI."""
    outside = re.sub(r"<[^>]*>", "", header)
    m = re.search(rf";\s*{re.escape(name)}=([^;,\s]+)", outside, re.IGNORECASE)
    return m.group(1).strip('"') if m else ""


def uri_of(header: str) -> str:
    """The URI of a name-addr (``"Bob" <sip:b@h>;tag=1``) or addr-spec header."""
    m = re.search(r"<([^>]*)>", header)
    return m.group(1) if m else header.split(";", 1)[0].strip()


def uri_user(uri: str) -> str:
    """``sip:800@host;transport=ws`` -> ``800`` ('' without a user part)."""
    m = re.match(r"^sips?:([^@;?]*)@", uri.strip())
    return m.group(1) if m else ""


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


def response(request: SipMessage, status: int, reason: str, to_tag: str = "") -> SipMessage:
    """A response to ``request`` (Via, From, To, Call-ID, CSeq copied; our tag added)."""
    reason = re.sub(r"[^\x20-\x7e]", " ", reason)[:120]
    out = SipMessage(f"SIP/2.0 {status} {reason}")
    for name in ("via", "from", "to", "call-id", "cseq"):
        for value in request.get_all(name):
            if name == "to" and not param(value, "tag") and status > 100:
                value += f";tag={to_tag or secrets.token_hex(6)}"
            out.headers.append((name.title() if name != "call-id" else "Call-ID", value))
    return out


def ack_for(request: SipMessage, final: SipMessage) -> SipMessage:
    """The hop-by-hop ACK for a non-2xx final response to an INVITE (RFC 3261 17.1.1.3)."""
    out = SipMessage(f"ACK {request.uri} SIP/2.0")
    out.headers.append(("Via", request.get("via") or ""))
    out.headers += [("Route", r) for r in request.get_all("route")]
    out.headers += [
        ("Max-Forwards", "70"),
        ("From", request.get("from") or ""),
        ("To", final.get("to") or ""),
        ("Call-ID", request.call_id),
        ("CSeq", f"{cseq(request.get('cseq') or '')[0]} ACK"),
    ]
    return out


def _digest_params(challenge: str) -> dict[str, str]:
    _, _, rest = challenge.partition(" ")
    return {
        k.lower(): v
        for k, v in (
            (m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
            for m in re.finditer(r'([A-Za-z0-9_-]+)=(?:"([^"]*)"|([^,\s]*))', rest)
        )
    }


def authorization(
    challenges: list[str], method: str, uri: str, username: str, password: str
) -> str | None:
    """The ``Authorization`` value answering a ``WWW-Authenticate`` challenge (several
    challenges: SHA-256 preferred, else MD5). None when none is a digest we support."""
    by_alg: dict[str, dict[str, str]] = {}
    for c in challenges:
        if not c.lower().startswith("digest "):
            continue
        p = _digest_params(c)
        alg = p.get("algorithm", "MD5").upper()
        qops = [q.strip() for q in p.get("qop", "auth").split(",")]
        if alg in ("MD5", "SHA-256") and "auth" in qops:
            by_alg.setdefault(alg, p)
    alg = "SHA-256" if "SHA-256" in by_alg else "MD5" if "MD5" in by_alg else ""
    if not alg:
        return None
    p = by_alg[alg]

    def h(s: str) -> str:
        fn = hashlib.sha256 if alg == "SHA-256" else hashlib.md5
        return fn(s.encode()).hexdigest()

    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    ha1 = h(f"{username}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    parts = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f"algorithm={alg}",
    ]
    if "qop" in p:
        cnonce, nc = secrets.token_hex(8), "00000001"
        digest = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += [f'cnonce="{cnonce}"', "qop=auth", f"nc={nc}"]
    else:
        digest = h(f"{ha1}:{nonce}:{ha2}")
    parts.insert(4, f'response="{digest}"')
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    return "Digest " + ",".join(parts)
