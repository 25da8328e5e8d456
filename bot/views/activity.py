"""Activities: what members read (the announcement, their list, a promotion, the reminder)
and what staff read (their list, who came)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.callbacks import ActivityCb
from bot.i18n import translate as _
from bot.services.activities import ActivityRefused, ActivityView, Attendee
from models.base import utcnow

NAMES_LIMIT = 3600  # characters of a staff list, within Telegram's 4096 with the rest
SHOWN = 10  # activities in a member's list (and its buttons)


def refusal_text(error: ActivityRefused) -> str:
    texts = {
        "not_member": _("工会活动只面向工会会员。发送 /start 申请入会。"),
        "unknown": _("找不到这个活动。"),
        "not_yours": _("这个活动不面向您所在的街道。"),
        "not_open": _("这个活动已经结束或取消。"),
        "deadline": _("这个活动的报名已经截止。"),
        "signed_up": _("您已经报名了这个活动。"),
        "not_signed_up": _("您没有报名这个活动。"),
        "started": _("活动已经开始，不能再取消报名。"),
        "forged": _("❌ 无效的签到码。"),
        "not_confirmed": _("❌ 这位会员没有确认的名额（在候补名单中或已取消报名）。"),
        "not_over": _("活动结束后才能结束签到。"),
        "under_way": _("活动已经开始，不能再取消活动。"),
    }
    extra = error.extra
    if error.code == "checked_in":
        at = extra.get("at")
        return _("这位会员已于 {time} 签到（{who}）。").format(
            time=timefmt.minute(at) if at else "?",  # type: ignore[arg-type]
            who=escape(str(extra.get("by") or "?")),
        )
    if error.code == "too_early":
        return _("❌ 还没到签到时间：{time} 开始签到。").format(
            time=timefmt.minute(extra["opens"])  # type: ignore[arg-type]
        )
    if error.code == "too_late":
        return _("❌ 签到已于 {time} 结束。").format(
            time=timefmt.minute(extra["ends"])  # type: ignore[arg-type]
        )
    if error.code == "invalid":
        return _("❌ {reason}").format(reason=escape(str(extra.get("reason"))))
    return texts.get(error.code, error.code)


def _scope(activity: ActivityView) -> str:
    return escape(activity.street) if activity.street else _("全区")


def activity_text(activity: ActivityView) -> str:
    lines = [
        _("🎯 <b>{title}</b>（{scope}）").format(
            title=escape(activity.title), scope=_scope(activity)
        ),
        _("时间：{start} — {end}").format(
            start=timefmt.minute(activity.starts_at),
            end=timefmt.local(activity.ends_at).strftime("%H:%M"),
        ),
        _("地点：{place}").format(place=escape(activity.place)),
        _("名额：{confirmed}/{capacity}，候补 {waiting} 人；{deadline} 报名截止").format(
            confirmed=activity.confirmed,
            capacity=activity.capacity,
            waiting=activity.waiting,
            deadline=timefmt.minute(activity.signup_deadline),
        ),
    ]
    if activity.description:
        lines.append(escape(activity.description))
    if activity.attended_at:
        lines.append(_("✅ 已签到（{time}）").format(time=timefmt.minute(activity.attended_at)))
    elif activity.mine == "confirmed":
        lines.append(_("✅ 您已报名，活动时请出示签到码"))
    elif activity.mine == "waiting":
        lines.append(_("⏳ 您在候补名单第 {n} 位，有人取消时自动递补并通知您").format(
            n=activity.position or "?"))  # fmt: skip
    return "\n".join(lines)


def member_keyboard(activities: list[ActivityView]) -> InlineKeyboardMarkup | None:
    rows = []
    for activity in activities:
        if activity.attended_at:
            continue
        title = activity.title[:40]
        if activity.mine == "confirmed":
            actions = [("code", _("签到码：{title}")), ("cancel", _("取消报名"))]
        elif activity.mine == "waiting":
            actions = [("cancel", _("退出候补：{title}"))]
        else:
            actions = [("join", _("报名：{title}"))]
        rows.append([
            InlineKeyboardButton(
                text=label.format(title=title)[:60],
                callback_data=ActivityCb(action=action, activity=activity.id).pack(),
            )
            for action, label in actions
        ])  # fmt: skip
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def announcement_text(activity: ActivityView) -> str:
    return (
        _("📣 新的工会活动")
        + "\n\n"
        + activity_text(activity)
        + "\n\n"
        + _("发送 /notify off 可不再接收活动通知。")
    )


def join_keyboard(activity_id: int) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=_("我要报名"), callback_data=ActivityCb(action="join", activity=activity_id).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def signed_up_text(status: str, position: int | None) -> str:
    if status == "confirmed":
        return _("✅ 报名成功！发送 /activities 查看签到码，活动前一天会提醒您。")
    return _("名额已满，您已进入候补名单第 {n} 位。有人取消时会自动递补并通知您。").format(
        n=position or "?"
    )


def promoted_text(activity: ActivityView) -> str:
    return (
        _("🎉 有人取消报名，您已从候补名单递补成功：")
        + "\n\n"
        + activity_text(activity)
        + "\n\n"
        + _("发送 /activities 查看签到码。")
    )


def reminder_text(activity: ActivityView) -> str:
    return (
        _("⏰ 明天的活动提醒：")
        + "\n\n"
        + activity_text(activity)
        + "\n\n"
        + _(
            "请准时参加，入场时出示签到码（发送 /activities）。"
            "不能参加请取消报名，把名额留给候补的会员。"
        )
    )


def called_off_text(activity: ActivityView, contact: str | None) -> str:
    text = _("😔 很抱歉，工会活动“{title}”（{start}）已取消，您的报名随之取消。").format(
        title=escape(activity.title), start=timefmt.minute(activity.starts_at)
    )
    if contact:
        text += _("如有疑问，请联系街道总工会：{contact}").format(contact=escape(contact))
    return text


def staff_list_text(activities: list[ActivityView]) -> str:
    if not activities:
        return _("还没有活动。发送 /newactivity 创建一个。")
    lines = [_("<b>工会活动</b>")]
    states = {"open": _("进行中"), "closed": _("已结束"), "cancelled": _("已取消")}
    for a in activities:
        lines.append(
            _(
                "#{id} {title}（{scope}）{start}，"
                "报名 {confirmed}/{capacity}，候补 {waiting}，{state}"
            ).format(
                id=a.id, title=escape(a.title), scope=_scope(a),
                start=timefmt.minute(a.starts_at), confirmed=a.confirmed,
                capacity=a.capacity, waiting=a.waiting, state=states.get(a.status, a.status),
            )
        )  # fmt: skip
    lines.append(_("发送 /activity 编号 查看签到情况。"))
    return "\n".join(lines)


def attendance_text(activity: ActivityView, people: list[Attendee]) -> str:
    came = [p for p in people if p.attended_at]
    lines = [
        _("🎯 <b>#{id} {title}</b>").format(id=activity.id, title=escape(activity.title)),
        _("报名 {confirmed}/{capacity}，候补 {waiting}，已签到 {came}").format(
            confirmed=activity.confirmed,
            capacity=activity.capacity,
            waiting=activity.waiting,
            came=len(came),
        ),
    ]
    marks = {"confirmed": "⬜", "waiting": "⏳"}
    size = sum(len(line) + 1 for line in lines)
    for shown, person in enumerate(people):
        mark = "✅" if person.attended_at else marks.get(person.status, "")
        line = f"{mark} {person.member_number} {escape(person.name)}"
        size += len(line) + 1
        if size > NAMES_LIMIT:  # Telegram's 4096: the full list is on the command line
            lines.append(_("……另有 {n} 人（完整名单：unionbot activities attendance {id}）").format(
                n=len(people) - shown, id=activity.id))  # fmt: skip
            break
        lines.append(line)
    if activity.status == "closed":
        lines.append(_("活动已结束，签到名单已确定。"))
    return "\n".join(lines)


def attendance_keyboard(
    activity: ActivityView, now: datetime | None = None
) -> InlineKeyboardMarkup | None:
    if activity.status != "open":
        return None
    now = now or utcnow()
    if now < activity.starts_at:  # before the start it can still be called off
        label = _("取消活动")
        data = ActivityCb(action="off", activity=activity.id).pack()
        return InlineKeyboardMarkup(
            inline_keyboard=[[
                InlineKeyboardButton(text=_("刷新"), callback_data=ActivityCb(
                    action="who", activity=activity.id).pack()),
                InlineKeyboardButton(text=label, callback_data=data),
            ]]
        )  # fmt: skip
    buttons = [
        InlineKeyboardButton(
            text=_("刷新"), callback_data=ActivityCb(action="who", activity=activity.id).pack()
        ),
        InlineKeyboardButton(
            text=_("结束活动"),
            callback_data=ActivityCb(action="close", activity=activity.id).pack(),
        ),
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])
