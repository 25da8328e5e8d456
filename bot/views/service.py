"""Service-level messages: a review group's daily digest, the federation's reminder of an
alert nobody followed up, and the promise a waiting worker is shown."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.callbacks import AlertCb
from bot.i18n import translate as _
from bot.services.service_levels import Promise, Waiting


def digest_text(waiting: list[Waiting], after_days: int, promised: int) -> str:
    lines = [
        _("⏰ <b>待审核提醒</b>：{count} 份申请已等待 {days} 个工作日以上"
          "（本街道承诺 {promised} 个工作日内审核）：").format(
            count=len(waiting), days=after_days, promised=promised
        )
    ]  # fmt: skip
    for item in waiting:
        late = _("，⚠️ 已超时") if item.late else ""
        lines.append(
            _("• {number} {name}：{time} 提交，已等 {days} 个工作日{late}").format(
                number=item.number, name=escape(item.name),
                time=timefmt.minute(item.submitted_at), days=item.working_days, late=late,
            )
        )  # fmt: skip
    lines.append(_("审核卡片在本群上方；也可发送 /whoami 确认您的审核权限。"))
    return "\n".join(lines)


def alert_reminder_text(alert_id: int, enterprise: str, count: int, days: int) -> str:
    return _(
        "⏰ <b>建会提示无人跟进</b>：{enterprise}（单体会员 {count} 人）的建会提示"
        "已 {days} 个工作日没有人认领。请点下面的按钮跟进。"
    ).format(enterprise=escape(enterprise), count=count, days=days)


def alert_reminder_keyboard(alert_id: int) -> InlineKeyboardMarkup:
    data = AlertCb(action="follow", alert=alert_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("🙋 我来跟进"), callback_data=data)]]
    )


def promise_text(promise: Promise) -> str:
    text = _("{street}总工会承诺 {days} 个工作日内审核，预计 {due} 前有结果。").format(
        street=escape(promise.street.removesuffix("总工会")), days=promise.review_days,
        due=promise.due.isoformat(),
    )  # fmt: skip
    if promise.contact:
        text += _("如有疑问请联系：{contact}").format(contact=escape(promise.contact))
    return text
