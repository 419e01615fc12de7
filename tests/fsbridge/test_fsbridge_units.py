"""The ESL bridge's pieces on their own: commands it builds, what FreeSWITCH sends, and what it
refuses to start with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fsbridge_harness import ESL_PASSWORD_ENV, admin_config, write_config

from admin_config.model import load_admin_config
from admin_config.targets import NoRoute, dial_agent
from callflow import intents as do
from callflow.context import user_id
from callflow.facts import failure_reason
from callflow.policy import whole_ring_seconds
from esl_bridge.bridge import leg_id
from esl_bridge.errors import BridgeConfigError
from esl_bridge.events import DialplanEvent, event_from_raw
from esl_bridge.intents import EslIntents
from esl_bridge.pbx import UnsafeValue, originate
from esl_bridge.presence import channel_user
from esl_bridge.settings import build_settings, read_config
from esl_bridge.translate import origination_uuid
from esl_bridge.wire import parse_plain_event


@pytest.fixture
def config(tmp_path: Path):
    return load_admin_config(write_config(tmp_path, admin_config(8021)))


# -- commands sent to FreeSWITCH ------------------------------------------------------------


class RecordingSwitch:
    """Stands in for the FreeSWITCH command layer (esl_bridge.pbx.FreeSwitch) to see which
    commands an intent becomes; accepts everything."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def background(self, command: str) -> bool:
        self.sent.append(command)
        return True


def test_ring_agent_is_agent_first_with_the_chosen_uuid(config) -> None:
    dial = dial_agent(config, "fs1", "anna")
    assert dial == "user/2001@127.0.0.1"
    fs = RecordingSwitch()
    leg = leg_id("o1")
    intent = do.RingAgent("c-1", leg, dial, 14.5, "anna", "o1", "r1", "+4930")
    assert EslIntents(fs, config)(intent) == "ringing"  # type: ignore[arg-type]
    (command,) = fs.sent
    assert command == (
        f"originate {{origination_uuid={leg},originate_timeout=14,implus_agent=anna,"
        "implus_offer=o1,implus_caller=c-1,implus_request=r1,"
        "origination_caller_id_number=+4930}user/2001@127.0.0.1 &park()"
    )
    assert origination_uuid(command.split(" ", 1)[1]) == leg
    assert leg_id("o1") == leg != leg_id("o2")  # the same offer always names the same leg


def test_ring_times_are_whole_seconds_rounded_down() -> None:
    """FreeSWITCH counts originate timeouts in whole seconds: rounded down, the switch
    still gives up before the router's offer timer (the flow already took the margin)."""
    assert [whole_ring_seconds(t) for t in (19.5, 7.499, 3.0, 0.2)] == [19, 7, 3, 1]


@pytest.mark.parametrize(
    "value", ["1,origination_uuid=x", "a}user/666", "a b", "x'y", "", "a|b", "a&b"]
)
def test_values_that_could_change_an_originate_are_refused(value: str) -> None:
    with pytest.raises(UnsafeValue):
        originate("user/2001", {"implus_dial": value})


def test_agents_managed_through_the_api_are_dialled_by_the_same_rules(config) -> None:
    assert dial_agent(config, "fs1", "zoe", "2009", "fs1") == "user/2009@127.0.0.1"
    with pytest.raises(NoRoute):
        dial_agent(config, "fs1", "zoe")  # no phone known
    with pytest.raises(NoRoute):
        dial_agent(config, "fs1", "zoe", "2009", "elsewhere")
    with pytest.raises(NoRoute):
        dial_agent(config, "fs1", "zoe", "20 09", "fs1")


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("NO_ANSWER", "no_answer"),
        ("NO_USER_RESPONSE", "no_answer"),
        ("ALLOTTED_TIMEOUT", "no_answer"),
        ("USER_BUSY", "busy"),
        ("CALL_REJECTED", "busy"),
        ("USER_NOT_REGISTERED", "unavailable"),
        ("NORMAL_TEMPORARY_FAILURE", "unavailable"),
        (None, "unavailable"),
    ],
)
def test_hangup_causes_map_to_offer_failure_reasons(cause: str | None, reason: str) -> None:
    assert failure_reason(cause) == reason


