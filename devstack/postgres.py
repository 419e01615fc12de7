"""A throw-away PostgreSQL cluster on loopback, for tests and benchmarks (Debian's package).

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres``
user the Debian package creates, and its programs run through ``runuser``. The cluster
lives in its own temporary folder (data, socket and log) and listens on 127.0.0.1 only,
with trust authentication for the local user it is created with: nothing outside this
machine can reach it, and it is deleted by :meth:`PostgresCluster.stop`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from .errors import SandboxError

SUPERUSER = "implus"


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL's program folder (``/usr/lib/postgresql/<v>/bin``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise SandboxError(
            "PostgreSQL is not installed: run `make deps` (apt-get install postgresql)"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """``start()`` a cluster, ``create_database()`` per test, ``stop()`` removes it all.

    ``durable=False`` turns fsync off (tests); benchmarks keep PostgreSQL's defaults.
    """

    def __init__(self, durable: bool = True, port: int = 0) -> None:
        self.bin = postgres_bin()
        self.port = port or _free_port()
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="implus-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise SandboxError(
                    "no `postgres` user to run PostgreSQL as: reinstall Debian's postgresql"
                ) from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.started = False

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if check and result.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise SandboxError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}\n{tail}"
            )
        return result

    @property
    def url(self) -> str:
        """URL of the ``postgres`` maintenance database (no password: trust on loopback)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = [
            f"-p {self.port}",
            f"-k {self.root}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=50",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one SQL statement with psql as the superuser; its output."""
        return self._run(
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            statement,
        ).stdout

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database names here are letters, digits and _: {name!r}")
        self.sql(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def stop(self) -> None:
        if self.started:
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop", check=False
            )
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)
