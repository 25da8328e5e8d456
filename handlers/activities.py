"""Activities in the chats. Members: /activities (sign up, cancel, the check-in QR) and
/notify on|off. Staff: /newactivity (a short guided dialogue in a private chat), /activity
[N] (their activities, who came, closing one), and scanning a member's check-in QR, which
opens the bot with start=a_<code>."""

from __future__ import annotations

import asyncio
from datetime import datetime
from html import escape

from aiogram import F
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot import timefmt
from bot.activity_input import TimeFormatError, parse_moment, parse_span
from bot.callbacks import ActivityCb, NewActivityCb
from bot.i18n import translate as _
from bot.render.qr import render_claim_qr
from bot.services.activities import (
    ActivityDraft,
    ActivityRefused,
    ActivityService,
    validate,
)
from bot.services.errors import NotAllowed
from bot.views import activity as view
from handlers import texts
from handlers.buttons import pressed_on
from handlers.filters import PRIVATE, PlainText
from handlers.registry import Handlers
from handlers.review import actor_of
from handlers.service_card import need_label
from handlers.states import CallOff, NewActivity
from models.base import utcnow
from models.service_card import NEEDS

router = Handlers("activities")


def _not_staff() -> str:
    return _("只有街道总工会或区总工会的工作人员可以管理活动。")


# ---------------------------------------------------------------------------- members


@router.message(Command("activities"), PRIVATE)
async def list_mine(message: Message, activities: ActivityService) -> None:
    if message.from_user is None:
        return
    try:
        offered = await activities.for_member(message.from_user.id)
    except ActivityRefused as error:
        await message.answer(view.refusal_text(error))
        return
    if not offered:
        await message.answer(_("目前没有可以报名的活动，有新活动时会通知您。"))
        return
    shown = offered[: view.SHOWN]
    await message.answer(
        "\n\n".join(view.activity_text(a) for a in shown), reply_markup=view.member_keyboard(shown)
    )


@router.callback_query(ActivityCb.filter(F.action.in_({"join", "cancel", "code"})), PRIVATE)
async def member_press(
    query: CallbackQuery, callback_data: ActivityCb, activities: ActivityService
) -> None:
    user, activity_id = query.from_user.id, callback_data.activity
    try:
        if callback_data.action == "join":
            outcome = await activities.sign_up(user, activity_id)
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.answer(view.signed_up_text(outcome.status, outcome.position))
            return
        if callback_data.action == "cancel":
            await activities.cancel(user, activity_id)
            await query.answer(_("已取消报名。"), show_alert=True)
            return
    except ActivityRefused as error:
        await query.answer(view.refusal_text(error), show_alert=True)
        return
    await _send_code(query, activities, activity_id)


async def _send_code(query: CallbackQuery, activities: ActivityService, activity_id: int) -> None:
    mine = [a for a in await _mine(query, activities) if a.id == activity_id]
    if not mine or mine[0].mine != "confirmed" or mine[0].signup_id is None:
        await query.answer(view.refusal_text(ActivityRefused("not_signed_up")), show_alert=True)
        return
    await query.answer()
    if not isinstance(query.message, Message) or query.bot is None:
        return
    me = await query.bot.me()
    token = activities.check_in_token(mine[0].signup_id)
    png = await asyncio.to_thread(render_claim_qr, f"https://t.me/{me.username}?start=a_{token}")
    await query.message.answer_photo(
        BufferedInputFile(png, filename=f"activity-{activity_id}.png"),
        caption=_("“{title}”的签到码：入场时请出示给工作人员扫码。").format(title=mine[0].title),
    )


async def _mine(query: CallbackQuery, activities: ActivityService) -> list:  # type: ignore[type-arg]
    try:
        return await activities.for_member(query.from_user.id)
    except ActivityRefused:
        return []


