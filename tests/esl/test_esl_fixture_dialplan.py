"""The fake FreeSWITCH following the dialplan rendered from an admin config: entry points set
the contract's variables and park, the overflow and outbound extensions run as written, and
`show registrations`, `sched_transfer`, `uuid_transfer ... park inline` behave as the bridge
expects of FreeSWITCH."""

from __future__ import annotations

import json
import uuid

import pytest
from freeswitch_fixture.dialplan import Dialplan
from freeswitch_fixture.phones import Answer
from freeswitch_fixture.server import FakeFreeSwitch

from admin_config.model import AdminConfig
from admin_config.secrets import Secrets
from dialplan.rendering import render
from esl_bridge.client import DEFAULT_SUBCLASSES
from esl_bridge.events import ChannelEvent, DialplanEvent
from esl_bridge.registrations import parse_show_registrations

SUBCLASSES = (*DEFAULT_SUBCLASSES, "implus::overflow", "implus::outbound")
CONFIG = {
    "strategy": "strategy.yaml",
    "pbxs": [{"id": "fs1", "kind": "freeswitch", "secret_env": "T_ESL", "domain": "127.0.0.1"}],
    "services": [{"id": "billing"}],
    "entry_points": [
        {"id": "billing_de", "pbx": "fs1", "extension": "_9XX", "service": "billing",
         "language": "de", "max_wait": 40, "overflow": "hangup"},
    ],
    "agents": [
        {"id": "bob", "pbx": "fs1", "endpoint": "2001", "password_env": "T_PW",
         "skills": {"billing": 1}},
    ],
    "trunks": [
        {"id": "carrier", "kind": "outbound", "pbx": "fs1", "host": "sip.example",
         "dial_prefix": "00"},
    ],
}  # fmt: skip


@pytest.fixture
def rendered() -> dict[str, str]:
    config = AdminConfig.model_validate(CONFIG)
    files = render(config, config.pbx("fs1"), Secrets({"T_PW": "pw"}))
    return {f.path: f.content for f in files}


def test_entry_call_follows_the_rendered_dialplan_to_park(
    start_client, fake_fs: FakeFreeSwitch, rendered: dict[str, str]
) -> None:
    _client, recorder = start_client(custom_subclasses=SUBCLASSES)
    fake_fs.calls.use_dialplan(rendered)
    caller = fake_fs.calls.dial("912", "+49301111")  # public -> implus-entry (pattern _9XX)
    recorder.wait_for(
        lambda: any(
            e.name == "CHANNEL_PARK" for e in recorder.events if isinstance(e, ChannelEvent)
        ),
        what="CHANNEL_PARK",
    )
    park = next(
        e for e in recorder.events if isinstance(e, ChannelEvent) and e.name == "CHANNEL_PARK"
    )
    assert park.unique_id == caller
    implus = {k: v for k, v in park.variables.items() if k.startswith("implus_")}
    assert implus == {
        "implus_user": "+49301111",
        "implus_service": "billing",
        "implus_entry": "billing_de",
        "implus_language": "de",
        "implus_max_wait": "40",
        "implus_hold_music": "local_stream://moh",  # $${hold_music}
    }
    assert park.variable("default_language") == "de"
    assert fake_fs.calls.scheduled[caller] == "billing_de XML implus-overflow"


def test_safety_net_runs_the_overflow_extension(
    start_client, fake_fs: FakeFreeSwitch, rendered: dict[str, str]
) -> None:
    _client, recorder = start_client(custom_subclasses=SUBCLASSES)
    fake_fs.calls.use_dialplan(rendered)
    caller = fake_fs.calls.dial("900", "+49302222")
    fake_fs.calls.fire_safety_net(caller)
    fake_fs.calls.wait_for(lambda: fake_fs.calls.leg(caller) is None)
    recorder.wait_for(
        lambda: any(isinstance(e, DialplanEvent) for e in recorder.events), what="implus::overflow"
    )
    (event,) = [e for e in recorder.events if isinstance(e, DialplanEvent)]
    assert (event.subclass, event.unique_id, event.entry, event.service, event.destination) == (
        "implus::overflow",
        caller,
        "billing_de",
        "billing",
        "hangup",
    )
    apps = [(app, data) for u, app, data in fake_fs.calls.executed if u == caller]
    assert apps[0] == ("sched_cancel", "")
    assert apps[-1] == ("hangup", "NORMAL_CLEARING")
    recorder.wait_for(
        lambda: any(
            isinstance(e, ChannelEvent)
            and e.name == "CHANNEL_HANGUP_COMPLETE"
            and e.unique_id == caller
            for e in recorder.events
        ),
        what="the caller's hangup",
    )


