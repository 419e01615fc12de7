import time
import pytest
from chattest import Stack

pytestmark = [pytest.mark.browser, pytest.mark.redis]

def test_debug(new_page, stack: Stack) -> None:
    stack.agent("alice")
    agent = new_page()
    logs = []
    agent.on("console", lambda m: logs.append(f"console {m.type}: {m.text}"))
    agent.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
    agent.goto(stack.chat.url + "/login")
    agent.fill("#username", "alice")
    agent.fill("#password", "alice-password")
    agent.click("#login-submit")
    agent.wait_for_url("**/agent")
    time.sleep(2)
    agent.select_option("#status-select", "available")
    agent.click("#status-apply")
    time.sleep(2)
    agent.screenshot(path="/tmp/dbg.png", full_page=True)
    print("\n".join(logs))
    print(agent.locator("#status-now").inner_text(), agent.locator("#link-state").inner_text())
