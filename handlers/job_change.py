"""/transfer: a member with a new job asks the new workplace's union to take their
membership; one out of work or retired keeps it (保留会籍). The review card of a request
in the street's review group accepts or declines it."""

from __future__ import annotations

from html import escape

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import JobCb
from bot.i18n import translate as _
from bot.services.enterprises import EnterpriseService
from bot.services.errors import NotAllowed, NotFound
from bot.services.job_changes import JobChangeRefused, JobChangeService
from bot.services.outbox import CardRef
from bot.validation import EMPLOYER_MAX_LEN, ValidationError, validate_employer
from bot.views import job_change as view
from handlers import texts
from handlers.buttons import forged, pressed_on
from handlers.filters import PRIVATE, TEXT
from handlers.registry import Handlers
from handlers.review import actor_of
from handlers.states import JobChange

router = Handlers("job_change")


# ---------------------------------------------------------------------------- the member


@router.message(Command("transfer"), PRIVATE)
async def start(message: Message, state: FSMContext, job_changes: JobChangeService) -> None:
    if message.from_user is None:
        return
    try:
        situation = await job_changes.situation(message.from_user.id)
    except JobChangeRefused as error:
        await message.answer(view.refusal_text(error))
        return
    if situation.pending is not None:
        await message.answer(view.refusal_text(JobChangeRefused("pending")))
        return
    await state.clear()
    await state.set_state(JobChange.choice)
    kept = _("\n您的会籍目前处于保留状态。") if situation.kept_since is not None else ""
    await message.answer(
        _("您的会籍在{union}（单位：{enterprise}）。{kept}\n请问发生了什么变化？").format(
            union=escape(situation.union), enterprise=escape(situation.enterprise), kept=kept
        ),
        reply_markup=view.choice_keyboard(),
    )


@router.callback_query(JobChange.choice, JobCb.filter(F.action.in_({"new", "keep"})))
async def chosen(query: CallbackQuery, callback_data: JobCb, state: FSMContext) -> None:
    message = pressed_on(query)
    if message is None:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    if callback_data.action == "new":
        await state.set_state(JobChange.employer)
        await message.answer(_("请输入新工作单位的全称或统一社会信用代码："))
        return
    await state.set_state(JobChange.confirm)
    await message.answer(
        _(
            "保留会籍后，您仍是工会会员，会员卡继续有效，但不再计入任何企业的会员人数。"
            "找到新工作后，发送 /transfer 办理接转。确认保留会籍吗？"
        ),
        reply_markup=view.confirm_keyboard("kept"),
    )


@router.message(JobChange.employer, TEXT)
async def employer_typed(
    message: Message, state: FSMContext, enterprises: EnterpriseService
) -> None:
    try:
        typed = validate_employer(message.text or "", max_len=EMPLOYER_MAX_LEN)
    except ValidationError as error:
        await message.answer(texts.validation_message(error, "employer"))
        return
    if len(typed) < 2:
        await message.answer(_("单位名称太短了，请输入完整的单位名称。"))
        return
    match = await enterprises.suggest(typed, None)
    if match.uscc_invalid:
        await message.answer(texts.validation_message(ValidationError("uscc.checksum")))
        return
    await state.update_data(typed=typed, uscc=match.uscc)
    if match.auto is not None:
        chosen = next((c for c in match.candidates if c.id == match.auto), None)
        await _confirm(message, state, chosen.name if chosen else typed, match.auto)
        return
    if not match.candidates:
        await _confirm(message, state, typed, None)
        return
    await state.update_data(offered=[[c.id, c.name] for c in match.candidates])
    await message.answer(
        _("请选择您的新工作单位（如果都不是，请点“以上都不是”）："),
        reply_markup=view.pick_keyboard([(c.id, c.name) for c in match.candidates]),
    )


@router.callback_query(JobChange.employer, JobCb.filter(F.action == "pick"))
async def picked(query: CallbackQuery, callback_data: JobCb, state: FSMContext) -> None:
    data = await state.get_data()
    offered = {str(ident): name for ident, name in data.get("offered") or []}
    message = pressed_on(query)
    if message is None or (callback_data.value != "none" and callback_data.value not in offered):
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    if callback_data.value == "none":
        await _confirm(message, state, data["typed"], None)
    else:
        await _confirm(message, state, offered[callback_data.value], int(callback_data.value))


async def _confirm(message: Message, state: FSMContext, name: str, ident: int | None) -> None:
    await state.update_data(name=name, enterprise_id=ident)
    await state.set_state(JobChange.confirm)
    await message.answer(
        _("将申请把您的会籍转到新单位：{name}。由新单位所在街道的工会审核。确认提交吗？").format(
            name=escape(name)
        ),
        reply_markup=view.confirm_keyboard("send"),
    )


@router.callback_query(JobChange.confirm, JobCb.filter(F.action.in_({"send", "kept"})))
async def confirmed(
    query: CallbackQuery, callback_data: JobCb, state: FSMContext, job_changes: JobChangeService
) -> None:
    message = pressed_on(query)
    if message is None:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    data = await state.get_data()
    if (callback_data.action == "send") != ("name" in data):  # not the step that was asked
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    try:
        if callback_data.action == "kept":
            situation = await job_changes.keep(query.from_user.id)
            await message.answer(
                _("已为您保留会籍（{union}）。找到新工作后，发送 /transfer 办理接转。").format(
                    union=escape(situation.union)
                )
            )
            return
        await job_changes.request(
            query.from_user.id, data["name"], enterprise_id=data.get("enterprise_id"),
            uscc=data.get("uscc"),
        )  # fmt: skip
    except JobChangeRefused as error:
        await message.answer(view.refusal_text(error))
    except ValidationError as error:
        await message.answer(texts.validation_message(error, "employer"))


@router.callback_query(JobCb.filter(F.action == "cancel"))
async def cancelled(query: CallbackQuery, state: FSMContext) -> None:
    message = pressed_on(query)
    await query.answer()
    if message is None:
        return
    if (await state.get_state() or "").startswith("JobChange:"):
        await state.clear()
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(_("已取消，会籍没有变化。"))


@router.message(Command("cancel"), JobChange.choice)
@router.message(Command("cancel"), JobChange.employer)
@router.message(Command("cancel"), JobChange.confirm)
async def cancel_command(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("已取消，会籍没有变化。"))


# ---------------------------------------------------------------------------- reviewers


@router.callback_query(JobCb.filter(F.action.in_({"accept", "decline"})))
async def decided(
    query: CallbackQuery, callback_data: JobCb, job_changes: JobChangeService
) -> None:
    actor = actor_of(query.from_user)
    try:
        await job_changes.ensure_reviewer(callback_data.req, actor)
    except (NotAllowed, NotFound):
        await query.answer(_("只有新单位所在街道总工会的审核人员可以处理。"), show_alert=True)
        return
    card = pressed_on(query)
    if forged(query) or card is None:
        await query.answer(_("这个按钮已失效，请使用接转申请卡片上的按钮。"), show_alert=True)
        return
    try:
        result = await job_changes.decide(
            callback_data.req, actor, accept=callback_data.action == "accept",
            card=CardRef(card.chat.id, card.message_id),
        )  # fmt: skip
    except JobChangeRefused as error:
        await query.answer(view.refusal_text(error), show_alert=True)
        return
    except (NotAllowed, NotFound):
        await query.answer(_("只有新单位所在街道总工会的审核人员可以处理。"), show_alert=True)
        return
    await query.answer(_("已接收") if result.status == "accepted" else _("已标记为不接收"))
