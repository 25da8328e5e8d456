"""Configuration errors are one readable line naming the key."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.app import load_keys
from bot.config import ConfigError, Settings, load_settings
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


# --- unknown keys ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("[federation]\nfounding_treshold = 30\n", "federation.founding_treshold"),
        ('[telegram.webhook]\nurll = "https://x.example"\n', "telegram.webhook.urll"),
        ("[database]\necho = true\nechoo = true\n", "database.echoo"),
        ('[federaton]\nname = "x"\n', "[federaton]"),
    ],
)
def test_an_unknown_key_in_the_file_is_an_error_naming_it(
    tmp_path: Path, extra: str, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD + extra))
    message = str(caught.value)
    assert named in message and "not known" in message
    assert len(message.splitlines()) == 1


def test_a_misspelt_key_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean founding_threshold"):
        load_settings(write(tmp_path, GOOD + "[federation]\nfounding_treshold = 30\n"))


@pytest.mark.parametrize(
    "variable",
    [
        "UNIONBOT__FEDERATION__FOUNDING_TRESHOLD",
        "UNIONBOT__TELEGRAM__WEBHOOK__URLL",
        "UNIONBOT__FEDERATON__NAME",
        "UNIONBOT__DATABASE__URL__EXTRA",
        "UNIONBOT__",
    ],
)
def test_an_environment_variable_naming_no_key_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "30")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD))
    assert str(caught.value).startswith(f"environment variable {variable} names no config key")


def test_environment_variables_for_nested_and_free_keys_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = generate_key()
    monkeypatch.setenv("UNIONBOT__TELEGRAM__WEBHOOK__LISTEN_PORT", "8443")
    monkeypatch.setenv("UNIONBOT__SECURITY__OLD_DATA_KEYS__K0", old)
    monkeypatch.setenv("unionbot__federation__founding_threshold", "40")  # any case
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.telegram.webhook.listen_port == 8443
    assert settings.security.old_data_keys["k0"].get_secret_value() == old
    assert settings.federation.founding_threshold == 40


# --- the file itself ---------------------------------------------------------------------------
def test_no_config_file_in_the_working_folder_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("UNIONBOT__"):
            monkeypatch.delenv(name)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "config file not found: ./config.toml (copy config.example.toml to config.toml and "
        "fill it in, or give --config PATH)"
    )


def test_the_environment_alone_may_configure_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UNIONBOT__TELEGRAM__TOKEN", "123:abc")
    monkeypatch.setenv("UNIONBOT__SECURITY__DATA_KEY", generate_key())
    monkeypatch.setenv("UNIONBOT__SECURITY__LOOKUP_KEY", generate_key())
    assert load_settings().telegram.token.get_secret_value() == "123:abc"


# --- values ------------------------------------------------------------------------------------
@pytest.mark.parametrize("chat_id", ["1001234567890", "0"])
def test_the_federation_chat_must_be_a_group(tmp_path: Path, chat_id: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD + f"[federation]\nchat_id = {chat_id}\n"))
    assert str(caught.value).startswith("config key federation.chat_id is invalid")
    assert "negative" in str(caught.value)


def test_a_group_chat_id_is_accepted(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD + "[federation]\nchat_id = -1001234567890\n"))
    assert settings.federation.chat_id == -1001234567890


TOKEN = "123456:SECRETtokenVALUE-xyz"


@pytest.mark.parametrize(
    "api_base",
    [
        "htp:/bad url",
        "api.telegram.org",
        "https://api telegram.org",
        "http://127.0.0.1:99999",
        f"https://api.telegram.org/bot{TOKEN}",
        "https://api.telegram.org/?x=1",
    ],
)
def test_a_malformed_api_base_names_the_key_without_the_token(
    tmp_path: Path, api_base: str
) -> None:
    text = GOOD.replace('token = "123:abc"', f'token = "{TOKEN}"\napi_base = "{api_base}"')
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    message = str(caught.value)
    assert message.startswith("config key telegram.api_base is invalid")
    assert len(message.splitlines()) == 1
    assert "SECRET" not in message


def test_errors_do_not_carry_pydantics_prefix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, GOOD.replace('"123:abc"', '"nonsense"')))
    assert "Value error" not in str(caught.value)


# --- config.example.toml -------------------------------------------------------------------------
def _model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _model_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _example_keys() -> set[str]:
    """Every key the example shows, commented out or not: `[section]` headers (also
    `# [section]`) and `key = ` lines (also `# key = `)."""
    keys, section = set(), ""
    for line in Path("config.example.toml").read_text(encoding="utf-8").splitlines():
        text = line.strip().removeprefix("#").strip()
        if header := re.fullmatch(r"\[([a-z0-9_.]+)\]", text):
            section = header.group(1)
            keys.add(section)
        elif assignment := re.fullmatch(r"([a-z_0-9]+) = .*", text):
            keys.add(f"{section}.{assignment.group(1)}")
    return keys


def test_the_example_documents_every_key_and_no_other() -> None:
    expected = _model_keys(Settings)
    shown = _example_keys()
    missing = sorted(key for key in expected if key not in shown)
    assert not missing, f"config.example.toml does not show {missing}"
    sections = {key.rsplit(".", 1)[0] for key in expected} | expected
    unknown = sorted(
        key
        for key in shown
        if key not in sections and not key.startswith("security.old_data_keys.")
    )
    assert not unknown, f"config.example.toml shows keys the settings lack: {unknown}"
