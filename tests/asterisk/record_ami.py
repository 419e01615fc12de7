"""Record real AMI traffic from the sandbox into tests/data/ami/ (raw bytes, as sent).

Run with the sandbox up: `python tests/asterisk/record_ami.py`. The unit tests in
tests/ami/ parse these files; re-record when Asterisk or the sandbox configs change.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ami_tap import AmiTap

from devstack import AsteriskSandbox
from devstack.sipp import Sipp, agent_endpoint_config

OUT = Path(__file__).parent.parent / "data" / "ami"

ENTRY = """
[implus-entry]
exten => 100,1,Set(IMPLUS_SERVICE=booking)
 same => n,Set(IMPLUS_ENTRY=100)
 same => n,Set(IMPLUS_USER=${CALLERID(num)})
 same => n,Answer()
 same => n,UserEvent(ImplusEntry,Service: booking,Entry: 100,User: ${CALLERID(num)},MaxWait: 30)
 same => n,MusicOnHold(default,30)
 same => n,Hangup()

exten => 7002,1,Set(IMPLUS_SERVICE=support)
 same => n,Dial(PJSIP/1002,10)
 same => n,Hangup()

[implus-agent]
exten => _X.,1,Dial(PJSIP/${EXTEN},10,g)
 same => n,Hangup()
"""

QUIET = "!Event: (VarSet|Newexten|NewConnectedLine|MusicOnHold.*|SoftHangupRequest)"


def record(name: str, quiet: bool, scene) -> None:  # type: ignore[no-untyped-def]
    tap = AmiTap()
    if quiet:
        tap.send({"Action": "Filter", "Operation": "Add", "Filter": QUIET, "ActionID": "f1"})
    time.sleep(0.2)
    scene(tap)
    time.sleep(0.5)
    tap.send({"Action": "Logoff", "ActionID": "bye"})
    time.sleep(0.2)
    tap.close()
    (OUT / name).write_bytes(tap.raw)
    print(f"{name}: {len(tap.raw)} bytes")


def main() -> None:
    box = AsteriskSandbox()
    sipp = Sipp(box)
    with box.session_lock(print):
        box.up(print)
        box.write_include("extensions_implus.conf", ENTRY)
        box.write_include("pjsip_implus.conf", agent_endpoint_config("1002"))
        box.reload()
        OUT.mkdir(parents=True, exist_ok=True)

        def entry_call(tap: AmiTap) -> None:
            # a customer calls the entry point and hangs up while holding
            sipp.customer_call("100", caller="5550401", hold=1.0).wait(20)

        def originate_answered(tap: AmiTap) -> None:
            with sipp.customer_phone("answer", ring=0.2, talk=0.5) as phone:
                tap.send(
                    {
                        "Action": "Originate",
                        "ActionID": "rec-originate-1",
                        "Channel": "PJSIP/5550402@customers",
                        "Context": "sandbox-test",
                        "Exten": "9991",
                        "Priority": "1",
                        "Async": "true",
                        "ChannelId": "rec-leg-1",
                        "CallerID": "Zoë 张伟 <5550402>",
                        "Variable": ["IMPLUS_SERVICE=booking", "IMPLUS_USER=u402"],
                    }
                )
                tap.wait_for(lambda m: m.get("Event") == ["OriginateResponse"])
                phone.wait(20)

        def agent_rung(tap: AmiTap) -> None:
            # a registered agent phone is rung by an originate and answers, then the
            # state lists are read while the call is up
            with sipp.phone(5072, "answer", ring=0.3, talk=1.0) as phone:
                sipp.register("1002", 5072, 60)
                tap.send(
                    {
                        "Action": "Originate",
                        "ActionID": "rec-originate-2",
                        "Channel": "PJSIP/1002",
                        "Context": "sandbox-test",
                        "Exten": "9990",
                        "Priority": "1",
                        "Async": "true",
                        "ChannelId": "rec-agent-leg",
                    }
                )
                tap.wait_for(lambda m: m.get("Event") == ["OriginateResponse"])
                for action in ("CoreShowChannels", "DeviceStateList", "PJSIPShowContacts"):
                    tap.send({"Action": action, "ActionID": f"rec-{action}"})
                phone.wait(20)
                sipp.register("1002", 5072, 0)

        def customer_to_agent(tap: AmiTap) -> None:
            # a customer is put through to a registered agent; the agent hangs up
            with sipp.phone(5072, "answer", ring=0.2, talk=0.8) as phone:
                sipp.register("1002", 5072, 60)
                sipp.customer_call("7002", caller="5550403", hold=None).wait(20)
                phone.wait(20)
                sipp.register("1002", 5072, 0)

        record("entry_call.raw", quiet=False, scene=entry_call)
        record("customer_to_agent.raw", quiet=True, scene=customer_to_agent)
        record("originate_answered.raw", quiet=True, scene=originate_answered)
        record("agent_rung_and_lists.raw", quiet=True, scene=agent_rung)
        box.reset_includes()
        box.reload()


if __name__ == "__main__":
    main()