def test_outbound_extension_dials_the_customer_through_the_gateway(
    start_client, fake_fs: FakeFreeSwitch, rendered: dict[str, str]
) -> None:
    client, recorder = start_client(custom_subclasses=SUBCLASSES)
    fake_fs.calls.use_dialplan(rendered)
    fake_fs.calls.add_phone("2001", Answer(after=0.02))
    fake_fs.calls.add_phone("00301234", Answer(after=0.02), register=False)
    agent = str(uuid.uuid4())
    client.bgapi(
        f"originate {{origination_uuid={agent},implus_dial=301234,implus_agent=bob}}"
        "user/2001 &park()"
    ).wait(5, check=True)
    fake_fs.calls.wait_for(lambda: fake_fs.calls.leg(agent).state == "parked")
    assert client.api(f"uuid_transfer {agent} carrier XML implus-outbound").startswith("+OK")
    fake_fs.calls.wait_for(lambda: fake_fs.calls.leg(agent).peer is not None)
    customer = fake_fs.calls.leg(agent).peer
    assert customer.number == "00301234"
    recorder.wait_for(
        lambda: any(
            isinstance(e, ChannelEvent) and e.name == "CHANNEL_BRIDGE" and e.unique_id == agent
            for e in recorder.events
        ),
        what="CHANNEL_BRIDGE of the agent's leg",
    )
    bridge = next(
        e for e in recorder.events if isinstance(e, ChannelEvent) and e.name == "CHANNEL_BRIDGE"
    )
    assert (bridge.bridge_a_unique_id, bridge.bridge_b_unique_id) == (agent, customer.uuid)
    dialing = [e for e in recorder.events if isinstance(e, DialplanEvent)]
    assert [(e.subclass, e.unique_id, e.dial, e.agent, e.trunk) for e in dialing] == [
        ("implus::outbound", agent, "301234", "bob", "carrier")
    ]
    fake_fs.calls.hangup(customer.uuid)
    fake_fs.calls.wait_for(lambda: not fake_fs.calls.legs)


def test_outbound_extension_refuses_a_number_that_is_not_digits(
    start_client, fake_fs: FakeFreeSwitch, rendered: dict[str, str]
) -> None:
    client, _recorder = start_client(custom_subclasses=SUBCLASSES)
    fake_fs.calls.use_dialplan(rendered)
    fake_fs.calls.add_phone("2001", Answer(after=0.02))
    agent = str(uuid.uuid4())
    client.bgapi(f"originate {{origination_uuid={agent},implus_dial=12;34}}user/2001 &park()").wait(
        5, check=True
    )
    fake_fs.calls.wait_for(lambda: fake_fs.calls.leg(agent).state == "parked")
    client.api(f"uuid_transfer {agent} carrier XML implus-outbound")
    fake_fs.calls.wait_for(lambda: fake_fs.calls.leg(agent) is None)
    assert (agent, "hangup", "INVALID_NUMBER_FORMAT") in fake_fs.calls.executed


def test_park_inline_takes_a_bridged_caller_back_to_park(
    start_client, fake_fs: FakeFreeSwitch, rendered: dict[str, str]
) -> None:
    client, recorder = start_client(custom_subclasses=SUBCLASSES)
    fake_fs.calls.use_dialplan(rendered)
    fake_fs.calls.add_phone("2001", Answer(after=0.02))
    caller = fake_fs.calls.dial("900", "+49303333")
    agent = str(uuid.uuid4())
    client.bgapi(f"originate {{origination_uuid={agent}}}user/2001 &park()").wait(5, check=True)
    fake_fs.calls.wait_for(lambda: fake_fs.calls.leg(agent).state == "parked")
    client.api(f"uuid_bridge {caller} {agent}")
    fake_fs.calls.wait_for(lambda: fake_fs.calls.leg(caller).state == "bridged")
    recorder.wait_for(
        lambda: any(
            isinstance(e, ChannelEvent) and e.name == "CHANNEL_BRIDGE" for e in recorder.events
        ),
        what="the bridge",
    )
    recorder.events.clear()
    assert client.api(f"uuid_transfer {caller} park inline").startswith("+OK")

    def caller_events() -> list[str]:
        return [
            e.name for e in recorder.events if isinstance(e, ChannelEvent) and e.unique_id == caller
        ]

    recorder.wait_for(
        lambda: caller_events()[-2:] == ["CHANNEL_UNBRIDGE", "CHANNEL_PARK"],
        what="UNBRIDGE then PARK of the caller",
    )
    park = [e for e in recorder.events if isinstance(e, ChannelEvent) and e.unique_id == caller][-1]
    assert park.unique_id == caller
    assert park.variable("implus_entry") == "billing_de"
    assert fake_fs.calls.leg(agent).state == "parked"
    assert client.api(f"sched_transfer +55 {caller} billing_de XML implus-overflow") == "+OK\n"
    assert fake_fs.calls.scheduled[caller] == "billing_de XML implus-overflow"
    assert client.api(f"sched_del {caller}") == "+OK Deleted: 1\n"


def test_show_registrations_lists_registered_phones(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, _ = start_client(custom_subclasses=SUBCLASSES)
    assert client.api("show registrations as json") == '{"row_count": 0}\n'
    fake_fs.calls.add_phone("2002", contact_host="127.0.0.1:5072")
    fake_fs.calls.add_phone("2001")
    fake_fs.calls.add_phone("2003", register=False)
    body = client.api("show registrations as json")
    assert list(json.loads(body)["rows"][0]) == [
        "reg_user", "realm", "token", "url", "expires", "network_ip", "network_port",
        "network_proto", "hostname", "metadata",
    ]  # fmt: skip
    rows = parse_show_registrations(body)
    assert [(r.user, r.network_port) for r in rows] == [("2001", "5064"), ("2002", "5072")]
    assert client.show_registrations() == rows


def test_dialplan_hunt_follows_conditions_and_anti_actions(rendered: dict[str, str]) -> None:
    plan = Dialplan().load(rendered["dialplan/implus.xml"])
    assert plan.hunt("implus-entry", "800", {}) is None
    ok = plan.hunt("implus-outbound", "carrier", {"implus_dial": "+4930"})
    assert [a.application for a in ok] == ["event", "bridge"]
    refused = plan.hunt("implus-outbound", "carrier", {"implus_dial": "1,2"})
    assert [(a.application, a.data) for a in refused] == [("hangup", "INVALID_NUMBER_FORMAT")]
    default = plan.hunt("implus-outbound", "s", {})
    assert [(a.application, a.data) for a in default] == [
        ("transfer", "carrier XML implus-outbound")
    ]