def test_user_ids_are_filtered_like_on_asterisk() -> None:
    assert user_id("+49 30,123;456", "fallback") == "+4930123456"
    assert user_id("", "c-uuid") == "c-uuid"
    assert user_id(None, "c-uuid") == "c-uuid"
    assert user_id("x" * 300, "c") == "x" * 128


def test_channel_names_give_the_phone_user() -> None:
    assert channel_user("sofia/internal/2001@10.0.0.5:5060") == "2001"
    assert channel_user("sofia/internal/sip:2001@10.0.0.5") == "2001"
    assert channel_user("loopback/800-a") is None
    assert channel_user(None) is None


# -- what the router and FreeSWITCH send -------------------------------------------------------


def test_presence_queues_work_only_for_events_that_can_change_a_phone() -> None:
    from esl_bridge.events import ChannelEvent
    from esl_bridge.presence import Presence
    from esl_bridge.wire import RawEvent

    presence = Presence(router=None, agents=lambda: {"1001": "anna"}, ttl=90)

    def event(name: str, uid: str, channel: str, **variables: str) -> ChannelEvent:
        headers = [("Event-Name", name), ("Unique-ID", uid), ("Channel-Name", channel)]
        headers += [(f"variable_{k}", v) for k, v in variables.items()]
        made = event_from_raw(RawEvent(headers))
        assert isinstance(made, ChannelEvent)
        return made

    phone = "sofia/internal/1001@10.0.0.5:5060"
    caller = "sofia/external/+4930123@10.0.0.9"
    assert presence.work_for(event("CHANNEL_CREATE", "c1", caller), pending=False) is None
    placed = event("CHANNEL_CREATE", "a1", phone, implus_agent="anna")
    assert presence.work_for(placed, pending=False) is None
    private = presence.work_for(event("CHANNEL_CREATE", "p1", phone), pending=False)
    assert private is not None
    end = event("CHANNEL_HANGUP", "p1", phone)
    assert presence.work_for(end, pending=True) is not None  # its CREATE may still be queued
    assert presence.work_for(end, pending=False) is None  # presence does not hold p1 (yet)
    presence.channels["p1"] = "1001"
    assert presence.work_for(end, pending=False) is not None
    assert presence.work_for(event("CHANNEL_PARK", "p1", phone), pending=True) is None


def test_create_events_presence_ignores_are_told_from_their_raw_json() -> None:
    """`Presence.ignores_raw` (the event is then not decoded) agrees with `work_for` on the
    decoded event, for recorded and generated CHANNEL_CREATEs."""
    import json

    from esl_bridge.events import ChannelEvent
    from esl_bridge.presence import Presence
    from esl_bridge.translate import may_tell
    from esl_bridge.wire import parse_json_event

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "esl"))
    from test_esl_wire import whole

    # The recorded JSON call (06) has the caller's CHANNEL_PARK: as its CHANNEL_CREATE
    # (the same headers, fewer variables) it is the caller's leg.
    park = next(
        f.body
        for f in whole("06-inbound-call-json")
        if f.content_type == "text/event-json" and b'"CHANNEL_PARK"' in f.body
    )
    caller = json.loads(park)
    caller["Event-Name"] = "CHANNEL_CREATE"

    def create(**changes: str) -> bytes:
        return json.dumps({**caller, **changes}, separators=(",", ":")).encode()

    phone = "sofia/internal/1001@10.0.0.5:5060"
    cases = [
        create(),  # the recorded caller's leg
        create(**{"Channel-Name": phone}),  # an agent's own call: presence's business
        create(**{"Channel-Name": phone, "variable_implus_agent": "anna"}),  # placed by us
        create(**{"Channel-Name": phone, "variable_implus_agent": ""}),
        create(**{"Channel-Name": 'sofia/internal/1001@x"y'}),  # escaped: decoded instead
        create(**{"Event-Name": "CHANNEL_PARK"}),
        create(**{"Caller-Caller-ID-Name": '"Channel-Name":"sofia/a/b@c"'}),  # in a value
    ]
    presence = Presence(router=None, agents=lambda: {"1001": "anna"}, ttl=90)
    told = []
    for body in cases:
        event = event_from_raw(parse_json_event(body))
        assert isinstance(event, ChannelEvent)
        if presence.ignores_raw(body):
            assert presence.work_for(event, pending=False) is None, body[:80]
            assert not may_tell(event)
        told.append(presence.ignores_raw(body))
    assert told == [True, False, True, False, False, False, True]


