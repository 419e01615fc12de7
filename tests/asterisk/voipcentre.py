"""Browser VoIP on the sandbox: the call centre plus `implus chat` (with the SIP relay)
and Debian chromium with fake media (docs/voip.md). Real components only: the chat
process, the router worker, the AMI bridge, Asterisk's WebSocket transport and sipp."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from callcentre import wait_for

sys.path.insert(0, str(Path(__file__).parents[1] / "chat"))
from chattest import ChatProcess, chat_env, fast_accounts, free_port

from devstack.lab import RELAY_SECRET, RELAY_SECRET_ENV

CHROMIUM = "/usr/bin/chromium"
MEDIA_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


def start_chat(redis_url: str, config: Path, folder: Path) -> ChatProcess:
    """`implus chat` in demo mode with the SIP relay on the lab's admin YAML."""
    env = chat_env(
        redis_url,
        folder / "uploads",
        IMPLUS_CHAT_VOIP_CONFIG=str(config),
        IMPLUS_CHAT_DEMO_MODE="true",
        IMPLUS_CHAT_HEARTBEAT_TTL="600",
        **{RELAY_SECRET_ENV: RELAY_SECRET},
    )
    env["IMPLUS_CHAT_LOG_LEVEL"] = "info"  # the relay logs each browser it serves
    chat = ChatProcess(port=free_port(), env=env, log=folder / "chat.log")
    chat.start()
    return chat


def agent_login(redis_url: str, agent: str) -> str:
    """Make the agent's desktop login; returns its password."""
    from chat.accounts import Role

    password = f"{agent}-password"
    fast_accounts(redis_url).set_password(Role.AGENT, agent, password, agent.title())
    return password


def open_desktop(page: Any, url: str, agent: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", agent)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url("**/agent")
    page.wait_for_selector("#link-state:has-text('online')")
    page.select_option("#status-select", "available")
    page.click("#status-apply")
    page.wait_for_selector("#status-now:has-text('available')")


def packets(page: Any, selector: str) -> tuple[int, int]:
    el = page.locator(selector)
    sent = el.get_attribute("data-packets-sent") or "0"
    received = el.get_attribute("data-packets-received") or "0"
    return int(sent), int(received)


def wait_media(page: Any, selector: str, at_least: int = 25) -> tuple[int, int]:
    """Until the browser's getStats() counts RTP both ways (sent and received)."""
    return wait_for(
        f"RTP both ways in {selector}",
        lambda: (p := packets(page, selector))[0] >= at_least and p[1] >= at_least and p,
        20,
    )


def asterisk_rtp(box: Any) -> str:
    """`pjsip show channelstats`: per channel RX/TX packet counts (Asterisk's own view)."""
    return str(box.cli("pjsip show channelstats"))


def rtp_rows(stats: str) -> dict[str, tuple[int, int]]:
    """Channel (as shown, truncated) -> (packets received, packets sent) by Asterisk,
    from `pjsip show channelstats` rows: bridge, channel, uptime, codec, rx count, lost,
    pct, jitter, tx count, lost, pct, jitter, rtt."""
    rows = {}
    for line in stats.splitlines():
        parts = line.split()
        if len(parts) >= 13 and parts[4].isdigit() and parts[8].isdigit():
            rows[parts[1]] = (int(parts[4]), int(parts[8]))
    return rows


def both_ways(box: Any, *prefixes: str) -> dict[str, tuple[int, int]]:
    """Asterisk counts RTP in and out on a channel of each prefix (e.g. the browser's)."""

    def check() -> dict[str, tuple[int, int]] | None:
        rows = rtp_rows(asterisk_rtp(box))
        ok = all(
            any(ch.startswith(p) and rx > 10 and tx > 10 for ch, (rx, tx) in rows.items())
            for p in prefixes
        )
        return rows if ok else None

    return wait_for(f"Asterisk's RTP counts on {prefixes}", check, 10)


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)


def keep_logs(folder: Path, into: Path, box: Any) -> None:
    """Copy the chat log and Asterisk's recent messages next to the screenshots."""
    import shutil as _shutil

    into.mkdir(parents=True, exist_ok=True)
    for name in ("chat.log", "bridge.log"):
        if (folder / name).exists():
            _shutil.copy(folder / name, into / name)
    with contextlib.suppress(OSError):
        lines = (box.messages_log).read_text(errors="replace").splitlines()[-300:]
        (into / "asterisk-messages.log").write_text("\n".join(lines))
