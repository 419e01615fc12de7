"""The fake FreeSWITCH's dialplan: the XML `implus dialplan render --pbx <freeswitch>` writes,
hunted the way mod_dialplan_xml does, so the fake switch follows the generated dialplan
instead of a hand-written imitation of it.

Supported: contexts / extensions / conditions on `destination_number` or `${variable}`
(regular expressions, `break="never"` / default `on-false`), actions and anti-actions.
Like FreeSWITCH, conditions are evaluated when the extension is hunted (variables set by
its own actions are not seen), and `${var}` in action data is expanded when the action
runs; `$${global}` is expanded when the XML is loaded (FreeSWITCH's pre-processor).
Simplification: an extension is used when its first condition holds (the generated
extensions always start with `destination_number`), then the first used one wins.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

GLOBALS = {"hold_music": "local_stream://moh", "domain": "127.0.0.1"}
"""Values of FreeSWITCH's global variables (`$${name}`) in the fake switch."""

_GLOBAL = re.compile(r"\$\$\{([A-Za-z0-9_]+)\}")
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class Action:
    application: str
    data: str = ""


@dataclass(frozen=True)
class Condition:
    field: str
    expression: str
    breaks: str
    actions: tuple[Action, ...]
    anti_actions: tuple[Action, ...]


@dataclass(frozen=True)
class Extension:
    name: str
    conditions: tuple[Condition, ...]


@dataclass
class Dialplan:
    """Contexts by name, each a list of extensions in document order."""

    contexts: dict[str, list[Extension]] = field(default_factory=dict)

    def load(self, xml_text: str, globals_: Mapping[str, str] = GLOBALS) -> Dialplan:
        """Add the contexts (or, for an inbound-context include, `context`) of one file."""
        text = _GLOBAL.sub(lambda m: globals_.get(m.group(1), ""), xml_text)
        root = ET.fromstring(text)
        for ctx in root.iter("context"):
            self.contexts.setdefault(ctx.get("name", ""), []).extend(
                _extension(x) for x in ctx.findall("extension")
            )
        return self

    def load_include(self, context: str, xml_text: str) -> Dialplan:
        """A `dialplan/<context>/*.xml` file: bare extensions added to `context`."""
        text = _GLOBAL.sub(lambda m: GLOBALS.get(m.group(1), ""), xml_text)
        root = ET.fromstring(text)
        self.contexts.setdefault(context, []).extend(
            _extension(x) for x in root.findall("extension")
        )
        return self

    def hunt(
        self, context: str, destination: str, variables: Mapping[str, str]
    ) -> list[Action] | None:
        """The actions the first matching extension of `context` runs, or None."""
        if context not in self.contexts:
            return None
        values = {**variables, "destination_number": destination}
        for ext in self.contexts[context]:
            actions: list[Action] = []
            for index, cond in enumerate(ext.conditions):
                subject = values.get(cond.field, "")
                if cond.field.startswith("${"):
                    subject = expand(cond.field, values)
                matched = re.search(cond.expression, subject) is not None
                if not matched and index == 0:
                    actions = []
                    break
                actions.extend(cond.actions if matched else cond.anti_actions)
                if not matched and cond.breaks != "never":
                    break
            else:
                return actions
            if actions:
                return actions
        return None


def expand(data: str, variables: Mapping[str, str]) -> str:
    """`${name}` -> the channel variable (empty when unset), as FreeSWITCH expands it."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), ""), data)


def _extension(node: ET.Element) -> Extension:
    conditions = []
    for cond in node.findall("condition"):
        conditions.append(
            Condition(
                field=cond.get("field", ""),
                expression=cond.get("expression", ""),
                breaks=cond.get("break", "on-false"),
                actions=tuple(
                    Action(a.get("application", ""), a.get("data", ""))
                    for a in cond.findall("action")
                ),
                anti_actions=tuple(
                    Action(a.get("application", ""), a.get("data", ""))
                    for a in cond.findall("anti-action")
                ),
            )
        )
    return Extension(node.get("name", ""), tuple(conditions))
