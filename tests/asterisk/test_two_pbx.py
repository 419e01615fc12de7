"""One router, two PBXs (issue 5): the AMI bridge on the sandbox Asterisk and the ESL bridge on
the fake FreeSWITCH, both real `implus` processes, on ONE redis-server with ONE allocation
worker and ONE admin YAML (both PBXs, an inter-PBX trunk, agents and entry points on each).

What is real and what plays a part:
- Asterisk side: real SIP calls (sipp customers and agent phones) on the sandbox Asterisk 22
  with the dialplan `implus dialplan apply` generates for it, and `implus ami-bridge`.
- FreeSWITCH side: `python -m esl_bridge` against the wire-faithful fake FreeSWITCH
  (tests/freeswitch_fixture), which follows the dialplan rendered from the same YAML.
- Asterisk -> the agent on FreeSWITCH: Asterisk rings `PJSIP/<ext>@implus-trunk-...`, a real
  SIP INVITE over the inter-PBX trunk to the FreeSWITCH PBX's sip_host:sip_port. The fake
  switch speaks no SIP, so a sipp UAS listening at that address plays "FreeSWITCH and that
  agent's phone": the SIP leg is real up to the far PBX's address, the far PBX is sipp.
- FreeSWITCH -> the agent on Asterisk: the ESL bridge has the fake switch originate over the
  trunk's gateway (`sofia/gateway/implus-trunk-.../<ext>`); the fake answers that leg itself
  (as in tests/fsbridge/test_fsbridge_inter_pbx.py), and the INVITE FreeSWITCH would send
  over the trunk is sent by a sipp UAC from the FreeSWITCH PBX's SIP address, so Asterisk's
  generated `implus-inter-pbx` context really rings the agent's sipp phone (the two are not
  coupled: the fake answers after 1 s whatever sipp does). The agent's presence comes from
  the real AMI bridge (the sandbox qualifies the agent's sipp phone).
- A customer who called on FreeSWITCH and then chats (a `chat` request filed through
  router.client, as the chat service does) stays in one session with the same agent.

Routing is asserted through the router's state (which agent accepted which request, whose
session it is, which bridge wrote the call events), not through the bridges' counters.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from callcentre import PHONE_SETTLE_S, CallCentre, wait_for, wait_steady
from freeswitch_fixture.phones import Answer
from freeswitch_fixture.server import FakeFreeSwitch

from admin_config.model import load_admin_config
from admin_config.targets import trunk_name
from devstack import configs
from devstack.lab import PBX_ID, LabAgent, LabEntry
from router.model import RequestState, RoutingRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fsbridge"))
import fsbridge_harness as esl  # lives beside the ESL bridge's own tests

pytestmark = pytest.mark.asterisk

AST = PBX_ID  # the sandbox Asterisk
FS = esl.PBX  # the fake FreeSWITCH

FS_SIP_HOST = "127.0.0.3"  # where Asterisk sends the trunk's INVITEs: sipp plays FreeSWITCH
FS_SIP_PORT = 5080
TRUNK = "ast_fs"

# Forced targets: booking -> alice only (phone on Asterisk), billing -> anna only (phone on
# FreeSWITCH). carol is chat-only with the better booking skill: she wins any booking request
# that is not filed for a known agent (the strategy orders booking by highest skill).
# alice's phone listens on a port no other Asterisk test uses: a BYE Asterisk still resends
# to an earlier test's phone (for 32 s after it died mid-call) must not reach it - sipp
# counts such a BYE as a failed call and a two-call phone exits after one (CI at 26d28f4).
ALICE = LabAgent("alice", "1001", 5086, {"booking": 1})
ANNA = {
    "id": "anna", "name": "Anna", "pbx": FS, "endpoint": "2001",
    "password_env": "IMPLUS_TEST_SIP", "skills": {"billing": 1},
    "capacity": {"voice": 1, "chat": 3, "voip": 1},
}  # fmt: skip
CAROL = {
    "id": "carol", "name": "Carol", "skills": {"booking": 9},
    "capacity": {"voice": 0, "voip": 0, "chat": 3},
}  # fmt: skip
AST_BOOKING = LabEntry("booking_ast", "800", "booking")
AST_BILLING = LabEntry("billing_ast", "801", "billing")
FS_ENTRIES = [
    {"id": "booking_fs", "pbx": FS, "extension": "810", "service": "booking", "max_wait": 120},
    {"id": "billing_fs", "pbx": FS, "extension": "811", "service": "billing", "max_wait": 120},
]


def add_freeswitch(fs_port: int) -> Callable[[dict[str, Any]], None]:
    """The Lab's admin-dict hook: the fake FreeSWITCH PBX, its agent and entry points, a
    chat-only agent, and the inter-PBX trunk between the two PBXs."""

    def hook(data: dict[str, Any]) -> None:
        data["pbxs"][0]["sip_host"] = configs.SIP_HOST
        data["pbxs"].append(
            {
                "id": FS,
                "kind": "freeswitch",
                "host": "127.0.0.1",
                "port": fs_port,
                "secret_env": esl.ESL_PASSWORD_ENV,
                "domain": "127.0.0.1",
                "sip_host": FS_SIP_HOST,
                "sip_port": FS_SIP_PORT,
            }
        )
        data["agents"] += [ANNA, CAROL]
        data["entry_points"] += FS_ENTRIES
        data["trunks"].append({"id": TRUNK, "kind": "inter_pbx", "pbxs": [AST, FS]})

    return hook


def trunk_pjsip() -> str:
    """The inter-PBX trunk on the sandbox (Lab writes pjsip_implus.conf itself): what the
    renderer generates, with RTP kept on loopback and no qualify (sipp plays the far PBX only
    while a test needs it)."""
    name = trunk_name(TRUNK)
    return (
        f"[{name}]\ntype = endpoint\ncontext = implus-inter-pbx\ndisallow = all\n"
        f"allow = ulaw,alaw\ndirect_media = no\naors = {name}\n"
        f"media_address = {configs.SIP_HOST}\nbind_rtp_to_media_address = yes\n\n"
        f"[{name}]\ntype = aor\ncontact = sip:{FS_SIP_HOST}:{FS_SIP_PORT}\n\n"
        f"[{name}-identify]\ntype = identify\nendpoint = {name}\n"
        f"match = {FS_SIP_HOST}:{FS_SIP_PORT}\n\n"
    )


@dataclass
class TwoPbx:
    cc: CallCentre
    fs: esl.Stack

    def check_alive(self) -> None:
        assert self.cc.bridge is not None
        assert self.cc.bridge.proc is not None and self.cc.bridge.proc.poll() is None, (
            "the AMI bridge died:\n" + self.cc.bridge.tail()
        )
        assert self.fs.bridge.alive(), "the ESL bridge died:\n" + self.esl_log()[-6000:]

    def esl_log(self) -> str:
        return self.fs.bridge.log.read_text(errors="replace")

    def explain(self) -> str:
        return (
            self.cc.explain() + "\nESL bridge log:\n" + "\n".join(self.esl_log().splitlines()[-40:])
        )

    def wait_phone(self, agent: str, settle: bool = True) -> None:
        """Until the router sees the agent's phone available, with a live lease (from
        whichever bridge the phone's PBX has), for PHONE_SETTLE_S in a row if `settle`."""

        def check() -> bool:
            a = self.cc.client.agent(agent)
            return (
                a is not None
                and a.devices.get("sip") == "available"
                and a.leases.get("sip", 0) > time.time() * 1000
            )

        def describe() -> object:
            a = self.cc.client.agent(agent)
            return (a and (a.devices, a.leases, a.status), time.time(), self.phone_story(agent))

        # 40 s: this test runs two PBXs' worth of processes; on a loaded machine sipp answers
        # some of Asterisk's 1 s OPTIONS pings late and the phone reads offline meanwhile.
        wait_steady(
            f"{agent}'s phone available in the router",
            check,
            PHONE_SETTLE_S if settle else 0,
            40,
            describe,
        )

    def phone_story(self, agent: str) -> str:
        """What the PBX and the bridge last said about an Asterisk agent's phone (for a
        failed wait): Asterisk's contacts and the bridge's lines about it or its link."""
        if agent != ALICE.id:  # the one agent of this test with a phone on Asterisk
            return ""
        endpoint = ALICE.endpoint
        contacts = self.cc.box.cli(f"pjsip show contacts like {endpoint}", check=False)
        marks = (endpoint, f" {agent}", "ready:", "link", "Link", "ERROR", "WARNING")
        log = self.cc.bridge.text() if self.cc.bridge else ""
        lines = [ln for ln in log.splitlines() if any(m in ln for m in marks)]
        return "\nAsterisk contacts:\n" + contacts + "\nAMI bridge:\n" + "\n".join(lines[-40:])

    def fs_request(self, call_uuid: str, state: RequestState) -> RoutingRequest:
        """The routing request the ESL bridge filed for fake-switch call `call_uuid`, once in
        `state`."""
        try:
            request: RoutingRequest = self.fs.wait_request(call_uuid, state.value, timeout=15)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.cc.explain()}") from None
        return request

    def leg_on(self, profile: str) -> Any:
        """A channel of the fake switch on sofia profile (or gateway) `profile`, if any."""
        with self.fs.calls.lock:
            return next((c for c in self.fs.calls.legs.values() if c.profile == profile), None)

    def sip_device(self, agent: str) -> str:
        state = self.cc.client.agent(agent)
        return state.devices.get("sip", "") if state is not None else ""

    def call_entries(self, session_id: str) -> list[dict[str, Any]]:
        return [e for e in self.cc.client.transcript(session_id) if e["type"].startswith("call.")]

    def assert_served(self, request: RoutingRequest, pbx: str, agent: str) -> None:
        """The router gave the request to `agent`, the session is theirs, and the call events
        in the session come from `pbx`'s bridge, with `agent` answering."""
        why = self.explain()
        assert request.pbx == pbx, (request, why)
        assert request.agent == agent, (request, why)
        self.cc.wait_owner(request.session_id, agent)
        entries = [
            e for e in self.call_entries(request.session_id) if e.get("call_id") == request.call_id
        ]
        assert entries, why
        assert {e["pbx"] for e in entries} == {pbx}, (entries, why)
        answered = [e for e in entries if e["type"] == "call.answered"]
        assert [(e["party"], e.get("agent", "")) for e in answered][-1] == ("agent", agent), (
            answered,
            why,
        )
        assert "call.bridged" in {e["type"] for e in entries}, (entries, why)


