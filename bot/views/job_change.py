"""A member's new job or kept membership: the member's messages and the review card."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.callbacks import JobCb
from bot.i18n import translate as _
from bot.pii import mask_numbers
from bot.services.job_changes import JobChangeRefused, RequestView


def card_text(request: RequestView) -> str:
    lines = [
        _("🔄 <b>会籍接转申请 #{id}</b>").format(id=request.id),
        _("会员：{name}（{number}）").format(
            name=escape(request.member_name), number=request.member_number
        ),
        _("原单位：{enterprise}{kept}").format(
            enterprise=escape(mask_numbers(request.from_enterprise)),
            kept=_("（保留会籍中）") if request.kept else "",
        ),
        _("新单位：{enterprise}{provisional}").format(
            enterprise=escape(mask_numbers(request.to_enterprise)),
            provisional=_("（尚未在企业库中登记）") if request.to_enterprise_provisional else "",
        ),
        _("会籍：{source} → {target}").format(
            source=escape(request.from_union), target=escape(request.to_union)
        ),
        _("提交时间：{time}").format(time=timefmt.minute(request.created_at)),
    ]
    if request.status in ("accepted", "declined") and request.decided_at:
        verdict = _("✅ 已接收") if request.status == "accepted" else _("❌ 未接收")
        lines.append(
            f"\n<b>{verdict}</b> — {escape(request.decided_by or '')}，"
            f"{timefmt.minute(request.decided_at)}"
        )
    return "\n".join(lines)


def card_keyboard(request: RequestView) -> InlineKeyboardMarkup | None:
    if request.status != "submitted":
        return None

    def button(text: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=JobCb(action=action, req=request.id).pack()
        )

    return InlineKeyboardMarkup(
        inline_keyboard=[[button(_("✅ 接收"), "accept"), button(_("❌ 不接收"), "decline")]]
    )


def received_text(request: RequestView) -> str:
    return _(
        "已提交会籍接转申请 #{id}：新单位 {enterprise}，由{street}总工会审核。"
        "审核结果会通过这里通知您。"
    ).format(
        id=request.id, enterprise=escape(request.to_enterprise), street=escape(request.street_name)
    )


def decided_text(request: RequestView) -> str:
    if request.status == "accepted":
        return _(
            "✅ 您的会籍已转入{union}（新单位：{enterprise}），会员编号不变。新的电子会员卡如下。"
        ).format(union=escape(request.to_union), enterprise=escape(request.to_enterprise))
    return _(
        "❌ 您的会籍接转申请 #{id} 未被接收，会籍仍在{union}。如有疑问，请联系{street}总工会。"
    ).format(id=request.id, union=escape(request.from_union), street=escape(request.street_name))


def choice_keyboard() -> InlineKeyboardMarkup:
    def button(text: str, action: str) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(text=text, callback_data=JobCb(action=action).pack())]

    return InlineKeyboardMarkup(
        inline_keyboard=[
            button(_("🏢 我换了新工作"), "new"),
            button(_("🏠 失业或退休，保留会籍"), "keep"),
            button(_("取消"), "cancel"),
        ]
    )


def pick_keyboard(candidates: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=name[:60], callback_data=JobCb(action="pick", value=str(i)).pack()
            )
        ]
        for i, name in candidates
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=_("以上都不是"), callback_data=JobCb(action="pick", value="none").pack()
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_keyboard(action: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_("确认"), callback_data=JobCb(action=action).pack()),
                InlineKeyboardButton(text=_("取消"), callback_data=JobCb(action="cancel").pack()),
            ]
        ]
    )


def refusal_text(error: JobChangeRefused) -> str:
    texts = {
        "not_member": _("您还不是工会会员。发送 /start 申请入会。"),
        "same": _("这就是您现在的工作单位，无需接转。"),
        "inactive": _("这家企业已注销或迁出，请输入新单位的名称。"),
        "kept": _("您的会籍已经在保留中。找到新工作后，发送 /transfer 办理接转。"),
        "gone": _("该会员的会籍已终止。"),
    }
    if error.code == "pending":
        return _("您已有一份会籍接转申请正在审核，请等待结果。")
    if error.code == "decided":
        verdict = _("接收") if error.extra.get("status") == "accepted" else _("处理")
        return _("这份申请已由 {who} {verdict}。").format(
            who=escape(error.extra.get("by") or "?"), verdict=verdict
        )
    return texts.get(error.code, error.code)
