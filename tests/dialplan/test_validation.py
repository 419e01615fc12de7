"""Validating a whole admin-config file (admin_config.validate): problems reported with
their YAML path and line, all at once and without cascading; the document's own structure
(table-driven; the sections' problems: test_entry_point_validation.py,
test_phone_validation.py, test_pbx_validation.py); warnings; unreadable files."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_problems import Case, check_problem, set_key
from dialplan_helpers import WriteConfig, base_config

from admin_config.errors import ConfigInvalid
from admin_config.model import AdminConfig, load_admin_config
from admin_config.validate import validate_file, validate_text

CASES: list[Case] = [
    ("unknown top-level key", set_key("agent", []), "agent", "unknown key 'agent'"),
    ("section is not a list", set_key("agents", {"alice": {}}), "agents", "must be a list"),
    ("item is not a mapping", set_key("agents.0", "alice"), "agents[0]", "must be a mapping"),
    (
        "strategy missing",
        set_key("strategy", "missing.yaml"),
        "strategy",
        "strategy file not found",
    ),
    ("strategy key missing", set_key("strategy", "-"), "strategy", "required"),
]


def test_problem_is_reported_with_its_path(write_config: WriteConfig, problem: Case) -> None:
    check_problem(write_config, problem)


def test_base_config_is_valid(write_config: WriteConfig, secrets_env: dict[str, str]) -> None:
    result = validate_file(write_config())
    assert result.problems == []
    assert isinstance(result.config, AdminConfig)
    assert result.config.entry_point("booking_en").overflow.mailbox == "1000"


def test_same_extension_on_two_pbxs_is_fine(
    write_config: WriteConfig, secrets_env: dict[str, str]
) -> None:
    config = base_config()
    config["entry_points"][1]["extension"] = "800"
    assert validate_file(write_config(config)).problems == []


def test_every_problem_at_once(write_config: WriteConfig) -> None:
    config = base_config()
    config["entry_points"][0]["service"] = "bookin"
    config["entry_points"][1]["max_wait"] = -5  # invalid item: its refs are still checked
    config["entry_points"][1]["pbx"] = "fs2"
    config["agents"][0]["capacity"] = {"voice": -1}
    config["agents"][1]["pbx"] = "nowhere"
    config["trunks"][0]["pbx"] = "ast3"
    paths = {p.path for p in validate_file(write_config(config)).errors}
    assert paths >= {
        "entry_points[0].service",
        "entry_points[1].max_wait",
        "entry_points[1].pbx",
        "agents[0].capacity.voice",
        "agents[1].pbx",
        "trunks[0].pbx",
    }


def test_a_typo_in_a_service_does_not_cascade(write_config: WriteConfig) -> None:
    config = base_config()
    config["services"][0]["label"] = 12  # invalid item, but its id is known
    problems = validate_file(write_config(config)).errors
    assert [p.path for p in problems] == ["services[0].label"]


def test_load_admin_config_raises_with_file_and_line(write_config: WriteConfig) -> None:
    config = base_config()
    config["entry_points"][0]["service"] = "bookin"
    path = write_config(config)
    with pytest.raises(ConfigInvalid) as info:
        load_admin_config(path)
    line = path.read_text().splitlines().index("  service: bookin") + 1
    assert f"{path}:{line}: entry_points[0].service: unknown service 'bookin'" in str(info.value)


def test_missing_secret_variables_are_warnings_only(write_config: WriteConfig) -> None:
    result = validate_file(write_config())
    assert result.config is not None
    assert {p.path for p in result.warnings} == {
        "pbxs[0].secret_env",
        "pbxs[1].secret_env",
        "agents[0].password_env",
        "agents[1].password_env",
        "trunks[0].secret_env",
    }
    assert all("is not set in this environment" in p.message for p in result.warnings)


def test_strategy_must_be_a_mapping(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config()
    (tmp_path / "strategy.yaml").write_text("- just\n- a list\n")
    assert [p.path for p in validate_file(path).errors] == ["strategy"]


def test_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    result = validate_file(tmp_path / "nope.yaml")
    assert [str(p) for p in result.problems] == [
        f"(top level): cannot read {tmp_path / 'nope.yaml'}: No such file or directory"
    ]


def test_config_without_file_cannot_check_strategy() -> None:
    result = validate_text("strategy: s.yaml\n")
    assert [(p.path, p.severity) for p in result.problems] == [("strategy", "warning")]
