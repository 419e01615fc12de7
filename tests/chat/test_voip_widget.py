"""The widget's VoIP part without a PBX: "Call us" shows only for a service with a VoIP
line, a denied microphone is a clear message and the chat keeps working, and SIP.js comes
from node_modules (docs/voip.md). Debian chromium, a real `implus chat`, real Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from chattest import ChatProcess, chat_env, free_port

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

ADMIN = {
    "strategy": "strategy.yaml",
    "pbxs": [
        {
            "id": "ast1",
            "kind": "asterisk",
            "secret_env": "T_AMI",
            "webrtc": {"relay_secret_env": "T_RELAY"},
        }
    ],
    "services": [{"id": "booking"}, {"id": "billing"}],
    "entry_points": [
        {"id": "voip", "pbx": "ast1", "extension": "810", "service": "booking", "media": "voip"}
    ],
}


def test_no_microphone_is_a_clear_message_and_the_chat_goes_on(
    new_page: Any, redis_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "strategy.yaml").write_text("rules: []\n")
    (tmp_path / "admin.yaml").write_text(yaml.safe_dump(ADMIN))
    env = chat_env(
        redis_server.url,
        tmp_path / "uploads",
        IMPLUS_CHAT_VOIP_CONFIG=str(tmp_path / "admin.yaml"),
        IMPLUS_CHAT_DEMO_MODE="true",
        T_RELAY="relay-secret-0123456789",
    )
    chat = ChatProcess(port=free_port(), env=env, log=tmp_path / "chat.log")
    chat.start()
    try:
        page = new_page()  # this chromium has no (fake) audio device and no permission
        page.goto(chat.url + "/chat?service=booking")
        page.fill("input.user-id", "u90")
        page.click("button.start")
        page.wait_for_selector("button.voip-call-us[data-ready='1']:visible")
        page.click("button.voip-call-us")
        status = page.wait_for_selector(".voip-status:has-text('The chat keeps working')")
        assert status is not None
        assert status.inner_text().startswith(("No microphone was found", "Microphone access"))
        assert page.locator(".voip").get_attribute("data-state") == "idle"
        page.fill("textarea.text", "no mic, still chatting")
        page.click("button.send")
        page.wait_for_selector(".entry.me .meta:has-text('✓')")

        other = new_page()  # billing has no VoIP line: no button
        other.goto(chat.url + "/chat?service=billing")
        other.fill("input.user-id", "u91")
        other.click("button.start")
        other.wait_for_selector("textarea.text")
        other.wait_for_timeout(1000)
        assert other.locator("button.voip-call-us:visible").count() == 0
        assert page.request.get(chat.url + "/vendor/sip.js/lib/index.js").ok
        assert page.request.get(chat.url + "/vendor/sip.js/package.json").status == 404
    finally:
        chat.stop()