@router.message(Command("notify"), PRIVATE)
async def notify(message: Message, command: CommandObject, activities: ActivityService) -> None:
    if message.from_user is None:
        return
    choice = (command.args or "").strip().lower()
    if choice not in ("on", "off"):
        on = await activities.announcements_on(message.from_user.id)
        state = _("开启") if on else _("关闭")
        await message.answer(
            _("活动和普惠服务的通知目前为{state}。发送 /notify off 关闭，/notify on 开启。").format(
                state=state
            )
        )
        return
    await activities.set_announcements(message.from_user.id, choice == "on")
    await message.answer(
        _("✅ 已开启活动和普惠服务的通知。")
        if choice == "on"
        else _("✅ 已关闭活动和普惠服务的通知。您仍会收到已报名活动的提醒。")
    )


# ---------------------------------------------------------------------------- the door


@router.message(CommandStart(deep_link=True, magic=F.args.startswith("a_")))
async def check_in(message: Message, command: CommandObject, activities: ActivityService) -> None:
    if message.from_user is None:
        return
    try:
        done = await activities.check_in((command.args or "")[2:], actor_of(message.from_user))
    except NotAllowed:
        await message.answer(_("只有活动所在街道总工会或区总工会的工作人员可以签到。"))
        return
    except ActivityRefused as error:
        await message.answer(view.refusal_text(error))
        return
    await message.answer(
        _("✅ 签到成功：{name}（{number}），{activity}").format(
            name=escape(done.name),
            number=done.member_number,
            activity=escape(done.activity),
        )
    )


# ---------------------------------------------------------------------------- staff


@router.message(Command("activity"))
async def staff_list(message: Message, command: CommandObject, activities: ActivityService) -> None:
    if message.from_user is None:
        return
    actor = actor_of(message.from_user)
    args = (command.args or "").strip().lstrip("#")
    try:
        if not args:
            await message.answer(view.staff_list_text(await activities.for_staff(actor)))
            return
        if not args.isdigit() or not 0 < int(args) < 2**63:
            await message.answer(_("用法：/activity 编号，例如 /activity 3"))
            return
        shown, people = await activities.attendance(int(args), actor)
    except NotAllowed:
        await message.answer(_not_staff())
        return
    except ActivityRefused as error:
        await message.answer(view.refusal_text(error))
        return
    await message.answer(
        view.attendance_text(shown, people), reply_markup=view.attendance_keyboard(shown)
    )


@router.callback_query(ActivityCb.filter(F.action == "off"))
async def call_off_asked(
    query: CallbackQuery, callback_data: ActivityCb, state: FSMContext,
    activities: ActivityService,
) -> None:  # fmt: skip
    message = pressed_on(query)
    try:
        await activities.attendance(callback_data.activity, actor_of(query.from_user))
    except NotAllowed:
        await query.answer(_not_staff(), show_alert=True)
        return
    except ActivityRefused as error:
        await query.answer(view.refusal_text(error), show_alert=True)
        return
    await query.answer()
    if message is None:
        return
    await state.set_state(CallOff.reason)
    await state.update_data(activity=callback_data.activity)
    await message.answer(
        _("{who}，请回复这条消息，说明取消活动 #{id} 的原因（会记入审计日志）。"
          "发送 /cancel 放弃。").format(who=query.from_user.mention_html(),
                                     id=callback_data.activity),
        reply_markup=ForceReply(selective=True),
    )  # fmt: skip


@router.message(Command("cancel"), StateFilter(CallOff))
async def call_off_dropped(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("好的，活动照常进行。"))


@router.message(CallOff.reason, PlainText())
async def call_off(message: Message, state: FSMContext, activities: ActivityService) -> None:
    if message.from_user is None:
        return
    activity_id = int((await state.get_data())["activity"])
    await state.clear()
    try:
        told = await activities.call_off(
            activity_id, actor_of(message.from_user), (message.text or "")[:200]
        )
    except NotAllowed:
        await message.answer(_not_staff())
        return
    except ActivityRefused as error:
        await message.answer(view.refusal_text(error))
        return
    await message.answer(
        _("活动 #{id} 已取消，正在通知已报名和候补的 {n} 位会员。").format(id=activity_id, n=told)
    )


