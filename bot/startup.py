"""Asking the Bot API who the bot is, with every failure turned into one line that names
the setting to fix and never shows the token; and a log filter that keeps the token out
of every log line, tracebacks included.

The token is part of every Bot API URL (`/bot<token>/getMe`), and HTTP client errors
quote the URL, so a plain traceback at start-up prints it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import User
from aiohttp import ClientConnectorCertificateError, ClientConnectorDNSError, ClientConnectorError

from bot.config import ConfigError, Settings

START_TIMEOUT = 20  # seconds for getMe at start: a blocked address would hang for a minute
BLOCKED_HINT = (
    "where Telegram is blocked (mainland China), point telegram.api_base at a Bot API server "
    "this machine can reach"
)


class BotApiUnreachable(ConfigError):
    """The Bot API could not be asked at all: network, address, or not a Bot API server."""

    def __init__(self, api_base: str, reason: str, hint: str = "") -> None:
        self.api_base = api_base
        self.reason = reason
        text = f"telegram.api_base: cannot reach the Bot API at {api_base}: {reason}"
        super().__init__(f"{text}; {hint}" if hint else text)


class TokenRefused(ConfigError):
    """The Bot API answered 401: the token is wrong or was revoked."""


async def identify(bot: Bot, settings: Settings, *, within: int = START_TIMEOUT) -> User:
    """getMe, or a ConfigError of one line naming telegram.api_base or telegram.token. The
    bot's HTTP session is closed when this fails."""
    try:
        return await bot.get_me(request_timeout=within)
    except (TelegramAPIError, ClientDecodeError) as error:
        await bot.session.close()
        # `from None`: the chained HTTP error quotes the URL, token and all.
        raise explain(error, settings, within) from None
    except BaseException:
        await bot.session.close()
        raise


def explain(error: Exception, settings: Settings, timeout: int) -> ConfigError:
    token = settings.telegram.token.get_secret_value()
    api_base = redact(settings.telegram.api_base, [token])
    if isinstance(error, TelegramUnauthorizedError):
        return TokenRefused(
            f"telegram.token is not accepted by the Bot API at {api_base} (401 Unauthorized): "
            "copy the token again from @BotFather (it is not shown here)"
        )
    if isinstance(error, TelegramNetworkError):
        reason = redact(network_reason(error, timeout), [token])
        return BotApiUnreachable(api_base, reason, BLOCKED_HINT)
    if isinstance(error, TelegramNotFound | ClientDecodeError):
        return BotApiUnreachable(
            api_base,
            "the server there does not answer like a Bot API server (is the address right?)",
        )
    if isinstance(error, TelegramServerError):
        message = redact(error.message, [token])
        return BotApiUnreachable(api_base, f"the server failed ({message}); try again later")
    message = redact(getattr(error, "message", type(error).__name__), [token])
    return BotApiUnreachable(api_base, f"getMe was refused ({message})")


def network_reason(error: TelegramNetworkError, timeout: int) -> str:
    cause = error.__cause__
    if isinstance(cause, asyncio.TimeoutError):
        return f"no answer within {timeout} s"
    if isinstance(cause, ClientConnectorDNSError):
        return "the host name cannot be resolved"
    if isinstance(cause, ClientConnectorCertificateError):
        return "its TLS certificate is not valid"
    if isinstance(cause, ClientConnectorError):
        os_error = cause.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        detail = os.strerror(os_error.errno) if os_error.errno else str(os_error)
        return f"cannot connect ({detail or type(os_error).__name__})"
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return error.message


# ---------------------------------------------------------------------------- redaction


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret (and a token's part after the colon) replaced."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "<token>")
        _id, sep, tail = secret.partition(":")
        if sep and len(tail) >= 8:
            text = text.replace(tail, "<secret>")
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and traceback without the secrets. One instance,
    attached to the root logger's handlers, so it sees every propagated record."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_FILTER = RedactingFilter()


def keep_out_of_logs(*secrets: str) -> None:
    """From now on, no log line shows these secrets (call again to change them)."""
    _FILTER.secrets = tuple(s for s in secrets if s)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
