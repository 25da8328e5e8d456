"""Writing a PNG and a PDF poster for each reception point."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings
from bot.render.fonts import FontSpec, FontStack, find_font_stack
from bot.render.poster import PosterData, render_poster_pdf, render_poster_png
from bot.services.admin import PointRow


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


async def bot_username(settings: Settings) -> str:
    if settings.telegram.bot_username:
        return settings.telegram.bot_username.lstrip("@")
    from bot.app import make_bot

    bot = make_bot(settings)
    try:
        me = await bot.get_me()
    finally:
        await bot.session.close()
    return me.username or ""


async def write_posters(
    settings: Settings,
    points: Sequence[PointRow],
    out: Path,
    *,
    username: str | None = None,
    font: FontSpec | FontStack | None = None,
) -> int:
    username = username or await bot_username(settings)
    render = settings.render
    font = font or find_font_stack(render.cjk_font, render.cjk_font_index, render.fallback_fonts)
    for number, point in enumerate(points, start=1):
        data = PosterData(point.street, point.name, deep_link(username, point.code))
        stem = f"{number:02d}-{_safe(point.street)}-{_safe(point.name)}"
        await asyncio.to_thread(_write_poster, data, font, out, stem)
    return len(points)


def _write_poster(data: PosterData, font: FontSpec | FontStack, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.png").write_bytes(render_poster_png(data, font))
    (out / f"{stem}.pdf").write_bytes(render_poster_pdf(data, font))


def _safe(name: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", name)[:40]
