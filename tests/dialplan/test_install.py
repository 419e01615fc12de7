"""Installing files: only changes are written, foreign files are never touched, secrets masked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from dialplan_helpers import SECRETS, WriteConfig, base_config

from admin_config.errors import ReloadFailed
from admin_config.model import Pbx, load_admin_config
from admin_config.secrets import Secrets, mask
from dialplan.apply import ReloadPlan, apply, reload_plan
from dialplan.errors import UnsafeOverwrite
from dialplan.install import MANIFEST, plan_install, write_plan
from dialplan.rendering import RenderedFile, render, select_pbx


class RecordingReloader:
    """Records reload plans; the file logic under test does not need a PBX."""

    def __init__(self) -> None:
        self.plans: list[ReloadPlan] = []

    def reload(self, pbx: Pbx, plan: ReloadPlan) -> list[str]:
        self.plans.append(plan)
        return plan.describe()


def _file(path: str, body: str, secret: bool = False) -> RenderedFile:
    return RenderedFile(path, f"; implus generated file\n{body}\n", "dialplan", secret)


def test_new_unchanged_changed_removed(tmp_path: Path) -> None:
    write_plan(plan_install([_file("a.conf", "1"), _file("sub/b.conf", "2")], tmp_path))
    assert (tmp_path / "sub/b.conf").read_text().endswith("2\n")
    plan = plan_install([_file("a.conf", "1"), _file("c.conf", "3")], tmp_path)
    assert [(c.path, c.status) for c in plan.changes] == [
        ("a.conf", "unchanged"),
        ("c.conf", "new"),
        ("sub/b.conf", "removed"),
    ]
    write_plan(plan)
    assert not (tmp_path / "sub/b.conf").exists()
    assert (tmp_path / MANIFEST).read_text().splitlines()[1:] == ["a.conf", "c.conf"]


def test_foreign_files_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("[admin]\nmine=yes\n")
    (tmp_path / "b.conf").write_text("")  # empty: nothing of the admin's in it
    with pytest.raises(UnsafeOverwrite, match=r"refusing to overwrite a.conf in"):
        plan_install([_file("a.conf", "1"), _file("b.conf", "2")], tmp_path)
    assert (tmp_path / "a.conf").read_text() == "[admin]\nmine=yes\n"


def test_foreign_file_listed_in_manifest_is_not_removed(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text("# list\nold.conf\n../escape.conf\n")
    (tmp_path / "old.conf").write_text("admin's now\n")
    plan = plan_install([_file("a.conf", "1")], tmp_path)
    assert [c.path for c in plan.changes] == ["a.conf"]


def test_modes(tmp_path: Path) -> None:
    write_plan(plan_install([_file("s.conf", "x", secret=True), _file("p.conf", "y")], tmp_path))
    assert stat.S_IMODE((tmp_path / "s.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "p.conf").stat().st_mode) == 0o644
    # An admin's chmod 640 (group asterisk may read) survives a rewrite; never wider.
    (tmp_path / "s.conf").chmod(0o644)
    write_plan(plan_install([_file("s.conf", "changed", secret=True)], tmp_path))
    assert stat.S_IMODE((tmp_path / "s.conf").stat().st_mode) == 0o640


def test_diffs_mask_secrets() -> None:
    assert mask("password=abc\nsecret = x;y\nuser=1\n") == (
        "password=********\nsecret = ********\nuser=1\n"
    )
    assert mask('<param name="password" value="p&amp;w"/>') == (
        '<param name="password" value="********"/>'
    )


def test_apply_writes_once_then_nothing(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    config = load_admin_config(write_config())
    pbx = select_pbx(config, "ast1")
    reloader = RecordingReloader()
    dest = tmp_path / "etc"
    first = apply(config, pbx, reloader, dest=dest)
    assert first.written
    assert [c.status for c in first.plan.changes] == ["new"] * 3
    assert reloader.plans[-1].asterisk_modules == ("pbx_config", "res_pjsip.so", "manager")
    again = apply(config, pbx, reloader, dest=dest)
    assert not again.changed
    assert not again.written
    assert len(reloader.plans) == 1  # nothing changed: no reload


def test_apply_reloads_only_what_changed(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    dest = tmp_path / "etc"
    reloader = RecordingReloader()
    config = load_admin_config(write_config())
    apply(config, select_pbx(config, "ast1"), reloader, dest=dest)

    changed = base_config()
    changed["entry_points"][0]["max_wait"] = 90
    config = load_admin_config(write_config(changed))
    result = apply(config, select_pbx(config, "ast1"), reloader, dest=dest)
    assert [c.path for c in result.plan.changed] == ["extensions_implus.conf"]
    assert reloader.plans[-1].asterisk_modules == ("pbx_config",)
    diff = "".join(result.plan.changed[0].diff)
    removed = [line for line in diff.splitlines() if line.startswith("-") and line[1:2] != "-"]
    assert len(removed) == 3, removed  # the MSet, the UserEvent, the hold step: no more
    assert "IMPLUS_MAXWAIT=90" in diff
    assert "+ same => n(hold),MusicOnHold(default,105)" in diff

    monkeypatch.setenv("T_PW_1001", "new-password")
    result = apply(config, select_pbx(config, "ast1"), reloader, dest=dest)
    assert [c.path for c in result.plan.changed] == ["pjsip_implus.conf"]
    assert result.plan.changed[0].secrets_only
    assert "new-password" not in "".join(result.plan.summary())
    assert reloader.plans[-1].asterisk_modules == ("res_pjsip.so",)


def test_dry_run_writes_nothing(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    config = load_admin_config(write_config())
    reloader = RecordingReloader()
    dest = tmp_path / "etc"
    result = apply(config, select_pbx(config, "fs1"), reloader, dest=dest, dry_run=True)
    assert result.changed
    assert not result.written
    assert reloader.plans == []
    assert not dest.exists()
    assert result.reload.reloadxml
    assert result.reload.gateway_profile == "external"


def test_freeswitch_gateway_changes_kill_and_rescan(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    config = load_admin_config(write_config())
    pbx = select_pbx(config, "fs1")
    apply(config, pbx, None, dest=tmp_path)
    moved = base_config()
    moved["pbxs"][0]["sip_port"] = 5070  # the inter-PBX gateway now points elsewhere
    config = load_admin_config(write_config(moved))
    result = apply(config, select_pbx(config, "fs1"), RecordingReloader(), dest=tmp_path)
    assert result.reload.describe() == [
        "sofia profile external killgw implus-trunk-link",
        "reloadxml",
        "sofia profile external rescan",
    ]


def test_force_reload_without_changes(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    config = load_admin_config(write_config())
    pbx = select_pbx(config, "fs1")
    apply(config, pbx, None, dest=tmp_path)
    reloader = RecordingReloader()
    result = apply(config, pbx, reloader, dest=tmp_path, force_reload=True)
    assert not result.changed
    assert reloader.plans
    assert reloader.plans[0].reloadxml


class FailingReloader:
    """The PBX refuses the reload (e.g. the AMI user of a first apply is not loaded yet)."""

    def reload(self, pbx: Pbx, plan: ReloadPlan) -> list[str]:
        raise ReloadFailed("Asterisk ast1: login refused")


def test_a_failed_reload_is_owed_until_it_is_done(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    """The files are written before the reload; when the reload fails, the next apply
    must still reload them, although no file changes any more."""
    config = load_admin_config(write_config())
    pbx = select_pbx(config, "ast1")
    dest = tmp_path / "etc"
    with pytest.raises(ReloadFailed):
        apply(config, pbx, FailingReloader(), dest=dest)
    assert (dest / "extensions_implus.conf").exists()

    reloader = RecordingReloader()
    again = apply(config, pbx, reloader, dest=dest)
    assert not again.changed
    assert again.owed.asterisk_modules == ("pbx_config", "res_pjsip.so", "manager")
    assert reloader.plans == [again.owed]
    assert again.reloaded == ["reload pbx_config", "reload res_pjsip.so", "reload manager"]

    done = apply(config, pbx, reloader, dest=dest)
    assert done.owed.empty
    assert len(reloader.plans) == 1  # paid: nothing more to reload


def test_an_owed_reload_joins_the_next_changes(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    config = load_admin_config(write_config())
    dest = tmp_path / "fs"
    apply(config, select_pbx(config, "fs1"), None, dest=dest)  # --no-reload: owed
    moved = base_config()
    moved["pbxs"][0]["sip_port"] = 5070  # the inter-PBX gateway changes
    config = load_admin_config(write_config(moved))
    reloader = RecordingReloader()
    result = apply(config, select_pbx(config, "fs1"), reloader, dest=dest)
    assert reloader.plans[0].describe() == [
        "sofia profile external killgw implus-trunk-link",
        "reloadxml",
        "sofia profile external rescan",
    ]
    assert apply(config, select_pbx(config, "fs1"), reloader, dest=dest).reload.empty
    assert result.written


def test_reload_plan_of_nothing_is_empty(write_config: WriteConfig) -> None:
    config = load_admin_config(write_config())
    files = render(config, select_pbx(config, "ast1"), Secrets(SECRETS))
    assert reload_plan(select_pbx(config, "ast1"), []).empty
    assert files