@router.callback_query(ActivityCb.filter(F.action.in_({"who", "close"})))
async def staff_press(
    query: CallbackQuery, callback_data: ActivityCb, activities: ActivityService
) -> None:
    actor = actor_of(query.from_user)
    message = pressed_on(query)
    try:
        if callback_data.action == "close":
            came = await activities.close(callback_data.activity, actor)
            await query.answer(_("活动已结束，{n} 人签到。").format(n=came), show_alert=True)
        shown, people = await activities.attendance(callback_data.activity, actor)
    except NotAllowed:
        await query.answer(_not_staff(), show_alert=True)
        return
    except ActivityRefused as error:
        await query.answer(view.refusal_text(error), show_alert=True)
        return
    if callback_data.action == "who":
        await query.answer()
    if message is not None:
        await message.edit_text(
            view.attendance_text(shown, people), reply_markup=view.attendance_keyboard(shown)
        )


# ---------------------------------------------------------------------------- creating one


@router.message(Command("newactivity"), PRIVATE)
async def new_activity(message: Message, state: FSMContext, activities: ActivityService) -> None:
    if message.from_user is None:
        return
    try:
        street_id = await activities.street_of(actor_of(message.from_user))
    except NotAllowed:
        await message.answer(_not_staff())
        return
    await state.clear()
    await state.set_state(NewActivity.title)
    await state.update_data(street_id=street_id)
    scope = _("本街道会员") if street_id is not None else _("全区会员")
    await message.answer(
        _("创建一个面向{scope}的工会活动（随时发送 /cancel 放弃）。\n\n请输入活动名称：").format(
            scope=scope
        )
    )


@router.message(Command("cancel"), StateFilter(NewActivity), PRIVATE)
async def give_up(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("已放弃创建活动。"))


@router.message(NewActivity.title, PlainText())
async def typed_title(message: Message, state: FSMContext) -> None:
    title = (message.text or "").strip()
    if not 0 < len(title) <= 60:
        await message.answer(_("活动名称需要 1 到 60 个字，请重新输入："))
        return
    await state.update_data(title=title)
    await state.set_state(NewActivity.place)
    await message.answer(_("活动地点："))


@router.message(NewActivity.place, PlainText())
async def typed_place(message: Message, state: FSMContext) -> None:
    place = (message.text or "").strip()
    if not 0 < len(place) <= 100:
        await message.answer(_("活动地点需要 1 到 100 个字，请重新输入："))
        return
    await state.update_data(place=place)
    await state.set_state(NewActivity.when)
    await message.answer(_("活动时间（北京时间），例如 2026-12-20 14:00-16:00："))


@router.message(NewActivity.when, PlainText())
async def typed_when(message: Message, state: FSMContext) -> None:
    try:
        start, end = parse_span(message.text or "")
    except TimeFormatError:
        await message.answer(_("没看懂这个时间。请按 2026-12-20 14:00-16:00 的格式输入："))
        return
    if start <= utcnow():
        await message.answer(_("活动时间需要在将来，请重新输入："))
        return
    await state.update_data(starts_at=start.isoformat(), ends_at=end.isoformat())
    await state.set_state(NewActivity.capacity)
    await message.answer(_("名额（人数）："))


