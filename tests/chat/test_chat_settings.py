"""Settings: file < env < CLI, loud errors naming the key, secrets only from env."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat.errors import ConfigError
from chat.settings import load_settings

SECRET = {"IMPLUS_CHAT_SECRET_KEY": "s" * 40}


def test_layers_file_then_env_then_cli(tmp_path: Path) -> None:
    f = tmp_path / "chat.yaml"
    f.write_text("port: 9001\nhost: 127.0.0.1\nworkers: 2\nallowed_origins: [https://a.example]\n")
    s = load_settings(
        f,
        env={**SECRET, "IMPLUS_CHAT_PORT": "9002", "IMPLUS_CHAT_WORKERS": "3"},
        cli={"workers": 4},
    )
    assert (s.port, s.workers, s.allowed_origins) == (9002, 4, ("https://a.example",))


def test_chat_section_of_a_shared_file(tmp_path: Path) -> None:
    f = tmp_path / "implus.yaml"
    f.write_text("chat:\n  port: 9005\nrouter: {}\n")
    assert load_settings(f, env=SECRET).port == 9005


def test_defaults_bind_loopback_only() -> None:
    s = load_settings(env=SECRET)
    assert s.host == "127.0.0.1"
    assert s.demo_mode is False


def test_missing_secret_names_the_env_variable() -> None:
    with pytest.raises(ConfigError, match="secret_key: missing - set IMPLUS_CHAT_SECRET_KEY"):
        load_settings(env={})


def test_secret_in_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "chat.yaml"
    f.write_text("secret_key: abcdefabcdefabcdefabcdefabcdefabcdef\n")
    with pytest.raises(ConfigError, match="must not be in the config file"):
        load_settings(f, env=SECRET)


def test_bad_value_names_key_and_source() -> None:
    with pytest.raises(ConfigError, match=r"port: .*environment variable IMPLUS_CHAT_PORT"):
        load_settings(env={**SECRET, "IMPLUS_CHAT_PORT": "seventy"})


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "chat.yaml"
    f.write_text("prot: 80\n")
    with pytest.raises(ConfigError, match="prot: unknown setting"):
        load_settings(f, env=SECRET)
    with pytest.raises(ConfigError, match="IMPLUS_CHAT_PROT"):
        load_settings(env={**SECRET, "IMPLUS_CHAT_PROT": "1"})


def test_svg_uploads_can_never_be_allowed() -> None:
    with pytest.raises(ConfigError, match="can carry script"):
        load_settings(env={**SECRET, "IMPLUS_CHAT_UPLOAD_TYPES": "image/png,image/svg+xml"})


def test_origin_must_be_scheme_and_host() -> None:
    with pytest.raises(ConfigError, match="no path"):
        load_settings(env={**SECRET, "IMPLUS_CHAT_ALLOWED_ORIGINS": "https://a.example/shop"})


def test_secret_never_shows_in_repr_or_errors() -> None:
    secret = "topsecret-" + "z" * 30
    s = load_settings(env={"IMPLUS_CHAT_SECRET_KEY": secret})
    assert secret not in repr(s)
    assert secret not in str(s.model_dump())
    with pytest.raises(ConfigError) as e:
        load_settings(env={"IMPLUS_CHAT_SECRET_KEY": "short-secret"})
    assert "short-secret" not in str(e.value)


def test_bad_yaml_file(tmp_path: Path) -> None:
    f = tmp_path / "chat.yaml"
    f.write_text("port: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(f, env=SECRET)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "missing.yaml", env=SECRET)


def test_deeply_nested_yaml_file(tmp_path: Path) -> None:
    f = tmp_path / "chat.yaml"
    f.write_text("allowed_origins: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_settings(f, env=SECRET)
