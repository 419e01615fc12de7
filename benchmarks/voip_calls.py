"""Browser VoIP call set-up time against a sipp call on the same entry point (docs/voip.md).

One run on the sandbox Asterisk: redis-server, the router worker, the AMI bridge, `implus
chat` with the SIP relay, Debian chromium with fake media, and one agent phone (sipp UAS
that answers at once and echoes RTP). Alternately, N times:

- WebRTC: a fresh customer page presses "Call us" (entry point 810, `media: voip`): the
  time from the click (the page's wall clock) to the agent phone's received INVITE (sipp's
  message log), and to the first RTP packet the browser counts (getStats, polled 20 ms);
- reference: a sipp customer calls the same entry point: from its INVITE sent to the
  agent phone's INVITE received (both from sipp's message logs, same clock).

Run: `.venv/bin/python benchmarks/voip_calls.py --calls 30 --json` (needs root for the
sandbox; waits for its lock). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_processes import free_port, own_tree
from pbx_report import percentile
from pbx_route import _wait_redis
from sipp_logs import invites

from devstack import AsteriskSandbox
from devstack.lab import (
    AMI_SECRET,
    AMI_SECRET_ENV,
    PBX_ID,
    RELAY_SECRET,
    RELAY_SECRET_ENV,
    Lab,
    LabAgent,
    LabEntry,
)
from devstack.sipp import Sipp

STRATEGY = """\
defaults: {offer_timeout: 15, wrapup: {voice: 0, chat: 0, voip: 0}, max_no_answer: 0}
queues: {booking: {skills: {booking: 1}}}
rules:
  - {name: all, conditions: "true", actions: {queue: booking}}
