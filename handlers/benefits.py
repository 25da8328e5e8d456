"""/benefits: what a member may claim, a claim's redemption QR, and staff scanning it
(the QR opens the bot with start=b_<code>)."""

from __future__ import annotations

import asyncio
from html import escape

from aiogram import F
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot import timefmt
from bot.callbacks import BenefitCb
from bot.i18n import translate as _
from bot.render.qr import render_claim_qr
from bot.services.benefits import BenefitRefused, BenefitService
from bot.services.errors import NotAllowed
from bot.views.benefit import benefit_line
from handlers.filters import PRIVATE
from handlers.registry import Handlers
from handlers.review import actor_of

router = Handlers("benefits")
router.filter("message", PRIVATE)
router.filter("callback_query", PRIVATE)


def refusal_text(error: BenefitRefused) -> str:
    texts = {
        "not_member": _("普惠服务只面向工会会员。发送 /start 申请入会。"),
        "unknown": _("找不到这项服务。"),
        "full": _("这项服务的名额已经领完了。"),
        "expired": _("这项服务不在有效期内。"),
        "not_yours": _("这项服务不面向您所在的街道。"),
        "had_one": _("这项服务只面向还没有享受过普惠服务的会员。"),
        "claimed": _("您已经领取过这项服务。"),
        "forged": _("❌ 无效的核销码。"),
    }
    if error.code == "redeemed":
        at = error.extra.get("at")
        return _("这个核销码已于 {time} 使用（{who}）。").format(
            time=timefmt.minute(at) if at else "?", who=escape(str(error.extra.get("by") or "?"))
        )
    return texts.get(error.code, error.code)


@router.message(Command("benefits"))
async def list_benefits(message: Message, benefits: BenefitService) -> None:
    if message.from_user is None:
        return
    try:
        offered = await benefits.for_member(message.from_user.id)
    except BenefitRefused as error:
        await message.answer(refusal_text(error))
        return
    if not offered:
        await message.answer(_("目前没有可以领取的普惠服务，有新服务时街道总工会会通知您。"))
        return
    rows = []
    for benefit in offered:
        if benefit.redeemed_at:
            continue
        action, label = ("show", _("出示核销码")) if benefit.claim_id else ("claim", _("领取"))
        data = BenefitCb(action=action, benefit=benefit.id).pack()
        text = f"{label}：{benefit.title}"[:60]
        rows.append([InlineKeyboardButton(text=text, callback_data=data)])
    await message.answer(
        "\n\n".join(benefit_line(b) for b in offered),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None,
    )


@router.callback_query(BenefitCb.filter(F.action.in_({"claim", "show"})))
async def claim(query: CallbackQuery, callback_data: BenefitCb, benefits: BenefitService) -> None:
    try:
        token = await benefits.claim(query.from_user.id, callback_data.benefit)
    except BenefitRefused as error:
        token = str(error.extra.get("token") or "") if error.code == "claimed" else ""
        if not token:
            await query.answer(refusal_text(error), show_alert=True)
            return
    await query.answer()
    if not isinstance(query.message, Message) or query.bot is None:
        return
    me = await query.bot.me()
    link = f"https://t.me/{me.username}?start=b_{token}"
    png = await asyncio.to_thread(render_claim_qr, link)
    await query.message.answer_photo(
        BufferedInputFile(png, filename=f"benefit-{callback_data.benefit}.png"),
        caption=_("您的普惠服务核销码：使用服务时请出示给工作人员扫码，只能使用一次。"),
    )


@router.message(CommandStart(deep_link=True, magic=F.args.startswith("b_")))
async def redeem(message: Message, command: CommandObject, benefits: BenefitService) -> None:
    if message.from_user is None:
        return
    try:
        done = await benefits.redeem((command.args or "")[2:], actor_of(message.from_user))
    except NotAllowed:
        await message.answer(_("只有街道总工会或区总工会的工作人员可以核销普惠服务。"))
        return
    except BenefitRefused as error:
        await message.answer(refusal_text(error))
        return
    await message.answer(
        _("✅ 已核销：{benefit}（会员 {number}）").format(
            benefit=escape(done.benefit), number=done.member_number
        )
    )
