"""Configuration: a TOML file, overridden by UNIONBOT__SECTION__KEY environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_PATH = Path("config.toml")


class ConfigError(Exception):
    """A missing or malformed configuration key, phrased for a person, one line per problem."""


class WebhookSettings(BaseModel):
    url: str = ""
    secret: SecretStr = SecretStr("")
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=1, le=65535)
    path: str = "/telegram/webhook"
    # Simultaneous connections Telegram may open to deliver updates (its default is 40).
    max_connections: int = Field(40, ge=1, le=100)
    # Let several worker processes listen on the same port (Linux SO_REUSEPORT: the
    # kernel spreads connections over them), instead of one port each behind a proxy.
    reuse_port: bool = False


class TelegramSettings(BaseModel):
    token: SecretStr
    api_base: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    # Used in poster deep links when the Bot API cannot be asked (getMe) at print time.
    bot_username: str = ""
    webhook: WebhookSettings = WebhookSettings()

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        left, sep, right = raw.partition(":")
        if not (sep and left.isdigit() and right):
            raise ValueError("must look like 123456:ABC-token-from-BotFather")
        return value


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///unionbot.db"
    echo: bool = False


class FederationSettings(BaseModel):
    name: str = "北京市西城区总工会"
    chat_id: int | None = None
    founding_threshold: int = Field(25, ge=2, le=10_000)


class SecuritySettings(BaseModel):
    # AES-256-GCM key for resident ids and mobiles; 32 bytes, urlsafe base64 or hex.
    data_key: SecretStr
    data_key_id: str = Field("k1", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    # Retired keys kept so that older records stay readable after a rotation.
    old_data_keys: dict[str, SecretStr] = {}
    # HMAC key for look-up hashes and signed card tokens; 32 bytes.
    lookup_key: SecretStr


class RenderSettings(BaseModel):
    cjk_font: Path | None = None
    cjk_font_index: int | None = None
    # Fonts for the rare characters the main font lacks, tried in this order before the
    # well-known ones (fonts-hanazono, fonts-babelstone-han). A name with a character no
    # font has is refused at the form: its member card could not be drawn.
    fallback_fonts: list[Path] = []


class I18nSettings(BaseModel):
    default_locale: Literal["zh", "en"] = "zh"


class OutboxSettings(BaseModel):
    global_per_second: float = Field(30.0, gt=0)
    private_per_second: float = Field(1.0, gt=0)
    group_per_minute: float = Field(20.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    poll_interval: float = Field(0.5, gt=0)


class RetentionSettings(BaseModel):
    # Half-filled forms nobody touched for this long are deleted.
    drafts_days: int = Field(30, ge=1)
    # Rejected applications lose their personal data after this long.
    rejected_days: int = Field(180, ge=1)
    # How often the retention job runs in the bot process.
    every_hours: float = Field(24.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="UNIONBOT__", env_nested_delimiter="__", extra="forbid"
    )

    telegram: TelegramSettings
    database: DatabaseSettings = DatabaseSettings()
    federation: FederationSettings = FederationSettings()
    security: SecuritySettings
    render: RenderSettings = RenderSettings()
    i18n: I18nSettings = I18nSettings()
    outbox: OutboxSettings = OutboxSettings()
    retention: RetentionSettings = RetentionSettings()


def load_settings(path: Path | None = None, **overrides: object) -> Settings:
    """Read settings from `path` (if it exists) and the environment; raise ConfigError."""
    toml_path = path or DEFAULT_CONFIG_PATH
    if path is not None and not path.exists():
        raise ConfigError(f"config file not found: {path}")

    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path)
            return (init_settings, env_settings, toml)

    try:
        return _FileSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_errors(error)) from None
    except ValueError as error:  # a TOML syntax error
        raise ConfigError(f"{toml_path}: {error}") from None


def describe_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        env = "UNIONBOT__" + "__".join(str(part).upper() for part in item["loc"])
        if item["type"] == "missing" and len(item["loc"]) == 1:
            lines.append(f"config section [{key}] is missing (see config.example.toml)")
        elif item["type"] == "missing":
            lines.append(f"config key {key} is missing (set it in config.toml or {env})")
        else:
            lines.append(f"config key {key} is invalid: {item['msg']}")
    return "\n".join(lines)
