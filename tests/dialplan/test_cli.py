"""`implus dialplan check | render | apply` through the real `implus` click group."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from dialplan_helpers import WriteConfig, base_config

from router.cli import main


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["dialplan", *args])
    return result.exit_code, result.output


def test_dialplan_is_registered() -> None:
    code, out = _run("--help")
    assert code == 0
    assert "check" in out
    assert "render" in out
    assert "apply" in out


def test_check_clean(write_config: WriteConfig, secrets_env: dict[str, str]) -> None:
    path = write_config()
    code, out = _run("check", "--config", str(path))
    assert code == 0
    assert out == (
        f"{path}: OK - 2 PBX(s): ast1 (asterisk), fs1 (freeswitch); 2 service(s), "
        "2 entry point(s), 3 agent(s), 3 trunk(s); strategy strategy.yaml\n"
    )


def test_check_prints_every_problem_and_exits_1(write_config: WriteConfig) -> None:
    config = base_config()
    config["entry_points"][0]["service"] = "bookin"
    config["agents"][1]["pbx"] = "fs9"
    path = write_config(config)
    code, out = _run("check", "--config", str(path))
    assert code == 1
    lines = path.read_text().splitlines()
    service_line = lines.index("  service: bookin") + 1
    assert (
        f"{path}:{service_line}: entry_points[0].service: unknown service 'bookin' "
        "(known: billing, booking)" in out
    )
    assert "agents[1].pbx: unknown PBX 'fs9' (known: ast1, fs1)" in out
    assert out.rstrip().endswith("2 problem(s), 5 warning(s)")


def test_check_warns_about_skills_nobody_has_or_nobody_uses(
    write_config: WriteConfig, secrets_env: dict[str, str]
) -> None:
    """A typo on either side of the skill match: `billng` in a strategy queue routes
    nothing, `saels` on an agent matches nothing. Both are warnings with file and line."""
    config = base_config()
    config["agents"][0]["skills"] = {"booking": 3, "saels": 2}
    path = write_config(config)
    strategy = path.parent / "strategy.yaml"
    strategy.write_text(
        "queues:\n"
        "  booking: {skills: {booking: 1}}\n"
        "  billing:\n"
        "    skills:\n"
        "      billng: 1\n"
        "rules:\n"
        "  - name: billing\n"
        "    conditions: service == 'billing'\n"
        "    actions: {queue: billing}\n"
        "    goals:\n"
        "      - {after: 30, skills: {billing: 0}}\n",
        encoding="utf-8",
    )
    code, out = _run("check", "--config", str(path))
    assert code == 0, out
    saels_line = path.read_text().splitlines().index("    saels: 2") + 1
    assert (
        f"{strategy}:5: warning: queues.billing.skills.billng: skill 'billng': no agent has it, "
        "so queue billing can never be served (agents' skills: billing, booking, saels)"
    ) in out
    assert (
        f"{path}:{saels_line}: warning: agents[0].skills.saels: skill 'saels' is used by no "
        "queue or rule of strategy.yaml (they use: billing, billng, booking)"
    ) in out
    assert "rules[0].goals[0].skills.billing" not in out  # bob has billing
    assert out.rstrip().endswith("; 2 warning(s)")


def test_check_missing_file(tmp_path: Path) -> None:
    code, out = _run("check", "--config", str(tmp_path / "admin.yaml"))
    assert code == 1
    assert "cannot read" in out


def test_render_and_apply(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    path = write_config()
    out_dir = tmp_path / "out"
    code, out = _run("render", "--config", str(path), "--pbx", "asterisk", "--out", str(out_dir))
    assert code == 0, out
    assert (out_dir / "extensions_implus.conf").exists()
    assert "rendered 3 file(s) for ast1 (asterisk)" in out

    dest = tmp_path / "etc"
    args = ["apply", "--config", str(path), "--pbx", "ast1", "--dest", str(dest)]
    code, out = _run(*args, "--no-reload")
    assert code == 0, out
    assert "new       extensions_implus.conf (+" in out
    assert "not reloaded (--no-reload): reload pbx_config; reload res_pjsip.so; reload manager" in (
        out
    )
    assert "pw-1001" not in out
    assert "ami-secret" not in out
    code, out = _run(*args, "--no-reload")
    assert code == 0
    assert out.splitlines() == [
        f"ast1: nothing to change - 3 file(s) in {dest} are up to date",
        "still owed by an earlier apply: reload pbx_config; reload res_pjsip.so; reload manager",
        "not reloaded (--no-reload): reload pbx_config; reload res_pjsip.so; reload manager; "
        "the next apply reloads it",
    ]


def test_render_refuses_admin_files(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pjsip_implus.conf").write_text("[mine]\n")
    code, out = _run(
        "render", "--config", str(write_config()), "--pbx", "ast1", "--out", str(tmp_path / "out")
    )
    assert code == 1
    assert "refusing to overwrite pjsip_implus.conf" in out


def test_render_needs_secrets(write_config: WriteConfig, tmp_path: Path) -> None:
    code, out = _run(
        "render", "--config", str(write_config()), "--pbx", "ast1", "--out", str(tmp_path / "o")
    )
    assert code == 1
    assert "T_AMI (AMI secret of PBX ast1)" in out


def test_apply_unreachable_pbx_fails_clearly(
    write_config: WriteConfig,
    tmp_path: Path,
    secrets_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = base_config()
    from dialplan_helpers import free_port_for_test

    config["pbxs"][0]["port"] = free_port_for_test()
    path = write_config(config)
    code, out = _run("apply", "--config", str(path), "--pbx", "ast1", "--dest", str(tmp_path / "e"))
    assert code == 1
    assert "cannot reach AMI at 127.0.0.1:" in out