def test_dialplan_custom_events_name_their_channel() -> None:
    raw = parse_plain_event(
        b"Event-Subclass: implus%3A%3Aoverflow\nEvent-Name: CUSTOM\nImplus-Service: billing\n"
        b"Implus-Entry: billing_de\nImplus-Destination: voicemail\nUnique-ID: u-1\n\n"
    )
    assert event_from_raw(raw) == DialplanEvent(
        subclass="implus::overflow",
        unique_id="u-1",
        service="billing",
        entry="billing_de",
        destination="voicemail",
    )


# -- starting -------------------------------------------------------------------------------


def test_an_unreadable_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(BridgeConfigError, match=r"nope\.yaml"):
        read_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("pbxs: [{id: fs1, kind: freeswitch}]\n")
    with pytest.raises(BridgeConfigError, match=r"bad.yaml:1: .*secret_env"):
        read_config(tmp_path / "bad.yaml")


def test_settings_name_what_is_missing(config) -> None:
    env = {ESL_PASSWORD_ENV: "pw", "IMPLUS_REDIS_URL": "redis://127.0.0.1:1/0"}
    settings = build_settings(config, "fs1", env=env)
    assert (settings.esl.port, settings.esl.password) == (8021, "pw")
    assert "implus::overflow" in settings.esl.custom_subclasses
    with pytest.raises(BridgeConfigError, match=f"set {ESL_PASSWORD_ENV}"):
        build_settings(config, "fs1", env={"IMPLUS_REDIS_URL": "redis://x"})
    with pytest.raises(BridgeConfigError, match="IMPLUS_REDIS_URL"):
        build_settings(config, "fs1", env={ESL_PASSWORD_ENV: "pw"})
    with pytest.raises(BridgeConfigError, match=r"no PBX 'fs9'.*fs1"):
        build_settings(config, "fs9", env=env)


