"""Writing a PNG and a PDF poster for each reception point."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import ConfigError, Settings
from bot.render.fonts import FontSpec, FontStack, find_font_stack
from bot.render.poster import PosterData, render_poster_pdf, render_poster_png
from bot.services.admin import PointRow
from bot.startup import BotApiUnreachable, identify

ASK_WITHIN = 5  # seconds: printing posters should not wait long for a blocked address


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


async def bot_username(settings: Settings, warn: Callable[[str], None] | None = None) -> str:
    """The bot's @username for the deep links: getMe's answer, or, when the Bot API cannot
    be asked (Telegram is blocked where districts print), telegram.bot_username. A
    configured name that differs from getMe's would print posters for another bot."""
    from bot.app import make_bot

    configured = settings.telegram.bot_username.strip().lstrip("@")
    bot = make_bot(settings)
    try:
        me = await identify(bot, settings, within=ASK_WITHIN)
    except BotApiUnreachable as error:
        if not configured:
            raise ConfigError(
                f"telegram.bot_username is empty and the Bot API at {error.api_base} cannot "
                f"be asked ({error.reason}): set telegram.bot_username to the bot's @username"
            ) from None
        if warn is not None:
            warn(
                f"Bot API not reachable ({error.reason}); using telegram.bot_username @{configured}"
            )
        return configured
    await bot.session.close()
    actual = me.username or ""
    if configured and configured.lower() != actual.lower():
        raise ConfigError(
            f"telegram.bot_username is @{configured}, but telegram.token belongs to @{actual}: "
            "correct telegram.bot_username (the posters would open the wrong bot)"
        )
    return actual


async def write_posters(
    settings: Settings,
    points: Sequence[PointRow],
    out: Path,
    *,
    username: str | None = None,
    font: FontSpec | FontStack | None = None,
    warn: Callable[[str], None] | None = None,
) -> int:
    username = username or await bot_username(settings, warn)
    render = settings.render
    font = font or find_font_stack(render.cjk_font, render.cjk_font_index, render.fallback_fonts)
    for number, point in enumerate(points, start=1):
        data = poster_data(point, username)
        stem = f"{number:02d}-{_safe(point.street)}-{_safe(point.name)}"
        await asyncio.to_thread(_write_poster, data, font, out, stem)
    return len(points)


def poster_data(point: PointRow, username: str) -> PosterData:
    """A point's poster: issued by its street union (the footer), which reviews what is
    submitted there; the subtitle names the joint union the worker's membership joins."""
    return PosterData(point.street, point.name, deep_link(username, point.code))


def _write_poster(data: PosterData, font: FontSpec | FontStack, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.png").write_bytes(render_poster_png(data, font))
    (out / f"{stem}.pdf").write_bytes(render_poster_pdf(data, font))


def _safe(name: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", name)[:40]
