"""rule-engine's parser tables, shipped instead of built at every start.

rule-engine builds its LALR parser tables with its vendored ply when it is imported (its
``Rule`` class makes a parser), and asks ply not to write them out: ~0.3 s of CPU in every
process that imports :mod:`router.strategy` - an allocation worker's start-up, each
`implus` command, each bridge. ply first looks for ready tables in the module
``rule_engine.parser.parsetab`` and uses them only when their grammar signature is the one
of the installed rule-engine (else it builds them as before: a rule-engine upgrade that
changes its grammar costs the start-up time again, never a wrong parse).
:func:`install` puts the tables of ``rule_engine_tables.json`` (made by :func:`generate`)
in that place before rule-engine is imported; tests/router/test_grammar_tables.py checks
that they are those the installed rule-engine builds.

    python -c 'from router.strategy import grammar_tables as g; g.write()'
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import orjson

TABLES = Path(__file__).with_name("rule_engine_tables.json")
MODULE = "rule_engine.parser.parsetab"
"""Where ply looks for ready tables of rule-engine's parser (its package's ``parsetab``)."""


def install() -> bool:
    """Offer ply the shipped tables (before rule-engine is first imported). False when
    there are none or rule-engine was imported already."""
    if MODULE in sys.modules or "rule_engine" in sys.modules:
        return False
    try:
        data = orjson.loads(TABLES.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False  # ply builds the tables itself, as without this module
    module = types.ModuleType(MODULE)
    module.__dict__.update(
        _tabversion=data["tabversion"],
        _lr_method=data["method"],
        _lr_signature=data["signature"],
        _lr_action={int(s): row for s, row in data["action"].items()},
        _lr_goto={int(s): row for s, row in data["goto"].items()},
        _lr_productions=[tuple(p) for p in data["productions"]],
    )
    sys.modules[MODULE] = module
    return True


def generate() -> dict[str, Any]:
    """The tables rule-engine's parser has with the installed rule-engine, built by its
    own ply (what :func:`install` ships)."""
    from rule_engine._vendor.ply import yacc
    from rule_engine.parser import Parser

    with tempfile.TemporaryDirectory() as tmp:
        yacc.yacc(
            module=Parser(),
            debug=False,
            write_tables=True,
            tabmodule="generated_parsetab",
            outputdir=tmp,
        )
        sys.path.insert(0, tmp)
        try:
            tab: Any = importlib.import_module("generated_parsetab")
        finally:
            sys.path.remove(tmp)
            sys.modules.pop("generated_parsetab", None)
    return {
        "tabversion": tab._tabversion,
        "method": tab._lr_method,
        "signature": tab._lr_signature,
        "action": {str(s): row for s, row in tab._lr_action.items()},
        "goto": {str(s): row for s, row in tab._lr_goto.items()},
        "productions": [list(p) for p in tab._lr_productions],
    }


def write(path: Path = TABLES) -> None:
    """(Re)write the shipped tables for the installed rule-engine (after upgrading it)."""
    path.write_bytes(orjson.dumps(generate(), option=orjson.OPT_SORT_KEYS) + b"\n")
