"""Parse YAML keeping the line of every path, and catch duplicate keys PyYAML would hide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from admin_config.problems import Loc, Problem, error


@dataclass
class YamlDocument:
    """The parsed data, the 1-based line of each path, and the problems parsing found."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document with `yaml.SafeLoader`.

    Syntax errors and duplicate mapping keys become problems (with their lines) instead
    of exceptions, so the caller can report them together with everything else.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        what = e.problem or str(e)
        return YamlDocument(None, problems=[Problem((), f"not valid YAML: {what}", line)])
    except yaml.YAMLError as e:
        return YamlDocument(None, problems=[error((), f"not valid YAML: {e}")])
    finally:
        loader.dispose()
    doc = YamlDocument(data)
    if node is not None:
        _walk(node, (), doc)
    return doc


def _walk(node: yaml.Node, loc: Loc, doc: YamlDocument) -> None:
    doc.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                doc.problems.append(
                    Problem(
                        (*loc, key),
                        f"duplicate key {key!r} (first on line {seen[key]}); "
                        "YAML keeps only the last one - remove one of them",
                        line,
                    )
                )
                continue
            seen[key] = line
            doc.lines[(*loc, key)] = line
            _walk(value_node, (*loc, key), doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), doc)
