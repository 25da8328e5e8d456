"""The founding-threshold alert in the federation group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.callbacks import AlertCb
from bot.i18n import translate as _


@dataclass(frozen=True)
class AlertData:
    alert_id: int
    enterprise: str
    uscc: str | None
    member_count: int
    threshold: int
    unions: list[str]  # the joint unions where the members are registered
    # (reception point or None, channel, members who came in that way)
    points: list[tuple[str | None, str, int]]
    first_joined: datetime
    last_joined: datetime
    followed_by: str | None
    followed_at: datetime | None


def alert_text(alert: AlertData) -> str:
    separator = _("、")
    points = separator.join(
        _("{name}（{count}）").format(name=intake_label(point, channel), count=count)
        for point, channel, count in alert.points
    )
    lines = [
        _("🔔 <b>建会提示：单体入会会员已达 {threshold} 人</b>").format(threshold=alert.threshold),
        _("企业：{name}").format(name=escape(alert.enterprise)),
    ]
    if alert.uscc:
        lines.append(_("统一社会信用代码：{uscc}").format(uscc=alert.uscc))
    lines += [
        _("当前会员人数：{count}").format(count=alert.member_count),
        _("会籍所在：{unions}").format(unions=separator.join(escape(u) for u in alert.unions)),
        _("受理点：{points}").format(points=points),
        _("首位会员入会：{first}；最近入会：{last}").format(
            first=timefmt.day(alert.first_joined), last=timefmt.day(alert.last_joined)
        ),
        _("依据《工会法》第十一条，请联系该企业，指导筹建工会。"),
    ]
    if alert.followed_by and alert.followed_at:
        lines.append(
            _("\n👤 <b>跟进人：{who}</b>（{time}）").format(
                who=escape(alert.followed_by), time=timefmt.minute(alert.followed_at)
            )
        )
    return "\n".join(lines)


def intake_label(point: str | None, channel: str) -> str:
    """Where members came in: a reception point, the online channel, or paper forms."""
    if channel == "assisted":
        return _("纸质申请")
    if point:
        return escape(point)
    return _("线上申请")


def alert_keyboard(alert: AlertData) -> InlineKeyboardMarkup | None:
    if alert.followed_by:
        return None
    data = AlertCb(action="follow", alert=alert.alert_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("🙋 我来跟进"), callback_data=data)]]
    )
