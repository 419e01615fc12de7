"""Fixtures for the dialplan tests (data and helpers live in dialplan_helpers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from config_problems import problem_params
from dialplan_helpers import SECRETS, STRATEGY, WriteConfig, base_config


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a config (dict or YAML text) plus a strategy file; return the config path."""

    def write(config: dict[str, Any] | str | None = None, name: str = "admin.yaml") -> Path:
        (tmp_path / "strategy.yaml").write_text(STRATEGY, encoding="utf-8")
        data = base_config() if config is None else config
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return dict(SECRETS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `problem` runs once per case of its module's `CASES` table
    (config_problems), the case's name as its id."""
    if "problem" in metafunc.fixturenames:
        metafunc.parametrize("problem", problem_params(metafunc.module.CASES))
