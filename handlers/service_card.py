"""/servicecard: a member asks for the member service card (会员服务卡) and answers the
needs survey once; the command shows where the card is."""

from __future__ import annotations

from html import escape

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import CardCb
from bot.i18n import translate as _
from bot.services.service_cards import CardSituation, ServiceCardRefused, ServiceCardService
from handlers import texts
from handlers.buttons import pressed_on
from handlers.filters import PRIVATE
from handlers.registry import Handlers
from handlers.states import ServiceCard
from models.service_card import NEEDS

router = Handlers("service_card")
router.filter("message", PRIVATE)
router.filter("callback_query", PRIVATE)


def need_label(need: str) -> str:
    labels = {
        "legal_aid": _("法律援助"), "skills": _("技能培训"), "health_check": _("健康体检"),
        "sports_culture": _("文体活动"), "childcare": _("子女托管"), "counselling": _("心理咨询"),
        "hardship": _("困难帮扶"), "housing": _("住房保障"), "other": _("其他"),
    }  # fmt: skip
    return labels[need]


def _state_text(card: CardSituation) -> str:
    states = {
        "requested": _("已申领，等待街道总工会报送市总工会制卡。"),
        "batched": _("已报送市总工会制卡。"),
        "sent": _("正在制卡。"),
        "arrived": _("已到达{street}工会服务站，请携带身份证领取。").format(
            street=escape(card.street)
        ),
        "collected": _("已领取。"),
    }
    return _("🪪 会员服务卡（京卡）：{state}").format(state=states.get(card.status or "", ""))


def _survey_keyboard(chosen: set[str]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=("✅ " if need in chosen else "▫️ ") + need_label(need),
                callback_data=CardCb(action="need", value=need).pack(),
            )
        ]
        for need in NEEDS
    ]
    rows.append([InlineKeyboardButton(text=_("完成"), callback_data=CardCb(action="done").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("servicecard"))
async def service_card(message: Message, service_cards: ServiceCardService) -> None:
    if message.from_user is None:
        return
    try:
        card = await service_cards.situation(message.from_user.id)
    except ServiceCardRefused:
        await message.answer(_("会员服务卡只发给工会会员。发送 /start 申请入会。"))
        return
    if card.status is not None:
        await message.answer(_state_text(card))
        return
    button = InlineKeyboardButton(
        text=_("申领会员服务卡"), callback_data=CardCb(action="ask").pack()
    )
    await message.answer(
        _(
            "会员服务卡（京卡）由北京市总工会制发，可享受普惠服务。申领后由街道总工会统一报送，"
            "制好后请到工会服务站领取。"
        ),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )


@router.callback_query(CardCb.filter(F.action == "ask"))
async def asked(
    query: CallbackQuery, state: FSMContext, service_cards: ServiceCardService
) -> None:
    message = pressed_on(query)
    if message is None:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    try:
        card = await service_cards.request(query.from_user.id)
    except ServiceCardRefused:
        await query.answer(_("会员服务卡只发给工会会员。"), show_alert=True)
        return
    await query.answer(_("已申领"))
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(_state_text(card))
    if card.surveyed:
        return
    await state.set_state(ServiceCard.survey)
    await state.set_data({"needs": []})
    await message.answer(
        _("为了更好地为您服务，请选择您需要的服务（可多选），选好后点“完成”："),
        reply_markup=_survey_keyboard(set()),
    )


@router.callback_query(ServiceCard.survey, CardCb.filter(F.action == "need"))
async def need_ticked(query: CallbackQuery, callback_data: CardCb, state: FSMContext) -> None:
    message = pressed_on(query)
    if message is None or callback_data.value not in NEEDS:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    chosen = set((await state.get_data()).get("needs") or [])
    chosen ^= {callback_data.value}
    await state.update_data(needs=sorted(chosen))
    await query.answer()
    await message.edit_reply_markup(reply_markup=_survey_keyboard(chosen))


@router.callback_query(ServiceCard.survey, CardCb.filter(F.action == "done"))
async def survey_done(
    query: CallbackQuery, state: FSMContext, service_cards: ServiceCardService
) -> None:
    message = pressed_on(query)
    if message is None:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    needs = list((await state.get_data()).get("needs") or [])
    await state.clear()
    try:
        await service_cards.answer_survey(query.from_user.id, needs)
    except ServiceCardRefused:
        await query.answer(_("您已经填写过了，谢谢。"))
        return
    await query.answer(_("谢谢！"))
    await message.edit_reply_markup(reply_markup=None)
    chosen = _("、").join(need_label(n) for n in NEEDS if n in needs) or _("暂无")
    await message.answer(_("已记录您的需求：{needs}。谢谢！").format(needs=chosen))


@router.callback_query(CardCb.filter())
async def stale(query: CallbackQuery) -> None:
    await query.answer(_("这个按钮已失效，请发送 /servicecard 重新开始。"), show_alert=True)
