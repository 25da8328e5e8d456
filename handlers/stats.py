"""/stats in a staff group: the street's figures in its review group, the district's with
a row per street in the federation group; a text summary and two charts."""

from __future__ import annotations

import asyncio
from datetime import date

from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot import timefmt
from bot.config import Settings
from bot.render.charts import new_members_png, threshold_png
from bot.render.fonts import FontStack
from bot.services.binding import BindingService
from bot.services.stats import StatsService, parse_period
from bot.views import stats as view
from bot.views.privacy import pack
from handlers.filters import ChatIs
from handlers.registry import Handlers
from models.base import utcnow

router = Handlers("stats")


@router.message(Command("stats"), ChatIs("group", "supergroup"))
async def show(
    message: Message, command: CommandObject, settings: Settings, stats: StatsService,
    binding: BindingService, fonts: FontStack,
) -> None:  # fmt: skip
    today: date = timefmt.local(utcnow()).date()
    try:
        period = parse_period(command.args or "", today)
    except ValueError:
        await message.answer(view.usage_text())
        return
    if message.chat.id == settings.federation.chat_id:
        street_id = None
    else:
        street = await binding.street_of_review_chat(message.chat.id)
        if street is None:
            await message.answer(view.usage_text())
            return
        street_id = street.id
    figures = await stats.overview(street_id, period)
    blocks = [view.overview_text(figures)]
    if street_id is None:
        blocks.append("\n".join(view.streets_lines(await stats.by_street(period))))
    nearest = await stats.next_to_found(street_id, limit=10)
    blocks.append("\n".join(view.next_lines(nearest)))
    for text in pack([b for b in blocks if b]):
        await message.answer(text)
    months = await stats.monthly_new_members(street_id, months=12, today=today)
    threshold = settings.federation.founding_threshold
    charts = await asyncio.to_thread(
        lambda: (new_members_png(months, fonts), threshold_png(nearest, threshold, fonts))
    )
    for name, png in zip(("new-members", "threshold"), charts, strict=True):
        await message.answer_photo(BufferedInputFile(png, filename=f"{name}.png"))
