"""The SIP relay's rules (chat.sip_relay) on SIP.js-shaped messages: what a customer's or
an agent's browser may send, the headers it may not set, and the relay's own digest
answer to the PBX's challenge (CSeq and Via branch kept consistent for both ends)."""

from __future__ import annotations

import hashlib

from chat import sip_message as sip
from chat.sip_relay import RelayCore

CUSTOMER = "implus-webrtc-customers"


def request(
    method: str,
    uri: str,
    from_user: str = CUSTOMER,
    to: str = "",
    call_id: str = "c1",
    cseq: int = 1,
    branch: str = "z9hG4bKbrowser1",
    to_tag: str = "",
    extra: tuple[tuple[str, str], ...] = (),
    body: str = "",
) -> str:
    to_uri = to or uri
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/WSS abc.invalid;branch={branch}",
        "Max-Forwards: 70",
        f"To: <{to_uri}>" + (f";tag={to_tag}" if to_tag else ""),
        f"From: <sip:{from_user}@implus.invalid>;tag=fromtag",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        *(f"{k}: {v}" for k, v in extra),
        f"Content-Length: {len(body.encode())}",
    ]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def respond(text: str, status: int, reason: str, extra: tuple[tuple[str, str], ...] = ()) -> str:
    msg = sip.response(sip.parse(text), status, reason, to_tag="pbxtag")
    msg.headers += list(extra)
    return str(msg)


def customer() -> RelayCore:
    return RelayCore(
        "customer", CUSTOMER, "s3cret", numbers=frozenset({"810"}), user_id="u77", service="booking"
    )


def only(out: list[tuple[str, str]], dest: str) -> sip.SipMessage:
    assert [d for d, _ in out] == [dest], out
    return sip.parse(out[0][1])


def test_customer_invite_to_the_voip_line_is_stamped_and_stripped() -> None:
    core = customer()
    forged = (
        ("X-Implus-User", "victim"),
        ("x-implus-service", "billing"),
        ("P-Asserted-Identity", "<sip:1001@pbx>"),
        ("Authorization", 'Digest username="1001"'),
    )
    sent = only(
        core.from_browser(
            request("INVITE", "sip:810@implus.invalid", extra=forged, body="v=0\r\n")
        ),
        "pbx",
    )
    assert sent.get_all("X-Implus-User") == ["u77"]
    assert sent.get_all("X-Implus-Service") == ["booking"]
    assert sent.get("P-Asserted-Identity") is None and sent.get("Authorization") is None
    assert sent.body == "v=0\r\n"


def test_customer_may_not_dial_anything_else() -> None:
    core = customer()
    for number in ("1001", "800", "9990", "*97", "810;x", "0049301234"):
        reply = only(
            core.from_browser(request("INVITE", f"sip:{number}@implus.invalid")), "browser"
        )
        assert reply.status == 403
        assert "only this service's VoIP line" in reply.start
    for method in ("REGISTER", "MESSAGE", "SUBSCRIBE", "OPTIONS", "PUBLISH"):
        reply = only(core.from_browser(request(method, "sip:810@implus.invalid")), "browser")
        assert reply.status == 403, method
    # a REFER inside its own call would let Asterisk transfer anywhere: never
    core.from_browser(request("INVITE", "sip:810@implus.invalid"))
    refer = request(
        "REFER", "sip:810@pbx", to_tag="pbxtag", cseq=2, extra=(("Refer-To", "<sip:1001@pbx>"),)
    )
    assert only(core.from_browser(refer), "browser").status == 403
    # pretending to be someone else
    assert (
        only(core.from_browser(request("INVITE", "sip:810@x", from_user="1001")), "browser").status
        == 403
    )


def test_requests_outside_its_own_calls_are_refused() -> None:
    core = customer()
    bye = request("BYE", "sip:810@pbx", call_id="someone-elses", to_tag="t", cseq=5)
    assert only(core.from_browser(bye), "browser").status == 481
    assert core.from_browser(request("ACK", "sip:810@pbx", call_id="other", to_tag="t")) == []
    assert core.from_browser("not sip at all") == []
    assert core.from_browser(b"\xff\xfe") == []


