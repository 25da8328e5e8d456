"""Configuration errors are one readable line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import load_keys
from bot.config import ConfigError, load_settings
from bot.pii import generate_key

GOOD = f"""
[telegram]
token = "123:abc"
[security]
data_key = "{generate_key()}"
lookup_key = "{generate_key()}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_complete_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(Path("config.example.toml"))
    assert settings.federation.founding_threshold == 25
    assert settings.outbox.group_per_minute == 20


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIONBOT__TELEGRAM__TOKEN", "999:fromenv")
    monkeypatch.setenv("UNIONBOT__FEDERATION__FOUNDING_THRESHOLD", "30")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.telegram.token.get_secret_value() == "999:fromenv"
    assert settings.federation.founding_threshold == 30
    assert "fromenv" not in repr(settings)  # secrets stay secret


def test_missing_key_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD.replace("lookup_key", "# lookup_key")))
    assert str(caught.value) == (
        "config key security.lookup_key is missing "
        "(set it in config.toml or UNIONBOT__SECURITY__LOOKUP_KEY)"
    )


def test_malformed_values_name_the_key(tmp_path: Path) -> None:
    text = GOOD.replace('token = "123:abc"', 'token = "nonsense"') + (
        '[federation]\nfounding_threshold = "many"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    lines = str(caught.value).splitlines()
    assert any(line.startswith("config key telegram.token is invalid") for line in lines)
    assert any(line.startswith("config key federation.founding_threshold") for line in lines)


def test_bad_key_material_names_the_key_without_echoing_it(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD.replace("data_key = ", 'data_key = "x" #')))
    with pytest.raises(ConfigError) as caught:
        load_keys(settings)
    assert "security.data_key" in str(caught.value)


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings(write(tmp_path, "[telegram\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml")
