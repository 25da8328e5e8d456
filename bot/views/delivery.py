"""Telling staff that a message could not be delivered."""

from __future__ import annotations

from html import escape

from bot.i18n import translate as _


def kind_label(kind: str) -> str:
    labels = {
        "application_received": _("申请已受理的通知"),
        "approved": _("审核通过的通知"),
        "member_card": _("电子会员卡"),
        "rejected": _("未通过审核的通知"),
        "reply": _("机器人的回复"),
        "review_card": _("新申请的审核卡片"),
        "review_card_edit": _("审核卡片的更新"),
        "threshold_alert": _("建会提示"),
        "alert_followed_edit": _("建会提示的更新"),
        "alias_proposal": _("别名建议"),
        "alias_proposal_edit": _("别名建议的更新"),
    }
    return labels.get(kind, kind)


def reason_label(reason: str) -> str:
    labels = {
        "blocked": _("对方已停用或屏蔽机器人，或机器人已不在该群"),
        "render": _("会员卡上有无法显示的字"),
        "refused": _("Telegram 拒绝了这条消息"),
        "network": _("多次尝试后仍无法送达"),
    }
    return labels.get(reason, reason)


def to_street_text(kind: str, reason: str, application_number: str | None) -> str:
    return _(
        "⚠️ 未能向申请人（申请 {number}）发送{what}。\n原因：{why}。\n"
        "请通过电话等其他方式联系申请人。"
    ).format(
        number=escape(application_number or "?"), what=kind_label(kind), why=reason_label(reason)
    )


def to_federation_text(kind: str, reason: str, chat_id: int) -> str:
    return _(
        "⚠️ 未能在群组 {chat} 中发送{what}。\n原因：{why}。\n"
        "请确认机器人仍在该群中，必要时重新绑定。"
    ).format(chat=chat_id, what=kind_label(kind), why=reason_label(reason))