def run_bridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esl_bridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_the_bridge_refuses_to_start_without_what_it_needs(tmp_path: Path) -> None:
    data = admin_config(8021)
    data["pbxs"].append({"id": "ast1", "kind": "asterisk", "secret_env": "X_AMI"})
    path = write_config(tmp_path, data)
    out = run_bridge("--config", str(path), "--pbx", "ast1", "--redis-url", "redis://x")
    assert out.returncode == 1
    assert "is an asterisk, not a FreeSWITCH: run `implus ami-bridge`" in out.stderr
    # through the `implus` command, which re-executes itself with gevent patched first
    implus = Path(sys.executable).with_name("implus")
    out = subprocess.run(
        [str(implus), "esl-bridge", "--config", str(path), "--pbx", "fs1",
         "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, ESL_PASSWORD_ENV: "pw"},
    )  # fmt: skip
    assert out.returncode == 1
    assert "cannot reach Redis" in out.stderr
    assert "Usage: implus esl-bridge" not in out.stderr


def test_implus_has_the_esl_bridge_subcommand() -> None:
    from router.cli import main

    result = CliRunner().invoke(main, ["esl-bridge", "--help"])
    assert result.exit_code == 0, result.output
    assert "--agents-from-api" in result.output


def test_events_run_in_order_per_call_and_side_by_side_across_calls() -> None:
    import gevent

    from esl_bridge.ordering import PerKey

    done: list[str] = []

    def handle(item: str) -> None:
        if item == "a1":
            gevent.sleep(0.05)  # call a waits on I/O; call b is not held up
        if item == "a2":
            raise RuntimeError("a handler failing does not stop its call's queue")
        done.append(item)

    work: PerKey[str] = PerKey(handle)
    for key, item in (("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3"), ("b", "b2")):
        work.submit(key, item)
    with gevent.Timeout(2):
        while len(work):
            gevent.sleep(0.01)
    assert done == ["b1", "b2", "a1", "a3"]


def test_work_on_idle_keys_runs_as_their_turn() -> None:
    import gevent

    from esl_bridge.ordering import PerKey

    done: list[str] = []

    def handle(item: str) -> None:
        if item == "b1":
            gevent.sleep(0.05)
        done.append(item)

    work: PerKey[str] = PerKey(handle)
    work.submit("b", "b1")  # busy: its own greenlet runs it

    def flush(idle: list[str]) -> None:
        work.submit("a", "a-after")  # arrives while the flush holds call a: waits for it
        gevent.sleep(0.01)
        done.append("flush " + ",".join(idle))

    with gevent.Timeout(2):
        assert work.run_idle(["a", "b", "c"], flush) == ["b"]
        assert done == ["flush a,c"]
        assert not work.busy("c")  # nothing queued behind it: released
        while len(work):
            gevent.sleep(0.01)
    assert done == ["flush a,c", "a-after", "b1"]


class ControlSwitch(RecordingSwitch):
    """RecordingSwitch for call control's commands (api, bgapi waited for)."""

    def api_ok(self, command: str) -> bool:
        self.sent.append(command)
        return True

    background_ok = api_ok

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        self.sent.append(f"uuid_kill {uuid} {cause}")


def test_call_control_commands_and_hostile_values(config) -> None:
    from admin_config.targets import outbound_destination
    from esl_bridge.control import EslControl

    fs = ControlSwitch()
    control = EslControl(fs)  # type: ignore[arg-type]
    assert control(do.HoldCustomer("c-1", "a-1", "local_stream://moh")) == "bridged"
    assert control(do.MuteAgent("a-1", True))
    assert control(do.SpyMode("s-1", "whisper"))
    assert control(do.Spy("c-1", "a-1", "s-1", "user/2009@127.0.0.1", "listen", "root"))
    assert fs.sent == [
        "uuid_setvar a-1 hold_music local_stream://moh",
        "uuid_hold a-1",
        "uuid_audio a-1 start read mute 1",
        "uuid_recv_dtmf s-1 2",
        "originate {origination_uuid=s-1,originate_timeout=30,implus_spy=c-1,"
        "implus_supervisor=root,eavesdrop_enable_dtmf=true}user/2009@127.0.0.1 &eavesdrop(a-1)",
    ]
    fs.sent.clear()
    trunk = outbound_destination(config, "fs1")
    hostile = [
        do.HoldCustomer("c-1", "a-1 &bridge(x)", "moh"),
        do.TransferOut("c-1", "a-1", trunk, "555 uuid_kill all"),
        do.TransferOut("c-1", "a-1", trunk, "${system(id)}"),
        do.StartRecording("c-1", "/var/rec/../../etc/cron.d/x.wav"),
        do.StartRecording("c-1", "/var/rec/a b.wav"),
        do.Spy("c-1", "a-1)", "s-1", "user/2009", "listen", "root"),
        do.Spy("c-1", "a-1", "s-1", "user/2009", "listen", "root,evil=1"),
        do.ResumeCustomer("c-1\nuuid_kill x", "a-1", True),
    ]
    for intent in hostile:
        assert control(intent) in (False, "failed"), intent
    assert fs.sent == [], fs.sent  # nothing reached FreeSWITCH
    # hold music that is not a plain source falls back to the default
    control(do.HoldCustomer("c-1", "a-1", "${system(id)}"))
    assert fs.sent[0] == "uuid_setvar a-1 hold_music local_stream://moh"


@pytest.mark.parametrize(("spare", "spawned"), [(3, 3), (2, 3 + 29)])
def test_idle_keys_reuse_waiting_workers_and_keep_their_order(spare: int, spawned: int) -> None:
    """Three keys at a time, 30 rounds: with 3 kept, 3 workers do all 90 items; with 2
    kept, the third ends after each round and the next round makes one more."""
    import gevent

    from esl_bridge.ordering import PerKey

    done: list[tuple[str, int]] = []
    workers: set[object] = set()

    def handle(item: tuple[str, int]) -> None:
        workers.add(gevent.getcurrent())
        if item[1] % 3 == 0:
            gevent.sleep(0.001)  # blocks: other keys go on meanwhile
        done.append(item)

    work: PerKey[tuple[str, int]] = PerKey(handle, spare=spare)
    with gevent.Timeout(5):
        for n in range(30):  # one event at a time, each finding its key idle
            for key in ("a", "b", "c"):
                work.submit(key, (key, n))
            while len(work):
                gevent.sleep(0.001)
    for key in ("a", "b", "c"):
        assert [n for k, n in done if k == key] == list(range(30))
    assert work.spawned == spawned and len(workers) == spawned
    assert len(work._waiting) == spare


def test_a_worker_killed_while_waiting_is_not_given_work() -> None:
    import gevent

    from esl_bridge.ordering import PerKey

    done: list[str] = []
    seen: list[gevent.Greenlet] = []

    def handle(item: str) -> None:
        seen.append(gevent.getcurrent())
        done.append(item)

    work: PerKey[str] = PerKey(handle)
    with gevent.Timeout(2):
        work.submit("a", "first")
        while len(work):
            gevent.sleep(0.001)
        seen[0].kill()
        assert not work._waiting
        work.submit("a", "second")
        while len(work):
            gevent.sleep(0.001)
    assert done == ["first", "second"] and work.spawned == 2


def test_a_channels_end_is_its_recorded_channel_hangup() -> None:
    """The bridge takes a channel's end from CHANNEL_HANGUP and does not subscribe the
    bigger CHANNEL_HANGUP_COMPLETE: on a real FreeSWITCH (recordings 03 and 04) every leg's
    CHANNEL_HANGUP comes first, in hang-up order, with the cause its HANGUP_COMPLETE repeats."""
    from freeswitch_fixture.transcripts import load

    from callflow import facts as f
    from esl_bridge.events import ChannelEvent
    from esl_bridge.settings import BRIDGE_EVENTS
    from esl_bridge.translate import facts_of, may_tell
    from esl_bridge.wire import FrameReader

    assert "CHANNEL_HANGUP" in BRIDGE_EVENTS
    assert "CHANNEL_HANGUP_COMPLETE" not in BRIDGE_EVENTS
    for name, legs in (("03-inbound-call-park-hangup", 1), ("04-agent-first-bridge", 2)):
        frames = FrameReader().feed(load(name).received)
        ends = [
            e
            for fr in frames
            if fr.content_type == "text/event-plain"
            for e in [event_from_raw(parse_plain_event(fr.body))]
            if isinstance(e, ChannelEvent) and e.name.startswith("CHANNEL_HANGUP")
        ]
        hangups = [e for e in ends if e.name == "CHANNEL_HANGUP"]
        completes = [e for e in ends if e.name == "CHANNEL_HANGUP_COMPLETE"]
        assert len(hangups) == len(completes) == legs
        first_complete = ends.index(completes[0])
        assert all(ends.index(h) < first_complete for h in hangups)
        causes = {e.unique_id: e.hangup_cause for e in completes}
        for h in hangups:
            assert may_tell(h)
            assert facts_of(h, lambda _uid: True) == [
                f.HangupRequested(h.unique_id),
                f.ChannelGone(h.unique_id, causes[h.unique_id] or "UNKNOWN"),
            ]
        for c in completes:  # were it ever sent: no second end
            assert not may_tell(c) and facts_of(c, lambda _uid: True) == []
