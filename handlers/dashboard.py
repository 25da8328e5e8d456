"""/dashboard, in any chat: a staff member's one-time sign-in link to the web dashboard,
always sent to their private chat with the bot, never into a group."""

from __future__ import annotations

from html import escape

from aiogram.exceptions import TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import Message

from bot.config import Settings
from bot.i18n import translate as _
from bot.services.errors import NotAllowed
from bot.web.sessions import LINK_TTL, DashboardAuth
from handlers.registry import Handlers

router = Handlers("dashboard")

SIGN_IN_PATH = "/dashboard/signin?t="


@router.message(Command("dashboard"))
async def dashboard(message: Message, settings: Settings, dashboard: DashboardAuth) -> None:
    user = message.from_user
    if user is None:
        return
    if not settings.dashboard.enabled:
        await message.answer(_("网页看板尚未启用，请联系管理员。"))
        return
    try:
        token = await dashboard.issue_link(user.id)
    except NotAllowed:
        await message.answer(_("网页看板只对街道、区总工会的工作人员和管理员开放。"))
        return
    url = settings.dashboard.public_url + SIGN_IN_PATH + token
    minutes = int(LINK_TTL.total_seconds() // 60)
    text = _("网页看板登录链接（{minutes} 分钟内有效，只能使用一次，请勿转发）：\n{url}").format(
        minutes=minutes, url=escape(url)
    )
    private = message.chat.type == "private"
    try:
        await message.bot.send_message(user.id, text)
    except TelegramForbiddenError:
        # The bot may not write first: the person never opened a private chat with it.
        await message.answer(
            _("请先私聊机器人（点开机器人，发送 /start），再发送 /dashboard 获取登录链接。")
        )
        return
    if not private:
        await message.answer(_("登录链接已私信发给您，请在与机器人的私聊中查看。"))