@pytest.fixture
def two_pbx(call_centre: CallCentre, redis_url: str, tmp_path: Path) -> Iterator[TwoPbx]:
    fake = FakeFreeSwitch().start()
    esl_bridge: esl.BridgeProcess | None = None
    try:
        cc = call_centre
        cc.lab.agents = [ALICE]
        cc.lab.entries = [AST_BOOKING, AST_BILLING]
        cc.lab.admin_hook = add_freeswitch(fake.port)
        cc.lab.extra_pjsip = trunk_pjsip()
        cc.start(offer_timeout=6)  # writes the one admin YAML, installs, worker, AMI bridge
        config = load_admin_config(cc.lab.config_path)
        fake.calls.use_dialplan(esl.rendered_dialplan(config))
        esl_bridge = esl.BridgeProcess(cc.lab.config_path, redis_url, tmp_path / "esl-bridge.log")
        world = TwoPbx(cc, esl.Stack(fake, cc.client, config, esl_bridge))
        world.fs.start_bridge()
        yield world
        world.check_alive()
        log = world.esl_log()
        assert "Traceback" not in log, f"the ESL bridge logged an error:\n{log[-6000:]}"
        if cc.bridge is not None:
            assert "Traceback" not in cc.bridge.text(), cc.bridge.tail()
    finally:
        if esl_bridge is not None:
            esl_bridge.stop()
        fake.stop()


