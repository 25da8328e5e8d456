"""The review card in a street's group chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.callbacks import EmployerCb, ReviewCb
from bot.i18n import translate as _
from bot.pii import mask_numbers
from bot.union_names import joint_union_name, street_union_name


@dataclass(frozen=True)
class ReviewCardData:
    application_id: int
    number: str
    name: str
    masked_id: str
    masked_mobile: str
    gender: str
    birth_date: date
    employer: str
    enterprise_count: int
    threshold: int
    provisional: bool
    street_name: str
    point_name: str | None
    submitted_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    reject_reason: str | None
    reject_note: str | None
    assisted_by: str | None = None
    channel: str = "qr"  # qr | online | assisted (Application.channel)
    # The employer had its own union when the worker applied: its name ("" if unknown).
    own_union: str | None = None
    # The enterprise union founded through the bot that the application is for.
    union_name: str | None = None
    # What the worker typed (shown when it is not the name above) and the branch named.
    typed: str | None = None
    branch: str | None = None


def gender_label(gender: str) -> str:
    return _("男") if gender == "male" else _("女")


def reason_label(reason: str | None) -> str:
    labels = {
        "incomplete": _("材料不完整"),
        "outside_area": _("不属于本街道受理范围"),
        "duplicate": _("重复申请"),
        "other": _("其他原因"),
    }
    return labels.get(reason or "", reason or "")


def reason_with_note(reason: str, note: str) -> str:
    """The reason label and the staff's own words (escaped: they are user text)."""
    return _("{reason}：{note}").format(reason=reason, note=escape(note))


def channel_text(channel: str, point_name: str | None, assisted_by: str | None) -> str:
    """How the application came in: a reception point's QR code, the online channel, or a
    paper form that staff typed in (user text escaped)."""
    if channel == "assisted":
        return _("纸质申请，{who} 代录").format(who=escape(assisted_by or "?"))
    if channel == "qr" and point_name:
        return _("{point}（扫码）").format(point=escape(point_name))
    return _("线上申请")


def _employer_line(card: ReviewCardData) -> str:
    # Masked: a name stored before the form refused numbers may hold someone's mobile.
    employer = escape(mask_numbers(card.employer))
    if card.own_union is not None:  # no founding to count toward
        return _("工作单位：{employer}（本企业经街道入会 {count} 人）").format(
            employer=employer, count=card.enterprise_count
        )
    return _("工作单位：{employer}（本企业已入会 {count}/{threshold}）").format(
        employer=employer, count=card.enterprise_count, threshold=card.threshold
    )


def _typed_lines(card: ReviewCardData) -> list[str]:
    """What the worker typed, when they picked or were matched to another name: the
    reviewer checks the match against it (and 🏢 更改单位 learns from it)."""
    lines = []
    if card.typed and card.typed != card.employer:
        lines.append(_("　职工填写：{typed}").format(typed=escape(mask_numbers(card.typed))))
    if card.branch:
        lines.append(_("　门店或分支：{branch}").format(branch=escape(mask_numbers(card.branch))))
    return lines


def review_card_text(card: ReviewCardData, today: date) -> str:
    if card.status == "withdrawn":  # the applicant withdrew and their data is erased
        return (
            _("📝 <b>入会申请 {number}</b>").format(number=escape(card.number))
            + "\n"
            + _("🗑 申请人已于 {time} 撤回申请，个人信息已删除。").format(
                time=timefmt.minute(card.decided_at or card.submitted_at)
            )
        )
    lines = [
        _("📝 <b>入会申请 {number}</b>").format(number=escape(card.number)),
        _("姓名：{name}").format(name=escape(card.name)),
        _("身份证号：{masked}").format(masked=card.masked_id),
        _("手机号：{masked}").format(masked=card.masked_mobile),
        _("性别：{gender}　年龄：{age}").format(
            gender=gender_label(card.gender), age=timefmt.age(card.birth_date, today)
        ),
        _employer_line(card),
        *_typed_lines(card),
        _("受理：{union} · {channel}").format(
            union=escape(street_union_name(card.street_name)),
            channel=channel_text(card.channel, card.point_name, card.assisted_by),
        ),
        _("会籍：{union}").format(
            union=escape(card.union_name or joint_union_name(card.street_name))
        ),
        _("提交时间：{time}").format(time=timefmt.minute(card.submitted_at)),
    ]
    if card.provisional:
        lines.insert(6, _("（该单位尚未在企业库中登记）"))
    if card.own_union is not None:
        union = f"（{escape(card.own_union)}）" if card.own_union else ""
        lines.insert(
            6,
            _(
                "⚠️ 该单位已建立工会{union}：职工一般应在本单位工会入会，请核实后再决定。"
                "本申请不计入建会人数。"
            ).format(union=union),
        )
    if card.status == "approved" and card.decided_at:
        lines.append(
            _("\n✅ <b>已通过</b> — {who}，{time}").format(
                who=escape(card.decided_by or ""), time=timefmt.minute(card.decided_at)
            )
        )
    elif card.status == "rejected" and card.decided_at:
        reason = reason_label(card.reject_reason)
        if card.reject_note:
            reason = reason_with_note(reason, card.reject_note)
        lines.append(
            _("\n❌ <b>已驳回</b>（{reason}）— {who}，{time}").format(
                reason=reason,
                who=escape(card.decided_by or ""),
                time=timefmt.minute(card.decided_at),
            )
        )
    return "\n".join(lines)


def review_keyboard(application_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✅ 通过"),
                    callback_data=ReviewCb(action="approve", app=application_id).pack(),
                ),
                InlineKeyboardButton(
                    text=_("❌ 驳回"),
                    callback_data=ReviewCb(action="reject", app=application_id).pack(),
                ),
            ],
            [
                InlineKeyboardButton(
                    text=_("🏢 更改单位"),
                    callback_data=ReviewCb(action="employer", app=application_id).pack(),
                )
            ],
        ]
    )


@dataclass(frozen=True)
class EmployerChoice:
    id: int
    name: str
    member_count: int
    provisional: bool
    confirmed: bool


def employer_choice_label(choice: EmployerChoice) -> str:
    """Name and count; enterprises made from workers' text are marked, so staff know what
    they pick (picking one confirms it, and workers are offered it from then on)."""
    mark = ""
    if choice.provisional:
        mark = _("·临时") if choice.confirmed else _("·临时，未确认")
    return f"{mask_numbers(choice.name)[:44]}{mark}（{choice.member_count}）"


def employer_choices(application_id: int, choices: list[EmployerChoice]) -> InlineKeyboardMarkup:
    """Buttons for staff to pick the right employer from."""
    rows = [
        [
            InlineKeyboardButton(
                text=employer_choice_label(choice),
                callback_data=EmployerCb(app=application_id, enterprise=choice.id).pack(),
            )
        ]
        for choice in choices
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def reason_keyboard(application_id: int) -> InlineKeyboardMarkup:
    def button(reason: str) -> InlineKeyboardButton:
        data = ReviewCb(action="reason", app=application_id, reason=reason).pack()
        return InlineKeyboardButton(text=reason_label(reason), callback_data=data)

    back = ReviewCb(action="back", app=application_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button("incomplete"), button("outside_area")],
            [button("duplicate"), button("other")],
            [InlineKeyboardButton(text=_("↩️ 返回"), callback_data=back)],
        ]
    )
