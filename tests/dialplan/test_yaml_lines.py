"""YAML parsing keeps lines and reports what PyYAML alone would hide."""

from __future__ import annotations

from admin_config.validate import validate_text
from admin_config.yamlsource import parse_yaml


def test_lines_of_paths() -> None:
    doc = parse_yaml("a: 1\nlist:\n  - x: 2\n    y: 3\n  - z: 4\n")
    assert doc.lines[("a",)] == 1
    assert doc.lines[("list",)] == 2
    assert doc.lines[("list", 0)] == 3
    assert doc.lines[("list", 0, "y")] == 4
    assert doc.lines[("list", 1, "z")] == 5


def test_duplicate_key_is_a_problem_with_both_lines() -> None:
    doc = parse_yaml("pbxs: []\nservices: []\npbxs: []\n")
    assert [(p.path, p.line) for p in doc.problems] == [("pbxs", 3)]
    assert "first on line 1" in doc.problems[0].message


def test_syntax_error_has_its_line() -> None:
    result = validate_text("strategy: s.yaml\npbxs:\n  - id: [unclosed\n")
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.message.startswith("not valid YAML")
    assert problem.line is not None
    assert problem.line >= 3


def test_not_a_mapping() -> None:
    result = validate_text("- a\n- b\n")
    assert [p.message for p in result.problems] == [
        "the admin config must be a YAML mapping (pbxs:, services:...)"
    ]


def test_empty_file_needs_a_strategy() -> None:
    assert [p.path for p in validate_text("").errors] == ["strategy"]
