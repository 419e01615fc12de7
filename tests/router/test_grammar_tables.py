"""rule-engine's parser tables shipped with the router (router.strategy.grammar_tables)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import orjson

from router.strategy import grammar_tables


def _run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (rule-engine not imported yet); its last stdout
    line is JSON."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_shipped_tables_are_those_the_installed_rule_engine_builds() -> None:
    # Fails after a rule-engine upgrade that changed its grammar: run
    # python -c 'from router.strategy import grammar_tables as g; g.write()'
    shipped = orjson.loads(grammar_tables.TABLES.read_bytes())
    assert shipped == orjson.loads(orjson.dumps(grammar_tables.generate()))


def test_importing_the_router_offers_ply_the_shipped_tables_and_rules_parse() -> None:
    got = _run(
        """
        import json, sys
        import router.strategy
        from rule_engine._vendor.ply import yacc
        from rule_engine.engine import Rule
        tab = sys.modules["rule_engine.parser.parsetab"]
        parser = Rule.parser._parser
        rule = Rule("customer.vip >= 2 and service == 'sales'")
        print(json.dumps({
            "ours": tab.__name__ == "rule_engine.parser.parsetab" and hasattr(tab, "_lr_action"),
            # built from the tables, the parser holds exactly their action table
            "from_tables": parser.action is tab._lr_action,
            "match": rule.matches({"customer": {"vip": 2}, "service": "sales"}),
            "no_match": rule.matches({"customer": {"vip": 1}, "service": "sales"}),
        }))
        """
    )
    assert got == {"ours": True, "from_tables": True, "match": True, "no_match": False}


def test_stale_tables_are_not_used() -> None:
    # Tables of another grammar (a rule-engine upgrade not followed by write()): ply sees
    # the signature differ and builds its own, so rules still parse correctly.
    got = _run(
        """
        import json, sys, types
        stale = types.ModuleType("rule_engine.parser.parsetab")
        stale.__dict__.update(_tabversion="3.10", _lr_method="LALR", _lr_signature="other",
                              _lr_action={}, _lr_goto={}, _lr_productions=[])
        sys.modules["rule_engine.parser.parsetab"] = stale
        import router.strategy
        from rule_engine.engine import Rule
        print(json.dumps({
            "used": Rule.parser._parser.action is stale._lr_action,
            "match": Rule("a + 1 == 3").matches({"a": 2}),
        }))
        """
    )
    assert got == {"used": False, "match": True}
