"""The admin-config problem tables (test_*_validation.py, test_validation.py): a case breaks
the base config one way and names the YAML path and message fragment validation must report.

A case is (test id, mutation, path, fragment). A test module's `CASES` parametrize its
test that takes `problem` (conftest.py, through `problem_params`); `check_problem` is the
one check every case runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dialplan_helpers import WriteConfig, base_config

from admin_config.validate import validate_file

Mutate = Callable[[dict[str, Any]], None]
Case = tuple[str, Mutate, str, str]
"""(test id, mutation of the base config, YAML path of the error, fragment of its message)"""


def set_key(path: str, value: Any) -> Mutate:
    """`set_key("entry_points.0.service", "x")` sets a nested key ('-' value deletes it)."""

    def mutate(c: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = c
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        key: Any = int(last) if last.isdigit() else last
        if value == "-":
            del node[key]
        else:
            node[key] = value

    return mutate


def append_item(section: str, item: dict[str, Any]) -> Mutate:
    return lambda c: c[section].append(item)


def all_of(*mutations: Mutate) -> Mutate:
    def mutate(c: dict[str, Any]) -> None:
        for m in mutations:
            m(c)

    return mutate


def problem_params(cases: list[Case]) -> list[Any]:
    """The table as pytest parameters, each case one, with its id."""
    return [pytest.param(case, id=case[0]) for case in cases]


def check_problem(write_config: WriteConfig, problem: Case) -> None:
    """The base config broken by the case's mutation is refused with an error at its path
    whose message holds its fragment; every error has its line."""
    _, mutate, path, fragment = problem
    config = base_config()
    mutate(config)
    result = validate_file(write_config(config))
    found = [p for p in result.errors if p.path == path]
    assert found, f"no error at {path}; got: {[str(p) for p in result.problems]}"
    assert any(fragment in p.message for p in found), [str(p) for p in found]
    assert result.config is None
    assert all(p.line is not None for p in result.errors), [p.format() for p in result.errors]
