"""The desktop's call buttons and the supervisor's live calls in a real browser (Debian
chromium, Playwright) against a real `implus chat`, router worker and redis-server. The PBX
bridge's part is played by appending the transcript entries it writes (tests/asterisk and
tests/fsbridge run the real bridges)."""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chattest import ChatProcess, Stack, chat_env, fast_accounts, free_port, staff_login

from router.client import RouterClient

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]
FILE = "booking/2026-12-01/17.9-1796600000000.wav"
ENV = {
    "IMPLUS_CHAT_HEARTBEAT_TTL": "6",
    "IMPLUS_CHAT_RATE_PER_SECOND": "50",
    "IMPLUS_CHAT_RATE_BURST": "100",
}


@pytest.fixture
def calls_stack(
    redis_url: str, router_worker: Any, router_client: RouterClient, tmp_path: Path
) -> Iterator[tuple[Stack, Path]]:
    """A chat service that finds PBX ast1's recordings in tmp_path/recordings."""
    recordings = tmp_path / "recordings"
    server = ChatProcess(
        port=free_port(),
        env=chat_env(
            redis_url,
            tmp_path / "uploads",
            **ENV,
            IMPLUS_CHAT_RECORDINGS_DIRS=f"ast1={recordings}",
        ),
        log=tmp_path / "chat.log",
    )
    server.start()
    accounts = fast_accounts(redis_url)
    stack = Stack(server, router_client, accounts, staff_login(accounts, "admin", "root"))
    yield stack, recordings
    stack.close_all()
    server.stop()


def _login(page: Any, url: str, user: str, role: str = "agent") -> None:
    page.goto(url + "/login")
    page.fill("#username", user)
    page.fill("#password", f"{user}-password")
    if role == "admin":
        page.check("input[name=role][value=admin]")
    page.click("#login-submit")


def _commands(router: RouterClient) -> list[dict[str, str]]:
    rows = router.redis.xrange(router.keys.pbx_commands("ast1"))
    return [f for _, f in rows if f["type"] in ("call_control", "supervise")]


def _wait(what: str, check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_call_buttons_and_listening_in(
    new_page: Any, calls_stack: tuple[Stack, Path], artifacts_dir: Path
) -> None:
    stack, recordings = calls_stack
    shots = artifacts_dir / "call-control-browser"
    shots.mkdir(exist_ok=True)
    router = stack.router
    stack.agent("alice", pbx="ast1", endpoint="1001")
    stack.agent("bob", pbx="ast1", endpoint="1002")
    router.heartbeat("alice", "sip", ttl=600, device="available")

    agent = new_page()
    _login(agent, stack.chat.url, "alice")
    agent.wait_for_url("**/agent")
    agent.wait_for_selector("#link-state:has-text('online')")
    agent.select_option("#status-select", "available")
    agent.click("#status-apply")
    agent.wait_for_selector("#status-now:has-text('available')")

    # A caller reaches the booking line; the desktop gets the offer and accepts it.
    sub = router.submit("voice", "booking", "5550109", pbx="ast1", call_id="17.9")
    agent.click(".offer[data-channel=voice] button.accept")
    agent.wait_for_selector(f"#session-{sub.session_id}")
    panel = f"#session-{sub.session_id}"
    assert agent.locator(f"{panel} .call-controls").is_hidden()
    # what the bridge writes when the agent's phone answered: the buttons appear
    router.append(
        sub.session_id,
        {"type": "call.answered", "party": "agent", "agent": "alice", "call_id": "17.9"},
    )
    agent.wait_for_selector(f"{panel} .call-controls button.call-hold:enabled")
    assert agent.locator(f"{panel} .call-controls button.call-resume").is_disabled()

    agent.click(f"{panel} button.call-hold")
    hold = _wait("the hold command", lambda: _commands(router))
    assert [(c["action"], c["by"]) for c in hold] == [("hold", "alice")]
    router.append(  # the bridge's outcome
        sub.session_id,
        {"type": "call.control", "action": "hold", "by": "alice", "state": "done"},
    )
    agent.wait_for_selector(f"{panel} button.call-resume:enabled")
    agent.wait_for_selector(f"{panel} .timeline :text('alice put the customer on hold')")

    # the transfer picker lists the queues and the other agents
    agent.wait_for_selector(
        f"{panel} select.call-target option[value='agent:bob']", state="attached"
    )
    agent.select_option(f"{panel} select.call-target", "agent:bob")
    agent.click(f"{panel} button.call-consult")
    consult = _wait("the consult command", lambda: _commands(router)[1:])
    assert (consult[0]["action"], consult[0]["target"]) == ("consult", "bob")
    # a number typed in wins; hostile text is refused by the service, shown to the agent
    agent.fill(f"{panel} input.call-number-target", "555;0100")
    agent.click(f"{panel} button.call-transfer")
    agent.wait_for_selector(f"{panel} .call-note:not(:empty)")
    assert len(_commands(router)) == 2

    # a recording in the timeline plays for the agent (range requests from the player)
    path = recordings / FILE
    path.parent.mkdir(parents=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 16000)
    router.append(
        sub.session_id,
        {"type": "call.recording", "state": "started", "file": FILE, "pbx": "ast1"},
    )
    player = agent.wait_for_selector(f"{panel} audio.recording")
    src = player.get_attribute("src")
    fetched = agent.request.get(stack.chat.url + src, headers={"Range": "bytes=0-43"})
    assert fetched.status == 206 and fetched.body()[:4] == b"RIFF"
    agent.screenshot(path=str(shots / "1-desktop-call-controls.png"))

    # The supervisor sees the live call and listens in.
    supervisor = new_page()
    _login(supervisor, stack.chat.url, "root", role="admin")
    supervisor.wait_for_url("**/supervisor")
    row = f"#live-calls-table tr[data-session='{sub.session_id}']"
    supervisor.wait_for_selector(row)
    supervisor.click(f"{row} button.supervise-listen")
    listen = _wait("the supervise command", lambda: _commands(router)[2:])
    assert (listen[0]["type"], listen[0]["mode"], listen[0]["supervisor"]) == (
        "supervise",
        "listen",
        "root",
    )
    supervisor.click(f"{row} button.supervise-timeline")
    supervisor.wait_for_selector("#live-call-timeline audio.recording", state="attached")
    supervisor.screenshot(path=str(shots / "2-supervisor-live-calls.png"))
    # the customer's view has none of it
    view = router.transcript(sub.session_id)
    from chat.visibility import for_customer

    shown = [for_customer(e) for e in view]
    assert not [e for e in shown if e and e["type"] in ("call.control", "call.recording")]