def test_agents_on_both_pbxs_take_calls_from_both_pbxs(two_pbx: TwoPbx) -> None:
    world, cc, fs = two_pbx, two_pbx.cc, two_pbx.fs
    # alice's phone (on Asterisk) answers two calls: one from an Asterisk caller (1) and one
    # that comes over the inter-PBX trunk from FreeSWITCH (4); it stays up (qualified)
    # throughout, so the AMI bridge keeps her phone available.
    with cc.sipp.phone(ALICE.port, "answer", ring=0.2, calls=2) as alice_phone:
        cc.qualify(ALICE.endpoint)
        cc.desktop_online("alice")
        fs.agent_ready("anna", Answer(after=0.1))  # desktop, and the phone registers on fs1
        world.wait_phone("alice")
        world.wait_phone("anna")

        # 1. A caller on Asterisk, for booking: alice's phone on Asterisk rings.
        call = cc.sipp.customer_call(AST_BOOKING.extension, caller="5550201", hold=1.0)
        assert call.wait(30).ok, call.result().describe() + world.explain()
        request = cc.request_for("5550201")
        cc.wait_request(request.id, RequestState.CLOSED)
        world.assert_served(cc.client.request(request.id) or request, AST, "alice")
        assert alice_phone.result().count("INVITE", "received") == 1

        # 2. A caller on Asterisk, for billing: anna's phone is on FreeSWITCH; Asterisk rings
        # her over the inter-PBX trunk (sipp at the FreeSWITCH PBX's SIP address answers).
        with cc.sipp.phone(
            FS_SIP_PORT, "answer", ring=0.2, talk=1.0, calls=1, host=FS_SIP_HOST
        ) as far_pbx:
            call = cc.sipp.customer_call(AST_BILLING.extension, caller="5550202", hold=None)
            assert call.wait(30).ok, call.result().describe() + world.explain()
            far = far_pbx.wait(20)
        assert far.ok, far.describe() + world.explain()
        invites = [m.first_line for m in far.messages if m.method == "INVITE"]
        assert [i.split()[1] for i in invites] == [f"sip:{ANNA['endpoint']}@{FS_SIP_HOST}:5080"]
        request = cc.request_for("5550202")
        cc.wait_request(request.id, RequestState.CLOSED)
        world.assert_served(cc.client.request(request.id) or request, AST, "anna")
        assert fs.calls.rows() == [], "the fake FreeSWITCH had a channel of its own"

        # 3. A caller on FreeSWITCH, for billing: anna's phone on FreeSWITCH.
        caller = fs.calls.dial(FS_ENTRIES[1]["extension"], "+4930000203")
        accepted = world.fs_request(caller, RequestState.ACCEPTED)
        leg = fs.wait(lambda: (c := fs.calls.leg(caller)) is not None and c.peer, "anna's leg")
        assert (leg.profile, leg.number) == ("internal", ANNA["endpoint"])  # user/2001
        fs.calls.hangup(caller)
        closed = world.fs_request(caller, RequestState.CLOSED)
        assert closed.id == accepted.id
        world.assert_served(closed, FS, "anna")

        # 4. A caller on FreeSWITCH, for booking: alice's phone is on Asterisk. The ESL bridge
        # rings her over the trunk's gateway; the fake switch answers that leg itself (after
        # 1 s), and what FreeSWITCH would send over the trunk is sent by sipp from the
        # FreeSWITCH PBX's SIP address: Asterisk's implus-inter-pbx context rings alice's
        # real phone.
        fs.calls.add_phone(ALICE.endpoint, Answer(after=1.0), register=False)  # behind the trunk
        # Under load sipp can miss one of Asterisk's 1 s OPTIONS pings during step 1's call:
        # the phone then reads offline until the next ping is answered. Offers need it up.
        cc.qualify(ALICE.endpoint)
        world.wait_phone("alice")
        caller = fs.calls.dial(FS_ENTRIES[0]["extension"], "+4930000204")
        try:
            gateway_leg = fs.wait(
                lambda: world.leg_on(trunk_name(TRUNK)), "FreeSWITCH ringing alice over the trunk"
            )
        except AssertionError as e:
            alice = cc.client.agent("alice")
            raise AssertionError(f"{e}\nalice in the router: {alice}\n{world.explain()}") from None
        assert gateway_leg.number == ALICE.endpoint
        over_trunk = cc.sipp.customer_call(
            ALICE.endpoint, caller="+4930000204", hold=2.0, source=(FS_SIP_HOST, FS_SIP_PORT)
        )
        accepted = world.fs_request(caller, RequestState.ACCEPTED)
        # the AMI bridge sees alice's phone taken by the call from the other PBX
        wait_for("alice's phone busy", lambda: world.sip_device("alice") == "busy", 10)
        assert over_trunk.wait(30).ok, over_trunk.result().describe() + world.explain()
        leg = fs.wait(lambda: (c := fs.calls.leg(caller)) is not None and c.peer, "alice's leg")
        assert leg.uuid == gateway_leg.uuid
        fs.calls.hangup(caller)
        closed = world.fs_request(caller, RequestState.CLOSED)
        assert closed.id == accepted.id
        world.assert_served(closed, FS, "alice")
        alice = alice_phone.wait(20)
    assert alice.ok, alice.describe()
    assert alice.count("INVITE", "received") == 2
    # The trunk call is no routing request of the AMI bridge: the caller's only request is
    # the one the ESL bridge filed.
    requests = [
        e["request"]
        for session in cc.client.history("+4930000204")
        for e in cc.client.transcript(session.id)
        if e["type"] == "request"
    ]
    assert requests == [closed.id], world.explain()
    # free again, reported by the AMI bridge (at once: the sipp phone has just exited, and
    # its qualify will soon fail)
    world.wait_phone("alice", settle=False)
    world.check_alive()