def test_the_relay_answers_the_challenge_and_keeps_cseq_and_branch_consistent() -> None:
    core = customer()
    invite = request("INVITE", "sip:810@implus.invalid", cseq=3, body="v=0\r\n")
    first = only(core.from_browser(invite), "pbx")
    challenge = respond(
        str(first),
        401,
        "Unauthorized",
        (
            (
                "WWW-Authenticate",
                'Digest realm="asterisk",nonce="abc",opaque="op",algorithm=MD5,qop="auth"',
            ),
        ),
    )
    out = core.from_pbx(challenge)
    assert [d for d, _ in out] == ["pbx", "pbx"]  # the ACK of the 401, then the retry
    ack, retry = sip.parse(out[0][1]), sip.parse(out[1][1])
    assert ack.method == "ACK" and ack.get("cseq") == "3 ACK" and ack.branch == "z9hG4bKbrowser1"
    assert retry.get("cseq") == "4 INVITE" and retry.branch != "z9hG4bKbrowser1"
    auth = retry.get("authorization") or ""
    ha1 = hashlib.md5(f"{CUSTOMER}:asterisk:s3cret".encode()).hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:810@implus.invalid").hexdigest()
    cnonce = sip._digest_params(auth)["cnonce"]
    want = hashlib.md5(f"{ha1}:abc:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    assert f'response="{want}"' in auth and 'opaque="op"' in auth

    # The PBX's answers come back in the browser's numbering and branch.
    ok = only(core.from_pbx(respond(str(retry), 200, "OK")), "browser")
    assert ok.get("cseq") == "3 INVITE" and ok.branch == "z9hG4bKbrowser1"
    # ... and the browser's ACK / BYE go up shifted.
    ack2 = only(
        core.from_browser(
            request("ACK", "sip:810@pbx", cseq=3, to_tag="pbxtag", branch="z9hG4bKa2")
        ),
        "pbx",
    )
    assert ack2.get("cseq") == "4 ACK"
    bye = only(
        core.from_browser(
            request("BYE", "sip:810@pbx", cseq=4, to_tag="pbxtag", branch="z9hG4bKb2")
        ),
        "pbx",
    )
    assert bye.get("cseq") == "5 BYE"


def test_a_second_challenge_becomes_a_clear_503() -> None:
    core = customer()
    first = only(core.from_browser(request("INVITE", "sip:810@implus.invalid")), "pbx")
    header = (("WWW-Authenticate", 'Digest realm="asterisk",nonce="n1",algorithm=MD5'),)
    retry = sip.parse(core.from_pbx(respond(str(first), 401, "Unauthorized", header))[1][1])
    out = core.from_pbx(respond(str(retry), 401, "Unauthorized", header))
    reply = sip.parse(out[-1][1])
    assert out[-1][0] == "browser" and reply.status == 503
    assert reply.get("cseq") == "1 INVITE" and reply.branch == "z9hG4bKbrowser1"


def test_agent_registers_as_itself_only_and_takes_the_pbxs_calls() -> None:
    core = RelayCore("agent", "2001", "agent-secret")
    reg = request(
        "REGISTER",
        "sip:implus.invalid",
        from_user="2001",
        to="sip:2001@implus.invalid",
        extra=(("Expires", "99999"),),
    )
    up = only(core.from_browser(reg), "pbx")
    assert up.get("expires") == "600"
    other = request(
        "REGISTER", "sip:implus.invalid", from_user="2001", to="sip:1001@implus.invalid"
    )
    assert only(core.from_browser(other), "browser").status == 403
    dial = request("INVITE", "sip:0049301234@implus.invalid", from_user="2001", call_id="out")
    reply = only(core.from_browser(dial), "browser")
    assert reply.status == 403 and "desktop" in reply.start
    # The PBX rings the softphone; the browser answers and hangs up inside that call.
    ring = request("INVITE", "sip:x@y.invalid;transport=ws", from_user="5551234", call_id="in1")
    assert only(core.from_pbx(ring), "browser").method == "INVITE"
    assert only(core.from_browser(respond(ring, 200, "OK")), "pbx").status == 200
    bye = request("BYE", "sip:5551234@pbx", from_user="2001", call_id="in1", to_tag="t", cseq=7)
    assert only(core.from_browser(bye), "pbx").method == "BYE"
