"""Whatever no other handler took: a hint in private chats, silence in groups."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message

from bot.i18n import translate as _
from handlers.filters import PRIVATE
from handlers.registry import Handlers

router = Handlers("fallback")


@router.message(PRIVATE)
async def private_fallback(message: Message) -> None:
    await message.answer(
        _("我没有听懂。发送 /start 申请入会，/status 查看进度，/help 查看全部功能。")
    )


@router.callback_query()
async def unknown_button(query: CallbackQuery) -> None:
    # Forged or outdated callback data: refuse politely, change nothing.
    await query.answer(_("这个按钮已失效。"), show_alert=True)
