"""/start: QR deep links to reception points, the online channel, and card verification."""

from __future__ import annotations

import re
from html import escape

from aiogram import F
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import timefmt
from bot.callbacks import FormCb
from bot.i18n import translate as _
from bot.services.cards import CardService
from bot.services.errors import NotFound
from bot.services.intake import IntakeService
from handlers import form, texts
from handlers.filters import PRIVATE
from handlers.registry import Handlers
from handlers.states import Form

router = Handlers("start")
router.filter("message", PRIVATE)

# Telegram allows 1–64 characters of [A-Za-z0-9_-] in a start parameter.
PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@router.message(CommandStart(deep_link=True, magic=F.args.startswith("v_")))
async def verify_card(message: Message, command: CommandObject, cards: CardService) -> None:
    facts = await cards.verify((command.args or "")[2:])
    if facts is None:
        await message.answer(_("❌ 无法验证：这不是有效的会员卡二维码。"))
    elif not facts.active:
        await message.answer(
            _("⚠️ 会员卡 {number} 已失效（会籍已转移或终止）。").format(number=facts.member_number)
        )
    else:
        text = _("✅ 有效会员卡\n会员编号：{number}\n所属工会：{union}\n入会日期：{date}").format(
            number=facts.member_number,
            union=escape(facts.union_name),
            date=timefmt.day(facts.joined_at),
        )
        if facts.moved_from and facts.moved_at:
            # An older card names the union the membership left: say where it went.
            text += "\n" + _(
                "会籍已于 {date} 由{source}转入{union}；卡面工会名称与此不同的，以此为准。"
            ).format(
                date=timefmt.day(facts.moved_at),
                source=escape(facts.moved_from),
                union=escape(facts.union_name),
            )
        await message.answer(text)


@router.message(CommandStart(deep_link=True, magic=F.args.startswith("c_")))
async def claim(message: Message, command: CommandObject, intake: IntakeService) -> None:
    """A worker scans the code staff printed for their paper application."""
    if message.from_user is None:
        return
    try:
        claimed = await intake.claim((command.args or "")[2:], message.from_user.id)
    except NotFound:
        await message.answer(_("这个关联码无效或已被使用。如有疑问，请联系街道总工会工作人员。"))
        return
    if claimed.member_number:
        text = _(
            "已关联您的入会申请 {number}：您已是会员（会员编号 {member}），电子会员卡随后发送。"
        )
    elif claimed.status == "submitted":
        text = _("已关联您的入会申请 {number}，正在审核中，结果会在这里通知您。")
    else:
        text = _("已关联您的入会申请 {number}。发送 /status 查看详情。")
    await message.answer(text.format(number=claimed.number, member=claimed.member_number))


@router.message(CommandStart())
async def start(
    message: Message, command: CommandObject, state: FSMContext, intake: IntakeService
) -> None:
    user = message.from_user
    if user is None:
        return
    member_number, pending_number = await intake.standing_of(user.id)
    if member_number is not None:
        await state.clear()
        await message.answer(
            _("您已经是工会会员了（会员编号 {number}）。发送 /card 可查看电子会员卡。").format(
                number=member_number
            )
        )
        return
    if pending_number is not None:
        await state.clear()
        await message.answer(
            _("您的申请 {number} 正在审核中，请耐心等待。发送 /status 可查看进度。").format(
                number=pending_number
            )
        )
        return
    payload = command.args or ""
    if payload:
        point = await intake.point_by_code(payload) if PAYLOAD.match(payload) else None
        if point is not None:
            await form.begin(
                message,
                state,
                point.street_id,
                point.street_name,
                (point.id, point.name) if point.id else None,
            )
            return
        await message.answer(
            _("这个二维码已失效或无法识别。您仍可以在线申请，请选择您工作单位所在的街道：")
        )
    else:
        await message.answer(_("欢迎在线申请加入工会！请选择您工作单位所在的街道："))
    await _offer_streets(message, state, intake)


async def _offer_streets(message: Message, state: FSMContext, intake: IntakeService) -> None:
    await state.clear()
    await state.set_state(Form.street)
    streets = [(s.id, s.name) for s in await intake.streets()]
    await message.answer(_("街道列表："), reply_markup=texts.street_keyboard(streets))


@router.callback_query(Form.street, FormCb.filter(F.action == "street"))
async def street_picked(
    query: CallbackQuery, callback_data: FormCb, state: FSMContext, intake: IntakeService
) -> None:
    try:
        street = await intake.street(int(callback_data.value))
    except (ValueError, NotFound):
        await query.answer(_("无法识别的街道，请重新选择。"), show_alert=True)
        return
    if (message := await form.step_message(query)) is None:
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    await form.begin(message, state, street.id, street.name, None)
