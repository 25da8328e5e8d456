"""Benefit services as members read them: a catalogue line and the announcement."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import BenefitCb
from bot.i18n import translate as _
from bot.services.benefits import BenefitView


def benefit_line(benefit: BenefitView) -> str:
    scope = escape(benefit.street) if benefit.street else _("全区")
    text = _("🎁 <b>{title}</b>（{provider}，{scope}，剩余 {left} 个名额，{to} 截止）").format(
        title=escape(benefit.title), provider=escape(benefit.provider), scope=scope,
        left=benefit.left, to=benefit.valid_to.isoformat(),
    )  # fmt: skip
    if benefit.description:
        text += "\n" + escape(benefit.description)
    if benefit.redeemed_at:
        text += "\n" + _("✅ 已使用")
    elif benefit.claim_id:
        text += "\n" + _("已领取，使用时请出示核销码")
    return text


def announcement_text(benefit: BenefitView) -> str:
    return (
        _("🎁 新的普惠服务")
        + "\n\n"
        + benefit_line(benefit)
        + "\n\n"
        + _("发送 /benefits 查看和领取。发送 /notify off 可不再接收通知。")
    )


def claim_keyboard(benefit_id: int) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=_("领取"), callback_data=BenefitCb(action="claim", benefit=benefit_id).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])