"""
ENTRY = "810"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]  # fmt: skip


def say(text: str) -> None:
    print(f"[voip_calls] {text}", file=sys.stderr, flush=True)


def wait(what: str, check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(0.02)
    raise RuntimeError(f"{what}: not within {timeout} s")


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    box = AsteriskSandbox()
    sipp = Sipp(box)
    procs: list[subprocess.Popen[bytes]] = []
    implus = [sys.executable, "-P", "-c", "from router.cli import main; main()"]
    env = own_tree(dict(os.environ, **{AMI_SECRET_ENV: AMI_SECRET, RELAY_SECRET_ENV: RELAY_SECRET}))

    def spawn(name: str, argv: list[str], extra: dict[str, str] | None = None) -> None:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        procs.append(subprocess.Popen(argv, stdout=log, stderr=log, env={**env, **(extra or {})}))

    with box.session_lock(report=say):
        box.up(say)
        box.hangup_all()
        box.reset_includes()  # what an earlier run (or test) left
        try:
            port = free_port()
            spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", str(folder)])  # fmt: skip
            redis_url = f"redis://127.0.0.1:{port}/0"
            client = _wait_redis(redis_url)
            lab = Lab(
                box,
                folder / "lab",
                agents=[LabAgent("alice", "1001", 5091, {"booking": 1})],
                entries=[LabEntry("voip", ENTRY, "booking", media="voip", max_wait=300)],
                strategy=STRATEGY,
            )
            lab.install()
            client.load_strategy(STRATEGY)
            spawn("worker", [*implus, "router", "--redis-url", redis_url])
            bridge = ["ami-bridge", "--config", str(lab.config_path), "--pbx", PBX_ID]
            spawn("bridge", [*implus, *bridge, "--redis-url", redis_url, "--log-level", "warning"])
            chat_port = free_port()
            spawn(
                "chat",
                [
                    *implus,
                    "chat",
                    "--port",
                    str(chat_port),
                    "--demo",
                    "--redis-url",
                    redis_url,
                    "--upload-dir",
                    str(folder / "uploads"),
                ],
                {
                    "IMPLUS_CHAT_SECRET_KEY": "bench-" + "k" * 40,
                    "IMPLUS_CHAT_VOIP_CONFIG": str(lab.config_path),
                },
            )
            url = f"http://127.0.0.1:{chat_port}"
            wait("the chat service", lambda: urllib.request.urlopen(url + "/healthz").status == 200)
            uas = sipp.phone(5091, "answer", ring=0.0, talk=None, calls=0, max_seconds=3600,
                             rtp_echo=6021)  # fmt: skip
            box.cli("pjsip qualify 1001")
            wait("alice in the router", lambda: client.agent("alice"), 30)
            client.heartbeat("alice", source="desktop", ttl=3600)
            client.set_status("alice", "available")
            wait(
                "alice's phone available",
                lambda: client.agent("alice").devices.get("sip") == "available",
                30,
            )
            return calls(args, url, client, sipp, uas, box)
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.wait(10)
            sipp.stop_all()
            box.hangup_all()
            box.reset_includes()
            box.reload()


def free(client: Any) -> bool:
    a = client.agent("alice")
    return a is not None and a.load.get("voice", 0) == 0 and a.devices.get("sip") == "available"


def calls(
    args: argparse.Namespace, url: str, client: Any, sipp: Sipp, uas: Any, box: Any
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    pressed: dict[str, float] = {}
    media_ms: list[float] = []
    sent_at: dict[str, float] = {}
    failed = 0
    ref_runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        for i in range(-args.warmup, args.calls):
            user = f"w{i + args.warmup:03d}x{int(time.time()) % 100000}"
            try:
                token = json.loads(
                    urllib.request.urlopen(
                        urllib.request.Request(
                            url + "/widget/demo-token",
                            data=json.dumps({"user_id": user}).encode(),
                            headers={"Content-Type": "application/json"},
                        )
                    ).read()
                )["token"]
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{url}/chat?service=booking#token={token}")
                # the widget has loaded SIP.js (it does so as soon as the page shows)
                page.wait_for_selector("button.voip-call-us[data-ready='1']:visible")
                page.click("button.voip-call-us")
                page.wait_for_selector(".voip[data-state='connected']", timeout=20000)
                panel = page.locator(".voip")
                first = wait("first RTP", lambda p=panel: p.get_attribute("data-first-rtp-ms"), 10)
                if i >= 0:  # warm-up calls (first DTLS handshakes, caches) are not counted
                    pressed[user] = int(panel.get_attribute("data-pressed-at") or 0) / 1000
                    media_ms.append(float(first))
                say(f"call {i}: {panel.get_attribute('data-marks')} first RTP {first} ms")
                page.click("button.voip-hangup")
                page.wait_for_selector(".voip[data-state='ended']")
                context.close()
            except Exception as e:
                failed += 1
                say(f"WebRTC call {i} failed: {e}")
            wait("alice free", lambda: free(client), 30)
            caller = f"555{i + args.warmup:04d}"
            ref = sipp.customer_call(ENTRY, caller=caller, hold=3.0, rtp_echo=6031)
            result = ref.wait(30)
            if not result.ok:
                failed += 1
            ref_runs.append(ref)
            if i >= 0:
                with contextlib.suppress(Exception):
                    sent_at.update(invites(_msg_log(ref.workdir), "sent"))
            wait("alice free", lambda: free(client), 30)
        browser.close()
    rung = invites(_msg_log(uas.workdir), "received")
    webrtc_ring = [(rung[u] - t) * 1000 for u, t in pressed.items() if u in rung]
    sip_ring = [(rung[c] - t) * 1000 for c, t in sent_at.items() if c in rung]
    out = {
        "benchmark": "voip_calls",
        "calls": args.calls,
        "failed": failed,
        "webrtc_ring_p50_ms": round(percentile(webrtc_ring, 0.5), 1),
        "webrtc_ring_p99_ms": round(percentile(webrtc_ring, 0.99), 1),
        "webrtc_media_p50_ms": round(percentile(media_ms, 0.5), 1),
        "webrtc_media_p99_ms": round(percentile(media_ms, 0.99), 1),
        "sip_ring_p50_ms": round(percentile(sip_ring, 0.5), 1),
        "sip_ring_p99_ms": round(percentile(sip_ring, 0.99), 1),
        "webrtc_rings_measured": len(webrtc_ring),
        "sip_rings_measured": len(sip_ring),
    }
    out["added_ring_p99_ms"] = round(out["webrtc_ring_p99_ms"] - out["sip_ring_p99_ms"], 1)
    return out


def _msg_log(workdir: Path) -> str:
    path = Path(workdir) / "messages.log"
    return path.read_text(errors="replace") if path.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2, help="calls of each kind not counted")
    parser.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voip-bench-") as tmp:
        result = run(args, Path(tmp))
    if not args.json:
        for k, v in result.items():
            print(f"{k:>24}: {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
