"""/export TOPIC [YEAR] in a staff group: the Excel file as a document. In a street's
review group the street's rows, in the federation group the district's; numbers masked
either way (the export is as masked as the screen it came from). Who may have it is the
service's check: that street's staff, federation staff and administrators."""

from __future__ import annotations

import tempfile
from html import escape
from pathlib import Path

from aiogram.filters import Command, CommandObject
from aiogram.types import FSInputFile, Message

from bot import timefmt
from bot.config import Settings
from bot.exports import PERSONAL, TOPICS, ExportRefused, ExportService
from bot.i18n import translate as _
from bot.services.binding import BindingService
from bot.services.errors import NotAllowed
from handlers.filters import GROUP
from handlers.registry import Handlers
from handlers.review import actor_of
from models.base import utcnow

router = Handlers("exports")
router.filter("message", GROUP)

# Telegram takes documents of up to 50 MB from a bot; the command line has no limit.
MAX_BYTES = 50 * 1024 * 1024
ALIASES = {
    "会员": "members", "会员名册": "members", "申请": "applications", "入会申请": "applications",
    "企业": "enterprises", "建会": "cases", "建会工作": "cases", "活动": "activities",
    "台账": "ledger", "经费台账": "ledger", "经费": "ledger",
}  # fmt: skip


def topic_label(topic: str) -> str:
    labels = {
        "members": _("会员名册"),
        "applications": _("入会申请"),
        "enterprises": _("企业与建会进度"),
        "cases": _("建会工作"),
        "activities": _("活动与签到"),
        "ledger": _("经费台账"),
    }
    return labels[topic]


def topics_text() -> str:
    lines = [_("<b>导出 Excel</b>：发送 /export 和下面的一项，例如 /export members")]
    lines += [f"• /export {topic} — {topic_label(topic)}" for topic in TOPICS]
    lines.append(
        _("可以加上年份，例如 /export applications 2026。身份证号和手机号一律隐去部分数字。")
    )
    return "\n".join(lines)


def _parse(args: str | None) -> tuple[str, int | None] | None:
    words = (args or "").split()
    if not 1 <= len(words) <= 2:
        return None
    topic = ALIASES.get(words[0], words[0].lower())
    if topic not in TOPICS:
        return None
    if len(words) == 1:
        return topic, None
    year = words[1]
    if len(year) == 4 and year.isascii() and year.isdigit():
        return topic, int(year)
    return None


@router.message(Command("export"))
async def export(
    message: Message,
    command: CommandObject,
    settings: Settings,
    exports: ExportService,
    binding: BindingService,
) -> None:
    if message.from_user is None:
        return
    asked = _parse(command.args)
    if asked is None:
        await message.reply(topics_text())
        return
    topic, year = asked
    if message.chat.id == settings.federation.chat_id:
        street_id, code, scope = None, "district", _("全区")
    else:
        street = await binding.street_of_review_chat(message.chat.id)
        if street is None:
            await message.reply(_("这个命令只能在区总工会群或街道审核群中使用。"))
            return
        street_id, code, scope = street.id, street.code, escape(street.name)
    today = timefmt.local(utcnow()).strftime("%Y%m%d")
    name = f"{topic}-{code}-{year or today}.xlsx"
    with tempfile.TemporaryDirectory(prefix="unionbot-export-") as folder:
        path = Path(folder) / name
        try:
            rows = await exports.write(
                topic, path, actor=actor_of(message.from_user), street_id=street_id, year=year
            )
        except NotAllowed:
            await message.reply(_("只有本街道总工会或区总工会的工作人员可以导出。"))
            return
        except ExportRefused as refused:
            if refused.code == "year":
                await message.reply(
                    _("{topic}不按年份导出，请去掉年份再试。").format(topic=topic_label(topic))
                )
            elif refused.code == "bad_year":
                await message.reply(_("{year} 不是有效的年份。").format(year=year))
            else:
                await message.reply(topics_text())
            return
        if path.stat().st_size > MAX_BYTES:
            too_big = _("文件超过 50 MB，无法在聊天中发送；请管理员在命令行导出：{command}")
            await message.reply(too_big.format(command=f"unionbot export {topic}"))
            return
        caption = _("{title}（{scope}）：{rows} 行").format(
            title=topic_label(topic), scope=scope, rows=f"{rows:,}"
        )
        if year is not None:
            caption += _("，{year} 年").format(year=year)
        if topic in PERSONAL:
            caption += _("。身份证号和手机号已隐去部分数字。")
        await message.reply_document(FSInputFile(path, filename=name), caption=caption)
