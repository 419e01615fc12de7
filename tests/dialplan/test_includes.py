"""`implus dialplan check` warns when a PBX's own configuration does not include the
generated files (read from `--pbx-config [PBX=]DIR` or the PBX's `config_dir`)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from dialplan_helpers import WriteConfig, base_config

from router.cli import main

ASTERISK = {
    "extensions.conf": (
        "[general]\n"
        "#include extensions_custom.conf\n"
        "[from-carrier]\n"
        "include => implus-entry ; callers of the entry points\n"
    ),
    "extensions_custom.conf": '; the admin\'s own\n#tryinclude "extensions_implus.conf"\n',
    "pjsip.conf": "[transport-udp]\ntype=transport\n#include /etc/asterisk/pjsip_implus.conf\n",
    "manager.conf": "[general]\nenabled=yes\n;#include manager_implus.conf\n",
}

INCLUDE = '<X-PRE-PROCESS cmd="include" data="{}"/>'
FREESWITCH = {
    "freeswitch.xml": (
        '<document type="freeswitch/xml">\n'
        '  <section name="configuration">\n'
        f"    {INCLUDE.format('autoload_configs/*.xml')}\n"
        "  </section>\n"
        '  <section name="dialplan">\n'
        f"    {INCLUDE.format('dialplan/*.xml')}\n"
        "  </section>\n"
        '  <section name="directory">\n'
        f"    {INCLUDE.format('directory/*.xml')}\n"
        "  </section>\n"
        "</document>\n"
    ),
    "autoload_configs/sofia.conf.xml": (  # as stock: profiles from one folder up
        '<configuration name="sofia.conf">\n  <profiles>\n'
        f"    {INCLUDE.format('../sip_profiles/*.xml')}\n"
        "  </profiles>\n</configuration>\n"
    ),
    "dialplan/public.xml": (
        '<include>\n  <context name="public">\n'
        f"    {INCLUDE.format('public/*.xml')}\n"
        "  </context>\n</include>\n"
    ),
    "directory/default.xml": '<include>\n  <domain name="$${domain}">\n  </domain>\n</include>\n',
    "sip_profiles/external.xml": (
        '<profile name="external">\n'
        f"  <gateways>{INCLUDE.format('external/*.xml')}</gateways>\n"
        "</profile>\n"
    ),
}


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _check(path: Path, *args: str) -> tuple[int, list[str]]:
    run = CliRunner().invoke(main, ["dialplan", "check", "--config", str(path), *args])
    return run.exit_code, run.output.splitlines()


def test_missing_and_broken_includes_are_warnings(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    ast = _write(tmp_path / "asterisk", ASTERISK)
    fs = _write(tmp_path / "freeswitch", FREESWITCH)
    path = write_config()
    code, out = _check(path, "--pbx-config", f"ast1={ast}", "--pbx-config", f"fs1={fs}")
    assert code == 0, out
    warnings = [line for line in out if "warning: pbxs[" in line]
    assert warnings == [
        f"{ast}/manager.conf: warning: pbxs[0]: manager_implus.conf is not included by "
        "manager.conf: add `#include manager_implus.conf` at its end (the bridge's AMI user)",
        f"{fs}/directory/default.xml: warning: pbxs[1]: directory/default/implus_agents.xml is "
        'not included: add `<X-PRE-PROCESS cmd="include" data="default/*.xml"/>` on a line '
        "of its own inside the <users> of directory/default.xml",
        f"{fs}/sip_profiles/external.xml:2: warning: pbxs[1]: this include does not stand on a "
        "line of its own: FreeSWITCH's pre-processor replaces the whole line with the included "
        "files, so the rest of it (`<gateways>`, `</gateways>`) is lost - put the include on a "
        "line of its own",
    ]
    assert out[-1].endswith("; 3 warning(s)")


def test_included_everywhere_is_quiet(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    ast = _write(tmp_path / "asterisk", ASTERISK)
    (ast / "manager.conf").write_text("[general]\n#include manager_implus.conf\n")
    # config_dir is this folder: an absolute /etc/asterisk/... would be another file
    (ast / "pjsip.conf").write_text("#include pjsip_implus.conf\n")
    fs = _write(tmp_path / "freeswitch", FREESWITCH)
    (fs / "directory/default.xml").write_text(
        '<include>\n  <domain name="$${domain}">\n    <groups><group name="default"><users>\n'
        f"      {INCLUDE.format('default/*.xml')}\n"
        "    </users></group></groups>\n  </domain>\n</include>\n"
    )
    (fs / "sip_profiles/external.xml").write_text(
        f'<profile name="external">\n  <gateways>\n    {INCLUDE.format("external/*.xml")}\n'
        "  </gateways>\n</profile>\n"
    )
    config = base_config()
    config["pbxs"][0]["config_dir"] = str(ast)  # read from the YAML too
    path = write_config(config)
    code, out = _check(path, "--pbx-config", f"fs1={fs}")
    assert code == 0, out
    assert not [line for line in out if "warning" in line], out


def test_no_entry_context_and_not_a_config_folder(
    write_config: WriteConfig, tmp_path: Path, secrets_env: dict[str, str]
) -> None:
    ast = _write(tmp_path / "asterisk", ASTERISK)
    (ast / "extensions.conf").write_text("[general]\n#include extensions_implus.conf\n")
    path = write_config()
    code, out = _check(path, "--pbx-config", f"ast1={ast}", "--pbx-config", f"fs1={tmp_path}")
    assert code == 0, out
    assert (
        f"{ast}/extensions.conf: warning: pbxs[0]: no context sends callers to implus-entry: "
        "add `include => implus-entry` to the context where customers' calls arrive (or "
        "Goto(implus-entry,${EXTEN},1))"
    ) in out
    assert (
        f"{tmp_path}/freeswitch.xml: warning: pbxs[1]: cannot check the includes: no "
        f"freeswitch.xml in {tmp_path} - is it fs1's configuration folder?"
    ) in out


def test_bad_pbx_config_option(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config()
    code, out = _check(path, "--pbx-config", str(tmp_path))
    assert code == 2
    assert "give --pbx-config as PBX=DIR (PBXs: ast1, fs1)" in "\n".join(out)
    code, out = _check(path, "--pbx-config", f"nope={tmp_path}")
    assert code == 2
    assert "unknown PBX 'nope'" in "\n".join(out)
    code, out = _check(path, "--pbx-config", f"ast1={tmp_path / 'missing'}")
    assert code == 2
    assert "not a folder" in "\n".join(out)
