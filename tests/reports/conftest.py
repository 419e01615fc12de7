"""Fixtures for the reports tests: every database test runs twice, on a SQLite file and on
a real PostgreSQL cluster the session starts (Debian's postgresql, `make deps`), never
skipped. Redis tests use the real redis-server of tests/conftest.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from devstack.postgres import PostgresCluster
from reports.db import make_engine, migrate

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the test session (fsync off: tests only)."""
    cluster = PostgresCluster(durable=False)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty reports database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'reports.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"reports_{next(_names)}")


@pytest.fixture
def another_engine(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A second migrated, empty database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"reports_{next(_names)}")
    eng = make_engine(url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty reports database."""
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()
