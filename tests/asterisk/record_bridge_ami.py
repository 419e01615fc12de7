"""Record what the AMI bridge sees while it handles real calls, into tests/data/ami/.

A tap logs in beside the running bridge with the bridge's own event filters
(`translate.EVENT_FILTERS`), so each recording is the byte stream the bridge's session
gets for that scenario: the generated dialplan, the real bridge, the router's worker,
sipp phones. tests/ami/test_bridge_translate.py replays them through the translation layer.

Run with the sandbox built: `python tests/asterisk/record_bridge_ami.py` (re-record when
Asterisk, the sandbox or the dialplan contract changes).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from ami_tap import AmiTap  # noqa: E402
from callcentre import CallCentre, wait_for  # noqa: E402

from ami_bridge.filters import filter_action  # noqa: E402
from ami_bridge.translate import EVENT_FILTERS  # noqa: E402
from devstack import AsteriskSandbox  # noqa: E402
from devstack.lab import Lab, LabAgent, LabEntry  # noqa: E402
from devstack.sipp import Sipp  # noqa: E402
from router.client import RouterClient  # noqa: E402
from router.model import RequestState  # noqa: E402

OUT = HERE.parent / "data" / "ami"
ALICE = LabAgent("alice", "1001", 5081, {"booking": 5})
BOB = LabAgent("bob", "1002", 5082, {"booking": 1})


def record(name: str, cc: CallCentre, scene: Callable[[CallCentre], None]) -> None:
    tap = AmiTap()
    for i, expression in enumerate(EVENT_FILTERS):
        tap.send({**filter_action(expression), "ActionID": f"f{i}"})
    time.sleep(0.2)
    scene(cc)
    time.sleep(1.0)
    tap.send({"Action": "Logoff", "ActionID": "bye"})
    time.sleep(0.2)
    tap.close()
    (OUT / name).write_bytes(tap.raw)
    print(f"{name}: {len(tap.raw)} bytes")


def answered(cc: CallCentre) -> None:
    """A caller at 800 is put through to bob, who answers and hangs up after 1 s."""
    with cc.sipp.phone(BOB.port, "answer", ring=0.3, talk=1.0, calls=1) as bob:
        cc.wait_phone("bob", "available")
        assert cc.sipp.customer_call("800", caller="5550401", hold=None).wait(20).ok
        assert bob.wait(20).ok
    cc.wait_request(cc.request_for("5550401").id, RequestState.CLOSED)


def busy_then_answered(cc: CallCentre) -> None:
    """alice's phone is busy (486); bob answers; the caller hangs up after 1 s."""
    with (
        cc.sipp.phone(ALICE.port, "busy", calls=1) as alice,
        cc.sipp.phone(BOB.port, "answer", ring=0.2, calls=1) as bob,
    ):
        cc.wait_phone("alice", "available")
        cc.wait_phone("bob", "available")
        assert cc.sipp.customer_call("800", caller="5550402", hold=1.0).wait(20).ok
        assert alice.wait(20).ok
        assert bob.wait(20).ok
    cc.client.heartbeat("alice", source="desktop", ttl=1)  # alice leaves


def no_answer_then_abandoned(cc: CallCentre) -> None:
    """bob's phone rings out (no answer); the caller waits, then gives up."""
    with cc.sipp.phone(BOB.port, "no_answer", calls=1) as bob:
        cc.wait_phone("bob", "available")
        call = cc.sipp.customer_call("800", caller="5550403", hold=3.5, max_seconds=20)
        assert call.wait(20).ok
        bob.wait(20)


def outbound(cc: CallCentre) -> None:
    """bob's click-to-call: bob answers, then the customer's phone, who hangs up."""
    with (
        cc.sipp.phone(BOB.port, "answer", ring=0.2, calls=1) as bob,
        cc.sipp.customer_phone("answer", ring=0.3, talk=1.0, calls=1) as customer,
    ):
        cc.wait_phone("bob", "available")
        chat = cc.client.submit(channel="chat", service="booking", user_id="u-rec")
        cc.client.click_to_call(chat.session_id, "bob", "5550404")
        assert customer.wait(20).ok
        assert bob.wait(20).ok


def main() -> None:
    box = AsteriskSandbox()
    with tempfile.TemporaryDirectory() as tmp, box.session_lock(print):
        box.up(print)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
        client = RouterClient.from_url(url)
        cc = CallCentre(
            box=box,
            sipp=Sipp(box),
            lab=Lab(box, Path(tmp) / "lab", agents=[ALICE, BOB], entries=[]),
            client=client,
            redis_url=url,
            folder=Path(tmp),
        )
        cc.lab.entries = [LabEntry("booking_en", "800", "booking")]
        try:
            cc.start(offer_timeout=3)
            cc.qualify("1001", "1002")
            cc.desktop_online("bob")
            record("bridge_answered.raw", cc, answered)
            cc.desktop_online("alice")
            record("bridge_busy.raw", cc, busy_then_answered)
            wait_for("alice to be gone", lambda: cc.client.agent("alice").status.value == "offline")  # type: ignore[union-attr]
            record("bridge_no_answer.raw", cc, no_answer_then_abandoned)
            record("bridge_outbound.raw", cc, outbound)
        finally:
            cc.stop()
            client.close()
            server.terminate()
            server.wait(10)
            box.reset_includes()
            box.reload()


if __name__ == "__main__":
    main()
