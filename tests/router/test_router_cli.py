"""`implus router ...` as users type it: options where they put them, bad URLs answered in
one line, request ids shown by `status` so `explain` can be used. Real redis-server."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from router.cli import main
from router.client import RouterClient

pytestmark = pytest.mark.redis

STRATEGY = """\
queues: {booking: {}}
rules:
  - name: vip
    conditions: customer.vip >= 2
    actions: {queue: booking, priority: 10}
  - name: everyone
    conditions: "true"
    actions: {queue: booking}
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def filed(redis_url: str) -> str:
    client = RouterClient.from_url(redis_url)
    client.load_strategy(STRATEGY)
    request_id = client.submit("chat", "booking", "u-cli").request_id
    client.close()
    return request_id


@pytest.mark.parametrize("where", ["before", "after"])
def test_redis_url_works_before_and_after_the_subcommand(
    redis_url: str, filed: str, where: str
) -> None:
    args = ["--redis-url", redis_url]
    code, out = (
        run("router", *args, "status") if where == "before" else run("router", "status", *args)
    )
    assert code == 0, out
    assert "recent requests" in out
    assert re.search(rf"^  {re.escape(filed)} .* chat +booking +user u-cli", out, re.M), out


def test_explain_takes_the_id_status_shows(redis_url: str, filed: str) -> None:
    code, out = run("router", "explain", filed, "--redis-url", redis_url)
    assert code == 0, out
    assert f"request {filed}: chat booking for user u-cli" in out


def test_a_missing_fact_reads_as_a_normal_outcome_not_an_error(redis_url: str) -> None:
    client = RouterClient.from_url(redis_url)
    client.load_strategy(STRATEGY)
    rid = client.submit("chat", "booking", "u-novip").request_id
    deadline_notes: list[str] = []
    from router.allocation import plan_for

    request = client.request(rid)
    assert request is not None
    _plan, deadline_notes = plan_for(request, client.strategy(), request.created)
    client.close()
    [note] = deadline_notes
    assert "skipped" not in note and "does not apply" in note and "missing" in note, note


@pytest.mark.parametrize("url", ["notaurl", "http://example.com"])
def test_a_bad_redis_url_is_one_clear_line(url: str) -> None:
    result = CliRunner().invoke(main, ["router", "status", "--redis-url", url])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "redis://127.0.0.1:6379/0" in lines[0], lines[0]


def test_workers_for_several_domains_and_inspecting_one(redis_url: str) -> None:
    code, out = run("router", "--redis-url", redis_url, "--domain", "a", "--domain", "b",
                    "status")  # fmt: skip
    assert code == 2 and "works on one domain" in out and "a, b" in out
    code, out = run("router", "--redis-url", redis_url, "--domain", "a", "move-domain", "--to",
                    "127.0.0.1:1")  # fmt: skip
    assert code == 1 and "needs a redis+cluster:// URL" in out


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet); its stdout."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout


PACKAGES = ("chat", "dialplan", "ami_bridge", "esl_bridge", "reports", "devstack")


def test_a_worker_command_imports_no_other_package() -> None:
    # `implus router` (what each worker process runs) found the other packages' commands
    # at start: ~0.17 s of CPU per worker for commands it never runs.
    out = _fresh(
        "import sys\n"
        "from router.cli import main\n"
        "try:\n"
        "    main(['router', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(p for p in {PACKAGES!r} if p in sys.modules))\n"
    )
    assert out.strip().splitlines()[-1] == "[]"


def test_the_other_packages_commands_are_listed_and_run() -> None:
    code, out = run("--help")
    assert code == 0
    for name in ("chat", "dialplan", "ami-bridge", "esl-bridge", "reports", "sandbox", "up"):
        assert re.search(rf"^\s+{name}\s", out, re.M), (name, out)
    code, out = run("dialplan", "--help")
    assert code == 0 and "check" in out
    code, out = run("no-such-command")
    assert code == 2 and "No such command 'no-such-command'" in out
