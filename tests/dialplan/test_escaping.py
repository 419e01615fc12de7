"""Adversarial labels and names cannot break or inject into generated PBX files.

Property: whatever text the admin puts into labels and display names, the generated
files have the same structure (every non-comment Asterisk line, every XML element and
attribute) as with plain text; only comments and caller-id names differ, and those stay
inside their line / attribute with nothing that could end them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import hypothesis.strategies as st
from dialplan_helpers import SECRETS, base_config
from hypothesis import HealthCheck, given, settings

from admin_config.secrets import Secrets
from admin_config.validate import validate_text
from dialplan import text
from dialplan.rendering import render, select_pbx

NASTY = [
    "Booking, VIP; (test)",
    'Alice "the boss" <1001>',
    "line\nexten => 666,1,System(rm -rf /)",
    "cr\r\n[evil]\ntype=endpoint",
    "${SHELL(id)} $[1+1] $${domain}",
    "--> <!-- <include/> & &amp; ]]>",
    "; comment ;-- block --;",
    "#include /etc/passwd",
    "tab\tand\u2028line\u2029separators\x00\x1b",
    "\\ backslash \\; escaped",
    "',|&{}()",
]

free_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.text(alphabet=list("<>&\"';,()\n\r$[]{}-\\#|= \t:x"), max_size=40),
)


def _with_labels(service_label: str, entry_label: str, agent_name: str) -> dict:
    config = base_config()
    config["services"][0]["label"] = service_label
    config["entry_points"][0]["label"] = entry_label
    config["entry_points"][1]["label"] = entry_label
    config["agents"][0]["name"] = agent_name
    config["agents"][1]["name"] = agent_name
    for supervisor in config["supervisors"]:  # rendered as phones too
        supervisor["name"] = agent_name
    return config


def _render_all(config: dict, folder: Path) -> dict[str, str]:
    import yaml

    (folder / "strategy.yaml").write_text("rules: []\n")
    (folder / "admin.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    result = validate_text((folder / "admin.yaml").read_text(), source=folder / "admin.yaml")
    assert result.config is not None, [str(p) for p in result.errors]
    c = result.config
    out = {}
    for pbx in ("ast1", "fs1"):
        for f in render(c, select_pbx(c, pbx), Secrets(SECRETS)):
            out[f"{pbx}/{f.path}"] = f.content
    return out


def _asterisk_code(content: str) -> list[str]:
    """The lines Asterisk interprets, callerid values blanked (they legitimately differ)."""
    lines = [line for line in content.split("\n") if not line.startswith(";")]
    return [re.sub(r'^callerid=".*" <', 'callerid="" <', line) for line in lines]


def _xml_shape(content: str) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    root = ET.fromstring(content)
    shape = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        attrs = dict(el.attrib)
        if attrs.get("name") == "effective_caller_id_name":
            attrs["value"] = ""
        shape.append((el.tag, tuple(sorted(attrs.items()))))
    return shape


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(service_label=free_text, entry_label=free_text, agent_name=free_text)
def test_free_text_cannot_change_structure(
    tmp_path: Path, service_label: str, entry_label: str, agent_name: str
) -> None:
    plain = _render_all(_with_labels("plain", "plain", "Plain Name"), tmp_path)
    nasty = _render_all(_with_labels(service_label, entry_label, agent_name), tmp_path)
    assert plain.keys() == nasty.keys()
    for path, content in nasty.items():
        if path.endswith(".xml"):
            assert _xml_shape(content) == _xml_shape(plain[path]), path
            for comment in re.findall(r"<!--(.*?)-->", content, re.S):
                assert "--" not in comment
                assert "\n" not in comment
        else:
            assert _asterisk_code(content) == _asterisk_code(plain[path]), path
            for line in content.split("\n"):
                assert not line.startswith("#"), line
                if line.startswith(";"):
                    assert ";--" not in line
                    assert "--;" not in line
                if line.startswith("callerid="):
                    assert re.fullmatch(r'callerid="[^"\\;<>$\x00-\x1f]*" <(1001|1900)>', line), (
                        line
                    )


def test_callerid_name_keeps_what_is_safe() -> None:
    assert text.display_name('Alice "the boss" <1001>; x') == "Alice the boss 1001 x"
    assert text.display_name("José Müller-Lüdenscheidt") == "José Müller-Lüdenscheidt"
    assert text.display_name("${SHELL(id)}") == "SHELL id"


def test_comment_is_one_line_without_terminators() -> None:
    assert text.comment("a\nb\r\nc -->") == "a b c - -)"
    assert (
        text.comment('<X-PRE-PROCESS cmd="exec"/> $${x} ${y}')
        == '(X-PRE PROCESS cmd="exec"/) $$ {x} $ {y}'
    )
    assert text.display_name("x-Pre-Process") == "x-Pre Process"
    assert text.comment("x" * 200).endswith("...")


def test_token_refuses_anything_unsafe() -> None:
    import pytest

    from dialplan.errors import RenderError

    for bad in ("a,b", "a;b", "a)b", "a\nb", "a b", "${X}", "a&b", "a|b"):
        with pytest.raises(RenderError):
            text.token(bad, "value")
    assert text.token("PJSIP/1001@implus-trunk-x", "value") == "PJSIP/1001@implus-trunk-x"
