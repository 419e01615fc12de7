"""Starting the ESL bridge (esl_bridge.settings, `python -m esl_bridge`, `implus esl-bridge`):
what it refuses to start with, and the error that names what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fsbridge_harness import ESL_PASSWORD_ENV, admin_config, write_config

from esl_bridge.errors import BridgeConfigError
from esl_bridge.settings import build_settings, read_config


def test_an_unreadable_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(BridgeConfigError, match=r"nope\.yaml"):
        read_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("pbxs: [{id: fs1, kind: freeswitch}]\n")
    with pytest.raises(BridgeConfigError, match=r"bad.yaml:1: .*secret_env"):
        read_config(tmp_path / "bad.yaml")


def test_settings_name_what_is_missing(config) -> None:
    env = {ESL_PASSWORD_ENV: "pw", "IMPLUS_REDIS_URL": "redis://127.0.0.1:1/0"}
    settings = build_settings(config, "fs1", env=env)
    assert (settings.esl.port, settings.esl.password) == (8021, "pw")
    assert "implus::overflow" in settings.esl.custom_subclasses
    with pytest.raises(BridgeConfigError, match=f"set {ESL_PASSWORD_ENV}"):
        build_settings(config, "fs1", env={"IMPLUS_REDIS_URL": "redis://x"})
    with pytest.raises(BridgeConfigError, match="IMPLUS_REDIS_URL"):
        build_settings(config, "fs1", env={ESL_PASSWORD_ENV: "pw"})
    with pytest.raises(BridgeConfigError, match=r"no PBX 'fs9'.*fs1"):
        build_settings(config, "fs9", env=env)


def run_bridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esl_bridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_the_bridge_refuses_to_start_without_what_it_needs(tmp_path: Path) -> None:
    data = admin_config(8021)
    data["pbxs"].append({"id": "ast1", "kind": "asterisk", "secret_env": "X_AMI"})
    path = write_config(tmp_path, data)
    out = run_bridge("--config", str(path), "--pbx", "ast1", "--redis-url", "redis://x")
    assert out.returncode == 1
    assert "is an asterisk, not a FreeSWITCH: run `implus ami-bridge`" in out.stderr
    # through the `implus` command, which re-executes itself with gevent patched first
    implus = Path(sys.executable).with_name("implus")
    out = subprocess.run(
        [str(implus), "esl-bridge", "--config", str(path), "--pbx", "fs1",
         "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, ESL_PASSWORD_ENV: "pw"},
    )  # fmt: skip
    assert out.returncode == 1
    assert "cannot reach Redis" in out.stderr
    assert "Usage: implus esl-bridge" not in out.stderr


def test_implus_has_the_esl_bridge_subcommand() -> None:
    from router.cli import main

    result = CliRunner().invoke(main, ["esl-bridge", "--help"])
    assert result.exit_code == 0, result.output
    assert "--agents-from-api" in result.output
