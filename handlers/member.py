"""Commands for anyone in a private chat: /status, /card, /cancel, /help, /lang."""

from __future__ import annotations

from html import escape

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
)

from bot.callbacks import FormCb
from bot.i18n import CatalogI18n
from bot.i18n import translate as _
from bot.services.cards import CardService
from bot.services.intake import IntakeService
from bot.services.preferences import PreferenceService
from bot.services.service_cards import ServiceCardService
from bot.services.service_levels import ServiceLevels
from bot.views.privacy import status_label
from bot.views.review import reason_label, reason_with_note
from bot.views.service import promise_text
from bot.views.worker import four_ones_text
from handlers import texts
from handlers.buttons import forged, pressed_on
from handlers.filters import PRIVATE
from handlers.registry import Handlers

router = Handlers("member")
router.filter("message", PRIVATE)


@router.message(Command("status"))
async def status(
    message: Message,
    intake: IntakeService,
    service_levels: ServiceLevels,
    service_cards: ServiceCardService,
) -> None:
    if message.from_user is None:
        return
    user_id = message.from_user.id
    membership = await intake.membership_of(user_id)
    applications = await intake.applications_of(user_id)
    if membership is None and not applications:
        await message.answer(_("您还没有提交过入会申请。发送 /start 开始申请。"))
        return
    lines = []
    if membership is not None:
        lines += [
            _("🪪 会员编号：{number}\n所属工会：{union}\n入会日期：{date}").format(
                number=membership.number,
                union=escape(membership.union_name),
                date=texts.when(membership.joined_at)[:10],
            ),
            *(
                _("🔄 {date} 会籍由{source}转入{target}").format(
                    date=texts.when(event.at)[:10],
                    source=escape(event.from_union or "—"),
                    target=escape(event.to_union or "—"),
                )
                for event in membership.history
                if event.from_union != event.to_union
            ),
            *(
                [_("🏠 自 {date} 起保留会籍；找到新工作后发送 /transfer 办理接转。").format(
                    date=texts.when(membership.kept_since)[:10]
                )]
                if membership.kept_since
                else []
            ),
            "",
            four_ones_text(await service_cards.four_ones(membership.member_id)),
            "",
        ]
    for application in applications:
        line = _("申请 {number}（{time} 提交）：{status}").format(
            number=application.number,
            time=texts.when(application.submitted_at),
            status=status_label(application.status),
        )
        if application.status == "rejected":
            why = reason_label(application.reject_reason)
            if application.reject_note:
                why = reason_with_note(why, application.reject_note)
            line += _("，原因：{why}").format(why=why)
        if application.status == "submitted":  # what the street promised, and its contact
            promise = await service_levels.promise(application.street_id, application.submitted_at)
            line += "\n" + promise_text(promise)
        lines.append(line)
    await message.answer("\n".join(lines))


@router.message(Command("card"))
async def card(message: Message, cards: CardService) -> None:
    if message.from_user is None:
        return
    if await cards.resend(message.from_user.id):
        await message.answer(_("正在为您生成电子会员卡，请稍候……"))
    else:
        await message.answer(_("您还不是会员，暂无会员卡。发送 /status 查看申请进度。"))


@router.message(Command("cancel"))
async def cancel(message: Message, state: FSMContext) -> None:
    had_form = await state.get_state() is not None
    assisted = bool((await state.get_data()).get("assisted_by"))  # staff typing a paper form
    await state.clear()
    if had_form:
        await message.answer(
            texts.cancelled_text(assisted=assisted), reply_markup=ReplyKeyboardRemove()
        )
    else:
        await message.answer(_("当前没有正在填写的内容。"))


@router.message(Command("help"))
async def help_command(message: Message) -> None:
    await message.answer(help_text())


def help_text() -> str:
    return _(
        "我是工会入会助手，可以帮您在线申请加入工会（单体入会）。\n\n"
        "/start — 开始申请（扫描受理点二维码也可以）\n"
        "/status — 查看申请进度和会员服务\n"
        "/card — 领取电子会员卡\n"
        "/cancel — 放弃正在填写的申请\n"
        "/servicecard — 申领会员服务卡（京卡）\n"
        "/benefits — 领取普惠服务\n"
        "/activities — 报名工会活动、出示签到码\n"
        "/notify — 开启或关闭活动通知\n"
        "/transfer — 换了工作或失业、退休时办理会籍接转或保留会籍\n"
        "/lang — 切换语言 / Language\n"
        "/mydata — 查看我的个人信息\n"
        "/delete — 删除我的个人信息\n"
        "/help — 显示本帮助"
    )


@router.message(Command("lang"))
async def lang(message: Message) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="中文", callback_data=FormCb(action="lang", value="zh").pack()
                ),
                InlineKeyboardButton(
                    text="English", callback_data=FormCb(action="lang", value="en").pack()
                ),
            ]
        ]
    )
    await message.answer(_("请选择语言 / Choose your language:"), reply_markup=keyboard)


@router.callback_query(FormCb.filter(F.action == "lang"))
async def lang_chosen(
    query: CallbackQuery, callback_data: FormCb, preferences: PreferenceService, i18n: CatalogI18n
) -> None:
    if callback_data.value not in i18n.available_locales:
        await query.answer(_("无法识别的操作。"), show_alert=True)
        return
    chooser = pressed_on(query)
    if forged(query) or chooser is None:  # only from the /lang message: it is replaced
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    await preferences.set_locale(query.from_user.id, callback_data.value)
    with i18n.use_locale(callback_data.value):
        await query.answer(_("语言已切换为中文。"))
        await chooser.edit_text(_("语言已切换为中文。"))
