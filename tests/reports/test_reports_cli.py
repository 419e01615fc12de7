"""`implus reports ...`: migrate, show, prune, erase, status on real databases, and the
sink as a real process that stops cleanly on SIGTERM and resumes where it stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner
from feed import known_sequence, ms
from sqlalchemy.engine import Engine

from reports import schema as s
from reports.cli import reports_group
from reports.db import make_engine
from reports.retention import erase_user, prune
from reports.store import Store, user_key, user_key_secret
from router.keys import Keys


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(reports_group, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    Store(engine, user_key_secret(engine, env={})).ingest(known_sequence().entries)
    return engine


def test_migrate_then_show_a_report(db_url: str) -> None:
    code, out = run("--database-url", db_url, "migrate")
    assert code == 0 and "revision 0001" in out
    eng = make_engine(db_url)
    Store(eng, b"k").ingest(known_sequence().entries)
    eng.dispose()
    code, out = run(
        "--database-url", db_url, "show", "queue", "--from", "2026-11-30", "--interval", "day",
    )  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("interval_start,key,offered,answered")
    assert lines[1].startswith("2026-11-30T00:00:00+00:00,billing,3,2,1")
    code, out = run(
        "--database-url", db_url, "show", "agent", "--from", "2026-11-30", "--format", "json",
    )  # fmt: skip
    assert {r["key"] for r in json.loads(out)} == {"alice", "bob"}


def test_commands_on_an_unmigrated_database_say_what_to_run(db_url: str) -> None:
    code, out = run("--database-url", db_url, "status")
    assert code == 1 and "run `implus reports migrate`" in out
    code, out = run("--database-url", db_url, "show", "queue", "--from", "soon")
    assert code == 2 and "is not a date" in out


def test_the_default_database_is_a_file_in_the_data_folder(tmp_path: Path) -> None:
    code, out = run("--data-dir", str(tmp_path / "data"), "migrate")
    assert code == 0, out
    assert (tmp_path / "data" / "reports.sqlite3").exists()


def test_prune_keeps_the_retention(loaded: Engine, db_url: str) -> None:
    assert prune(loaded, 30, ms(0, hour=12)) == dict.fromkeys(
        ("events", "contacts", "offers", "sessions", "agent_periods"), 0
    )
    code, out = run("--database-url", db_url, "prune", "--retention-days", "1")
    assert code == 0 and "older than 1 days" in out
    with loaded.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.contacts)).scalar() == 0
        left = conn.execute(sa.select(s.agent_periods.c.status, s.agent_periods.c.end_at)).all()
    assert sorted(left) == [("away", None), ("offline", None)]  # what the agents are in now


def test_erase_unties_a_user_from_their_sessions(loaded: Engine, db_url: str) -> None:
    code, out = run("--database-url", db_url, "erase", "--user", "+441234500001")
    assert code == 0 and "1 session(s) no longer tied to that user" in out and "s1" in out
    secret = user_key_secret(loaded, env={})
    with loaded.connect() as conn:
        keys = dict(conn.execute(sa.select(s.sessions.c.session_id, s.sessions.c.user_key)).all())
        assert keys["s1"] is None
        assert keys["s2"] == user_key(secret, "+441234500002")
        text = json.dumps([list(r) for r in conn.execute(sa.select(s.events)).all()])
    assert "+4412345" not in text and "web-42" not in text
    assert erase_user(loaded, secret, "+441234500001").sessions == []  # already done


def test_status_counts_the_rows(loaded: Engine, db_url: str) -> None:
    code, out = run("--database-url", db_url, "status")
    assert code == 0
    assert "schema 0001" in out and "contacts" in out and "7 rows" in out


@pytest.mark.redis
def test_the_sink_process_stops_on_sigterm_and_resumes(
    rds: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    exe = shutil.which("implus", path=str(Path(sys.executable).parent))
    assert exe, "implus is not installed in this venv: pip install -e '.[test]'"
    entries = known_sequence().entries
    url = f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    env = {**os.environ, "IMPLUS_REPORTS_DATABASE_URL": url, "IMPLUS_REDIS_URL": redis_url}

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [exe, "reports", "sink"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    def stored() -> int:
        eng = make_engine(url)
        try:
            with eng.connect() as conn:
                return int(
                    conn.execute(sa.select(sa.func.count()).select_from(s.events)).scalar() or 0
                )
        except sa.exc.OperationalError:
            return 0
        finally:
            eng.dispose()

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 30
        while stored() < n:
            assert time.monotonic() < deadline, f"only {stored()} of {n} events stored"
            time.sleep(0.1)

    for entry_id, fields in entries[:20]:
        rds.xadd(Keys().events(), fields, id=entry_id)
    proc = start()
    wait_for(20)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, out
    assert "20 events stored this run" in out
    for entry_id, fields in entries[20:]:
        rds.xadd(Keys().events(), fields, id=entry_id)
    proc = start()  # takes the lease again: the first released it
    wait_for(len(entries))
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=20)[0].decode()
    assert f"{len(entries) - 20} events stored this run" in out
