"""Configuration: a TOML file, overridden by UNIONBOT__SECTION__KEY environment variables.

Every section forbids keys it does not know, so a misspelt key (`founding_treshold`) is an
error naming it instead of a silently applied default; environment variables are checked
the same way.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal, get_origin
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_PATH = Path("config.toml")
ENV_PREFIX = "UNIONBOT__"
ENV_DELIMITER = "__"
# A bot token pasted into the Bot API address (".../bot123456:ABC").
_TOKEN_IN_PATH = re.compile(r"/bot\d+:", re.IGNORECASE)


class ConfigError(Exception):
    """A missing or malformed configuration key, phrased for a person, one line per problem."""


class Section(BaseModel):
    """A configuration section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _http_address(value: str, example: str) -> SplitResult:
    """The parts of an http(s) address with a host and a valid port (ValueError else)."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// address, e.g. {example}")
    return parts


def _group_chat_id(value: int | None) -> int | None:
    if value is not None and value >= 0:
        raise ValueError("must be a group chat id, which is negative (e.g. -1001234567890)")
    return value


class WebhookSettings(Section):
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


class TelegramSettings(Section):
    token: SecretStr
    api_base: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    # Used in poster deep links when the Bot API cannot be asked (getMe) at print time.
    bot_username: str = ""
    webhook: WebhookSettings = WebhookSettings()

    @field_validator("api_base")
    @classmethod
    def _api_base_shape(cls, value: str) -> str:
        # Checked here so that a typo is a config error, not a traceback from the HTTP
        # client (whose error text would carry the URL, and with it the token).
        value = value.strip()
        parts = _http_address(value, "https://api.telegram.org")
        if any(ch.isspace() for ch in value) or parts.query or parts.fragment:
            raise ValueError("must be a plain address without spaces, '?' or '#'")
        if _TOKEN_IN_PATH.search(parts.path + "/"):
            raise ValueError("give the server's address only, without /bot<token>")
        return value

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        left, sep, right = raw.partition(":")
        if not (sep and left.isdigit() and right):
            raise ValueError("must look like 123456:ABC-token-from-BotFather")
        return value


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///unionbot.db"
    echo: bool = False
    # PostgreSQL: connections each process keeps open. The outbox sender alone has about
    # 30 deliveries in flight; connections made and closed per use cost more than the
    # query. Mind the server's max_connections across all processes.
    pool_size: int = Field(20, ge=1, le=200)


class FederationSettings(Section):
    name: str = "北京市西城区总工会"
    chat_id: int | None = None
    founding_threshold: int = Field(25, ge=2, le=10_000)
    # Founding cases: a reminder when a case has had no change for this many days, and
    # when it has been preparing this long (the handbooks give six months to finish).
    case_idle_days: int = Field(30, ge=1, le=365)
    case_preparing_days: int = Field(150, ge=1, le=730)
    # How often the bot looks for reminders due (cases, review digests, alerts).
    reminders_every_minutes: float = Field(5.0, gt=0)
    # The weekly digest to the federation group: ISO weekday (1 = Monday; 0 = none) and
    # Beijing time.
    weekly_digest_day: int = Field(1, ge=0, le=7)
    weekly_digest_time: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    _chat_id_is_a_group = field_validator("chat_id")(_group_chat_id)

    @property
    def weekly_digest_at(self) -> time:
        hours, minutes = self.weekly_digest_time.split(":")
        return time(int(hours), int(minutes))

    @property
    def case_idle(self) -> timedelta:
        return timedelta(days=self.case_idle_days)

    @property
    def case_preparing(self) -> timedelta:
        return timedelta(days=self.case_preparing_days)


class SecuritySettings(Section):
    # AES-256-GCM key for resident ids and mobiles; 32 bytes, urlsafe base64 or hex.
    data_key: SecretStr
    data_key_id: str = Field("k1", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    # Retired keys kept so that older records stay readable after a rotation.
    old_data_keys: dict[str, SecretStr] = {}
    # HMAC key for look-up hashes and signed card tokens; 32 bytes.
    lookup_key: SecretStr


class RenderSettings(Section):
    cjk_font: Path | None = None
    cjk_font_index: int | None = None
    # Fonts for the rare characters the main font lacks, tried in this order before the
    # well-known ones (fonts-hanazono, fonts-babelstone-han). A name with a character no
    # font has is refused at the form: its member card could not be drawn.
    fallback_fonts: list[Path] = []


class I18nSettings(Section):
    default_locale: Literal["zh", "en"] = "zh"


class OutboxSettings(Section):
    global_per_second: float = Field(30.0, gt=0)
    private_per_second: float = Field(1.0, gt=0)
    group_per_minute: float = Field(20.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    poll_interval: float = Field(0.5, gt=0)


class ServiceSettings(Section):
    # A street's promised review time, in working days (a street may set its own).
    review_days: int = Field(5, ge=1, le=60)
    # Each review group's daily digest, at this Beijing time, lists applications waiting
    # at least this many working days.
    digest_time: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    digest_after_days: int = Field(3, ge=1, le=60)
    # A founding alert nobody followed up within this many working days reminds the
    # federation group.
    alert_followup_days: int = Field(3, ge=1, le=60)

    @property
    def digest_at(self) -> time:
        hours, minutes = self.digest_time.split(":")
        return time(int(hours), int(minutes))


class DashboardSettings(Section):
    """The web dashboard, served by the bot process: on the webhook's listener under
    /dashboard/ in webhook mode, on its own listener with polling."""

    enabled: bool = False
    # Polling only: where the dashboard listens (put a reverse proxy with HTTPS in front).
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8090, ge=1, le=65535)
    # The address people open, as the sign-in links name it (https:// behind a proxy:
    # the session cookie is then marked Secure).
    public_url: str = "http://127.0.0.1:8090"
    # How long a sign-in lasts.
    session_hours: float = Field(8.0, gt=0, le=24 * 7)

    @field_validator("public_url")
    @classmethod
    def _public_url_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = _http_address(value, "https://union.example.org")
        if parts.path or parts.query or parts.fragment or any(c.isspace() for c in value):
            raise ValueError("must be the site's address alone (the dashboard is at /dashboard/)")
        return value

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.session_hours)


class RetentionSettings(Section):
    # Half-filled forms nobody touched for this long are deleted.
    drafts_days: int = Field(30, ge=1)
    # Rejected applications lose their personal data after this long.
    rejected_days: int = Field(180, ge=1)
    # How often the retention job runs in the bot process.
    every_hours: float = Field(24.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid"
    )

    telegram: TelegramSettings
    database: DatabaseSettings = DatabaseSettings()
    federation: FederationSettings = FederationSettings()
    security: SecuritySettings
    render: RenderSettings = RenderSettings()
    i18n: I18nSettings = I18nSettings()
    outbox: OutboxSettings = OutboxSettings()
    retention: RetentionSettings = RetentionSettings()
    service: ServiceSettings = ServiceSettings()
    dashboard: DashboardSettings = DashboardSettings()


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None, **overrides: object
) -> Settings:
    """Read settings from `path` (default ./config.toml) and the environment; raise
    ConfigError. Without a file the environment alone may configure everything."""
    toml_path = path or DEFAULT_CONFIG_PATH
    environ = os.environ if environ is None else environ
    if path is not None and not path.exists():
        raise ConfigError(missing_file(path))
    problems = unknown_environment_keys(environ)
    if problems:
        raise ConfigError("\n".join(problems))

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
        if toml_path.exists():
            raise ConfigError(describe_errors(error)) from None
        # No file: its absence is the news, not the sections it would have held.
        lines = [missing_file(toml_path)]
        if any(name.upper().startswith(ENV_PREFIX) for name in environ):
            lines.append(describe_errors(error))
        raise ConfigError("\n".join(lines)) from None
    except ValueError as error:  # a TOML syntax error
        raise ConfigError(f"{toml_path}: {error}") from None


def missing_file(path: Path) -> str:
    shown = f"./{path}" if not path.is_absolute() and path.parent == Path() else str(path)
    return (
        f"config file not found: {shown} (copy config.example.toml to config.toml and fill "
        "it in, or give --config PATH)"
    )


def describe_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        key = ".".join(loc)
        env = ENV_PREFIX + ENV_DELIMITER.join(part.upper() for part in loc)
        if item["type"] == "missing" and len(loc) == 1:
            lines.append(f"config section [{key}] is missing (see config.example.toml)")
        elif item["type"] == "missing":
            lines.append(f"config key {key} is missing (set it in config.toml or {env})")
        elif item["type"] == "extra_forbidden" and len(loc) == 1:
            hint = _did_you_mean(loc[-1], Settings)
            lines.append(f"config section [{key}] is not known{hint} (see config.example.toml)")
        elif item["type"] == "extra_forbidden":
            hint = _did_you_mean(loc[-1], _model_at(loc[:-1]))
            lines.append(f"config key {key} is not known{hint} (see config.example.toml)")
        else:
            # The message only: the input may be a (mistyped) secret.
            message = str(item["msg"]).removeprefix("Value error, ")
            lines.append(f"config key {key} is invalid: {message}")
    return "\n".join(lines)


def unknown_environment_keys(environ: Mapping[str, str]) -> list[str]:
    """UNIONBOT__… variables that name no configuration key (pydantic-settings ignores
    those that name no section, so a typo there would silently do nothing)."""
    lines = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER)
        problem = _unknown_path(parts)
        if problem is not None:
            lines.append(f"environment variable {name} names no config key: {problem}")
    return lines


def _unknown_path(parts: list[str]) -> str | None:
    model: type[BaseModel] = Settings
    where = "config"
    for position, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            hint = _did_you_mean(part, model)
            return f"{where} has no {'section' if position == 0 else 'key'} {part!r}{hint}"
        rest = parts[position + 1 :]
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, where = annotation, f"[{'.'.join(parts[: position + 1])}]"
            continue
        if get_origin(annotation) is dict and len(rest) <= 1 and all(rest):
            return None  # a table of free keys, such as old_data_keys.k0
        if rest:
            return f"{'.'.join(parts[: position + 1])} has no keys below it"
        return None
    return None  # a whole section given as JSON


def _model_at(loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: Any = Settings
    for part in loc:
        field = model.model_fields.get(part) if model is not None else None
        annotation = field.annotation if field is not None else None
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


def _did_you_mean(name: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    close = difflib.get_close_matches(name, list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