def test_a_caller_who_then_chats_keeps_one_session_and_agent(two_pbx: TwoPbx) -> None:
    """A customer calls on FreeSWITCH and talks to alice (phone on Asterisk), then opens a
    chat: the chat joins the call's session and is offered to alice, the known agent - not
    to carol, who has the better booking skill."""
    world, cc, fs = two_pbx, two_pbx.cc, two_pbx.fs
    with cc.sipp.phone(ALICE.port, "answer", calls=1):
        cc.qualify(ALICE.endpoint)
        cc.desktop_online("alice")
        world.wait_phone("alice")
        fs.calls.add_phone(ALICE.endpoint, Answer(after=0.1), register=False)
        caller = fs.calls.dial(FS_ENTRIES[0]["extension"], "+4930000205")
        call = world.fs_request(caller, RequestState.ACCEPTED)
        assert call.agent == "alice", world.explain()
        # accepted = alice answered; the caller is bridged a moment later (uuid_bridge)
        fs.wait(lambda: (c := fs.calls.leg(caller)) is not None and c.peer, "caller bridged")
        fs.calls.hangup(caller)
        call = world.fs_request(caller, RequestState.CLOSED)
    world.assert_served(call, FS, "alice")

    cc.desktop_online("carol")  # chat-only, booking 9: the strategy's first pick otherwise
    chat = cc.client.submit(channel="chat", service="booking", user_id=call.user_id)
    assert chat.session_id == call.session_id, world.explain()
    # at once (an offer to carol would first have to time out: 6 s)
    offers = wait_for("a chat offer to alice", lambda: cc.client.agent_offers("alice"), 3)
    assert [o.request_id for o in offers] == [chat.request_id], offers
    assert cc.client.agent_offers("carol") == []
    assert cc.client.accept(offers[0].id, "alice").ok
    decisions = [
        (t.get("chosen"), t.get("known_agent")) for t in cc.client.explain(chat.request_id)
    ]
    assert decisions == [("alice", "alice")], world.explain()
    chat_request = cc.client.request(chat.request_id)
    assert chat_request is not None
    assert (chat_request.owner, chat_request.agent) == ("alice", "alice"), world.explain()
    assert chat_request.state is RequestState.ACCEPTED
    session = cc.client.session(call.session_id)
    assert session is not None and session.owner == "alice"
    types = cc.transcript_types(call.session_id)
    assert types[types.index("call.bridged") :].count("assigned") == 1  # the chat's, after
    world.check_alive()
