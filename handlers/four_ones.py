"""/fourones in a staff group: the "four ones" completion, per street in the federation
group, per reception point in a street's review group."""

from __future__ import annotations

from html import escape

from aiogram.filters import Command
from aiogram.types import Message

from bot.config import Settings
from bot.i18n import translate as _
from bot.services.binding import BindingService
from bot.services.four_ones import CompletionService
from handlers.filters import ChatIs
from handlers.registry import Handlers

router = Handlers("four_ones")


@router.message(Command("fourones"), ChatIs("group", "supergroup"))
async def completion(
    message: Message, settings: Settings, four_ones: CompletionService, binding: BindingService
) -> None:
    chat = message.chat.id
    if chat == settings.federation.chat_id:
        rows = await four_ones.by_street()
        title = _("<b>“四个一”完成情况（按街道）</b>")
    else:
        street = await binding.street_of_review_chat(chat)
        if street is None:
            await message.answer(_("这个命令只能在区总工会群或街道审核群中使用。"))
            return
        rows = await four_ones.by_point(street.id)
        title = _("<b>{street}“四个一”完成情况（按接待点）</b>").format(street=escape(street.name))
    lines = [title, _("会员数 / 服务卡 / 普惠服务 / 活动 / 四项全部完成")]
    for row in rows:
        lines.append(
            f"{escape(row.name)}：{row.members} / {row.service_card} / {row.benefit} / "
            f"{row.activity} / {row.all_four}"
        )
    if not rows:
        lines.append(_("还没有会员。"))
    await message.answer("\n".join(lines)[:4000])
