"""A minimal blocking AMI probe: does the sandbox Asterisk accept its login and report
FullyBooted? (The bridge itself talks AMI through `ami_bridge.connection`.)"""

from __future__ import annotations

import contextlib
import socket
import time

from . import configs


def ami_fully_booted(
    host: str = configs.AMI_HOST,
    port: int = configs.AMI_PORT,
    timeout: float = 2.0,
) -> bool:
    """True when AMI accepts the sandbox login and reports FullyBooted.

    A minimal blocking probe for the CLI and the fixture's readiness check (the bridge
    itself talks AMI through `ami_bridge.connection`). Asterisk sends FullyBooted to
    every session that logs in after the boot has finished.
    """
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(
                f"Action: Login\r\nUsername: {configs.AMI_USER}\r\n"
                f"Secret: {configs.AMI_SECRET}\r\nEvents: system\r\n\r\n".encode()
            )
            data = b""
            while b"Event: FullyBooted" not in data:
                left = deadline - time.monotonic()
                if left <= 0 or b"Response: Error" in data:
                    return False
                s.settimeout(left)
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
            with contextlib.suppress(OSError):
                s.sendall(b"Action: Logoff\r\n\r\n")
            return True
    except OSError:
        return False
