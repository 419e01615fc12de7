"""The commands the ESL bridge sends FreeSWITCH (esl_bridge.intents, esl_bridge.pbx,
esl_bridge.control): an agent rung agent-first with the chosen uuid, call control's
commands, and values that could change a command refused before they reach the switch."""

from __future__ import annotations

import pytest

from admin_config.targets import NoRoute, dial_agent, outbound_destination
from callflow import intents as do
from callflow.policy import whole_ring_seconds
from esl_bridge.bridge import leg_id
from esl_bridge.control import EslControl
from esl_bridge.intents import EslIntents
from esl_bridge.pbx import UnsafeValue, originate
from esl_bridge.translate import origination_uuid


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


class ControlSwitch(RecordingSwitch):
    """RecordingSwitch for call control's commands (api, bgapi waited for)."""

    def api_ok(self, command: str) -> bool:
        self.sent.append(command)
        return True

    background_ok = api_ok

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        self.sent.append(f"uuid_kill {uuid} {cause}")


def test_call_control_commands_and_hostile_values(config) -> None:
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
