"""`implus dialplan apply` on FreeSWITCH: reloadxml (and gateway rescans) over ESL.

Against the fake FreeSWITCH event socket (tests/freeswitch_fixture, checked against real
FreeSWITCH 1.11.1 transcripts); the api commands a reload uses are answered the way
FreeSWITCH answers them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from dialplan_helpers import WriteConfig, base_config
from freeswitch_fixture.server import FakeFreeSwitch

from admin_config.errors import ReloadFailed
from admin_config.model import load_admin_config
from dialplan.apply import apply
from dialplan.rendering import select_pbx
from esl_bridge.reload import EslReloader
from router.cli import main


@pytest.fixture
def fake_fs() -> Iterator[tuple[FakeFreeSwitch, list[str]]]:
    calls: list[str] = []

    def reloadxml(arg: str | None) -> str:
        calls.append("reloadxml")
        return "+OK [Success]\n"

    def sofia(arg: str | None) -> str:
        calls.append(f"sofia {arg}")
        if arg and arg.endswith(" rescan"):
            return "+OK scan complete\n"
        if arg and " killgw " in arg:
            return "+OK gateway marked for deletion.\n"
        return "-ERR Unknown command\n"

    with FakeFreeSwitch(password="esl-secret") as fs:
        fs.api_handlers["reloadxml"] = reloadxml
        fs.api_handlers["sofia"] = sofia
        yield fs, calls


def _config(write_config: WriteConfig, port: int, **fs_changes: object) -> Path:
    config = base_config()
    config["pbxs"][1].update(port=port, **fs_changes)
    return write_config(config)


def test_apply_reloads_xml_and_rescans_gateways(
    write_config: WriteConfig,
    tmp_path: Path,
    secrets_env: dict[str, str],
    fake_fs: tuple[FakeFreeSwitch, list[str]],
) -> None:
    fs, calls = fake_fs
    dest = tmp_path / "fs"
    config = load_admin_config(_config(write_config, fs.port))
    first = apply(config, select_pbx(config, "fs1"), EslReloader(), dest=dest)
    assert calls == ["reloadxml", "sofia profile external rescan"]
    assert first.reloaded == [
        "reloadxml: +OK [Success]",
        "sofia profile external rescan: +OK scan complete",
    ]

    calls.clear()
    again = apply(config, select_pbx(config, "fs1"), EslReloader(), dest=dest)
    assert not again.changed
    assert calls == []

    longer = base_config()
    longer["pbxs"][1]["port"] = fs.port
    longer["entry_points"][1]["max_wait"] = 120
    config = load_admin_config(write_config(longer))
    result = apply(config, select_pbx(config, "fs1"), EslReloader(), dest=dest)
    assert [c.path for c in result.plan.changed] == ["dialplan/implus.xml"]
    assert calls == ["reloadxml"]  # gateways untouched: no rescan


def test_changed_gateway_is_killed_before_the_rescan(
    write_config: WriteConfig,
    tmp_path: Path,
    secrets_env: dict[str, str],
    fake_fs: tuple[FakeFreeSwitch, list[str]],
) -> None:
    fs, calls = fake_fs
    dest = tmp_path / "fs"
    config = load_admin_config(_config(write_config, fs.port))
    apply(config, select_pbx(config, "fs1"), None, dest=dest)
    changed = base_config()
    changed["pbxs"][1]["port"] = fs.port
    changed["pbxs"][0]["sip_port"] = 5070
    config = load_admin_config(write_config(changed))
    apply(config, select_pbx(config, "fs1"), EslReloader(), dest=dest)
    assert calls == [
        "sofia profile external killgw implus-trunk-link",
        "reloadxml",
        "sofia profile external rescan",
    ]


def test_refused_reload_is_reported(
    write_config: WriteConfig,
    tmp_path: Path,
    secrets_env: dict[str, str],
    fake_fs: tuple[FakeFreeSwitch, list[str]],
) -> None:
    fs, _ = fake_fs
    fs.api_handlers["reloadxml"] = lambda arg: "-ERR [Error parsing directory]\n"
    config = load_admin_config(_config(write_config, fs.port))
    with pytest.raises(ReloadFailed, match=r"`reloadxml` failed: -ERR \[Error parsing"):
        apply(config, select_pbx(config, "fs1"), EslReloader(), dest=tmp_path / "fs")


def test_wrong_password_is_reported(
    write_config: WriteConfig,
    tmp_path: Path,
    secrets_env: dict[str, str],
    fake_fs: tuple[FakeFreeSwitch, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fs, calls = fake_fs
    monkeypatch.setenv("T_ESL", "wrong")
    path = _config(write_config, fs.port)
    run = CliRunner().invoke(
        main, ["dialplan", "apply", "--config", str(path), "--pbx", "fs1", "--dest", str(tmp_path)]
    )
    assert run.exit_code == 1
    assert "refused the event-socket password" in run.output
    assert "wrong" not in run.output
    assert calls == []
    # the files are written; once the password is right, the next apply finishes the job:
    # no file changes any more, but the reload is still owed
    monkeypatch.setenv("T_ESL", "esl-secret")
    args = ["dialplan", "apply", "--config", str(path), "--pbx", "fs1", "--dest", str(tmp_path)]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 0, run.output
    assert run.output.splitlines() == [
        f"fs1: nothing to change - 4 file(s) in {tmp_path} are up to date",
        "still owed by an earlier apply: reloadxml; sofia profile external rescan",
        "reloadxml: +OK [Success]",
        "sofia profile external rescan: +OK scan complete",
    ]
    assert calls == ["reloadxml", "sofia profile external rescan"]
    run = CliRunner().invoke(main, args)
    assert run.output == f"fs1: nothing to change - 4 file(s) in {tmp_path} are up to date\n"
    assert calls == ["reloadxml", "sofia profile external rescan"]  # nothing owed any more