@router.message(NewActivity.capacity, PlainText())
async def typed_capacity(message: Message, state: FSMContext) -> None:
    text = (message.text or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        await message.answer(_("名额请输入 1 到 10000 之间的整数："))
        return
    await state.update_data(capacity=int(text))
    await state.set_state(NewActivity.deadline)
    button = InlineKeyboardButton(
        text=_("活动开始时截止"), callback_data=NewActivityCb(action="at_start").pack()
    )
    await message.answer(
        _("报名截止时间，例如 2026-12-19 18:00，或按下面的按钮："),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )


@router.message(NewActivity.deadline, PlainText())
async def typed_deadline(message: Message, state: FSMContext) -> None:
    try:
        deadline = parse_moment(message.text or "")
    except TimeFormatError:
        await message.answer(_("没看懂这个时间。请按 2026-12-19 18:00 的格式输入："))
        return
    await _summary(message, state, deadline)


@router.callback_query(NewActivity.deadline, NewActivityCb.filter(F.action == "at_start"))
async def deadline_at_start(query: CallbackQuery, state: FSMContext) -> None:
    message = pressed_on(query)
    if message is None:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    data = await state.get_data()
    await _summary(message, state, datetime.fromisoformat(data["starts_at"]))


async def _summary(message: Message, state: FSMContext, deadline: datetime) -> None:
    """The deadline is checked with the rest; then: for every member, or one need."""
    await state.update_data(deadline=deadline.isoformat())
    try:
        validate(_draft(await state.get_data()), utcnow())
    except ActivityRefused as error:
        await message.answer(view.refusal_text(error) + "\n" + _("请重新输入报名截止时间："))
        return
    await state.set_state(NewActivity.audience)
    choices = [("", _("所有会员"))] + [(need, need_label(need)) for need in NEEDS]
    buttons = [
        InlineKeyboardButton(text=label, callback_data=NewActivityCb(action="for", value=v).pack())
        for v, label in choices
    ]
    rows = [buttons[start : start + 3] for start in range(0, len(buttons), 3)]
    await message.answer(
        _("通知哪些会员？可以只通知在需求调查中选了某一项的会员（以及还没有填写调查的会员）。"),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


@router.callback_query(NewActivity.audience, NewActivityCb.filter(F.action == "for"))
async def audience_chosen(
    query: CallbackQuery, callback_data: NewActivityCb, state: FSMContext
) -> None:
    message = pressed_on(query)
    if message is None or (callback_data.value and callback_data.value not in NEEDS):
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    await state.update_data(need=callback_data.value or None)
    draft = _draft(await state.get_data())
    await state.set_state(NewActivity.confirm)
    buttons = [
        InlineKeyboardButton(text=_("发布"), callback_data=NewActivityCb(action="publish").pack()),
        InlineKeyboardButton(text=_("放弃"), callback_data=NewActivityCb(action="drop").pack()),
    ]
    audience = need_label(draft.need) if draft.need else _("所有会员")
    await message.answer(
        _("请确认：\n{title}\n地点：{place}\n时间：{start}\n名额：{capacity}\n报名截止：{deadline}\n"
          "通知：{audience}\n\n发布后会通知面向的会员（关闭了通知的除外）。").format(
            title=escape(draft.title), place=escape(draft.place),
            start=timefmt.minute(draft.starts_at), capacity=draft.capacity,
            deadline=timefmt.minute(draft.signup_deadline), audience=audience,
        ),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]),
    )  # fmt: skip


@router.callback_query(NewActivity.confirm, NewActivityCb.filter(F.action.in_({"publish", "drop"})))
async def publish(
    query: CallbackQuery, callback_data: NewActivityCb, state: FSMContext,
    activities: ActivityService,
) -> None:  # fmt: skip
    message = pressed_on(query)
    if message is None:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    data = await state.get_data()
    await state.clear()
    await message.edit_reply_markup(reply_markup=None)
    if callback_data.action == "drop":
        await query.answer(_("已放弃。"))
        return
    try:
        activity_id = await activities.create(_draft(data), actor_of(query.from_user))
    except NotAllowed:
        await query.answer(_not_staff(), show_alert=True)
        return
    except ActivityRefused as error:
        await query.answer()
        await message.answer(view.refusal_text(error) + "\n" + _("发送 /newactivity 重新创建。"))
        return
    await query.answer()
    await message.answer(
        _("✅ 活动 #{id} 已发布，正在通知会员。发送 /activity {id} 查看报名和签到。").format(
            id=activity_id
        )
    )


def _draft(data: dict) -> ActivityDraft:  # type: ignore[type-arg]
    return ActivityDraft(
        title=data["title"], place=data["place"],
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]),
        signup_deadline=datetime.fromisoformat(data["deadline"]),
        capacity=int(data["capacity"]), street_id=data.get("street_id"),
        need=data.get("need"),
    )  # fmt: skip
