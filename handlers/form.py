"""The application form in a private chat: consent, fields, review, submit. A worker fills
it in for themselves; street staff fill it in from a worker's paper form (/assist), and then
every text speaks to the staff member about the worker (handlers/texts.py)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from html import escape
from typing import Any

from aiogram import F
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message, ReplyKeyboardRemove

from bot.callbacks import FormCb
from bot.i18n import CatalogI18n
from bot.i18n import translate as _
from bot.render.fonts import FontStack
from bot.render.qr import render_claim_qr
from bot.services.enterprises import EnterpriseService
from bot.services.errors import AlreadyMember, OpenApplicationExists
from bot.services.intake import Draft, IntakeService
from bot.validation import (
    EMPLOYER_MAX_LEN,
    JOB_MAX_LEN,
    ValidationError,
    normalise_free_text,
    validate_employer,
    validate_mobile,
    validate_name,
    validate_resident_id,
)
from handlers import texts
from handlers.buttons import pressed_on
from handlers.filters import CONTACT, PRIVATE, TEXT
from handlers.registry import Handlers
from handlers.states import Form
from models.base import utcnow

router = Handlers("form")
router.filter("message", PRIVATE)
router.filter("callback_query", PRIVATE)

ORDER = ("name", "resident_id", "mobile", "employer", "job")
STATE_OF = {
    "name": Form.name,
    "resident_id": Form.resident_id,
    "mobile": Form.mobile,
    "employer": Form.employer,
    "job": Form.job,
}


async def begin(
    message: Message,
    state: FSMContext,
    street_id: int,
    street: str,
    point: tuple[int, str] | None,
    *,
    assisted_by: tuple[int, str] | None = None,
) -> None:
    """Start a fresh form at a reception point (or the online channel). With
    `assisted_by`, street staff enter a worker's paper application for them."""
    await state.clear()
    await state.set_data(
        {
            "street_id": street_id,
            "street_name": street,
            "point_id": point[0] if point else None,
            "point_name": point[1] if point else None,
            "assisted_by": list(assisted_by) if assisted_by else None,
        }
    )
    await state.set_state(Form.consent)
    if assisted_by:
        await message.answer(
            texts.paper_consent(street), reply_markup=texts.consent_keyboard(assisted=True)
        )
        return
    await message.answer(
        texts.privacy_notice(street, point[1] if point else None),
        reply_markup=texts.consent_keyboard(),
    )


async def _ask_next(
    message: Message, state: FSMContext, data: dict[str, Any], *, drop_keyboard: bool = False
) -> None:
    """Go to the first missing field, or to the summary when nothing is missing.

    `drop_keyboard` removes the share-contact keyboard, on the next question when it has
    no buttons of its own (one message instead of two).
    """
    for field in ORDER:
        if field not in data:
            await state.set_state(STATE_OF[field])
            markup: Any = ReplyKeyboardRemove() if drop_keyboard else None
            assisted = bool(data.get("assisted_by"))
            if field == "mobile" and not assisted:  # staff type the worker's number
                markup = texts.contact_keyboard()
            elif field == "job":
                markup = texts.skip_keyboard()
            if drop_keyboard and not isinstance(markup, ReplyKeyboardRemove):
                await message.answer(_("已记录手机号。"), reply_markup=ReplyKeyboardRemove())
            await message.answer(texts.ask(field, assisted=assisted), reply_markup=markup)
            return
    if drop_keyboard:
        await message.answer(_("已记录手机号。"), reply_markup=ReplyKeyboardRemove())
    await state.set_state(Form.review)
    await message.answer(texts.summary_text(data), reply_markup=texts.summary_keyboard())


async def _store(
    message: Message, state: FSMContext, *, drop_keyboard: bool = False, **values: Any
) -> None:
    data = await state.update_data(**values)
    await _ask_next(message, state, data, drop_keyboard=drop_keyboard)


async def _assisted(state: FSMContext) -> bool:
    """Is this a paper form staff are typing for a worker (the texts speak to staff)?"""
    return bool((await state.get_data()).get("assisted_by"))


async def step_message(query: CallbackQuery) -> Message | None:
    """The message whose button was pressed, the only one a step edits. None, with the
    press answered, when the data is not on it (a modified client pressing on another
    message, or a message Telegram did not send): then nothing changes."""
    message = pressed_on(query)
    if message is None:
        await query.answer(texts.use_latest_buttons(), show_alert=True)
    return message


# --- consent --------------------------------------------------------------------------
@router.callback_query(Form.consent, FormCb.filter(F.action == "consent"))
async def consent(query: CallbackQuery, state: FSMContext) -> None:
    if (message := await step_message(query)) is None:
        return
    data = await state.update_data(
        consent_at=utcnow().isoformat(), notice_version=texts.NOTICE_VERSION
    )
    await query.answer(texts.consent_recorded(assisted=bool(data.get("assisted_by"))))
    await message.edit_reply_markup(reply_markup=None)
    await _ask_next(message, state, data)


@router.callback_query(Form.consent, FormCb.filter(F.action == "decline"))
async def decline(query: CallbackQuery, state: FSMContext) -> None:
    if (message := await step_message(query)) is None:
        return
    assisted = await _assisted(state)
    await state.clear()
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(texts.declined_text(assisted=assisted))


@router.message(Form.consent)
async def consent_expected(message: Message, state: FSMContext) -> None:
    assisted = await _assisted(state)
    await message.answer(
        texts.consent_expected(assisted=assisted),
        reply_markup=texts.consent_keyboard(assisted=assisted),
    )


# --- fields ---------------------------------------------------------------------------
@router.message(Form.name, TEXT)
async def name_entered(message: Message, state: FSMContext, fonts: FontStack) -> None:
    # The fonts the member card is drawn with: a name it cannot show is refused here.
    try:
        name = validate_name(message.text or "", fonts.missing)
    except ValidationError as error:
        if error.code == "name.no_glyph":
            assisted = bool((await state.get_data()).get("assisted_by"))
            await message.answer(texts.no_glyph_message(error, assisted=assisted))
        else:
            await message.answer(texts.validation_message(error, "name"))
        return
    await _store(message, state, name=name)


@router.message(Form.resident_id, TEXT)
async def resident_id_entered(message: Message, state: FSMContext, intake: IntakeService) -> None:
    try:
        resident = validate_resident_id(message.text or "")
    except ValidationError as error:
        await message.answer(texts.validation_message(error, "resident_id"))
        return
    try:
        await intake.check_person(resident.number)
    except (OpenApplicationExists, AlreadyMember) as error:
        assisted = bool((await state.get_data()).get("assisted_by"))
        await state.clear()
        await message.answer(standing_message(error, assisted=assisted))
        return
    await _store(
        message,
        state,
        resident_id=resident.number,
        gender=resident.gender,
        birth_date=resident.birth_date.isoformat(),
    )


@router.message(Form.mobile, CONTACT)
async def contact_shared(message: Message, state: FSMContext) -> None:
    if (await state.get_data()).get("assisted_by"):
        await message.answer(_("代录时请直接输入职工本人的手机号，不要分享联系人。"))
        return
    contact = message.contact
    if contact is None or message.from_user is None or contact.user_id != message.from_user.id:
        await message.answer(_("请分享您本人的手机号（点击下方按钮），或直接输入手机号。"))
        return
    await _mobile(message, state, contact.phone_number)


@router.message(Form.mobile, TEXT)
async def mobile_typed(message: Message, state: FSMContext) -> None:
    await _mobile(message, state, message.text or "")


async def _mobile(message: Message, state: FSMContext, raw: str) -> None:
    try:
        mobile = validate_mobile(raw)
    except ValidationError as error:
        await message.answer(texts.validation_message(error, "mobile"))
        return
    await _store(message, state, mobile=mobile, drop_keyboard=True)


@router.message(Form.employer, TEXT)
async def employer_entered(
    message: Message, state: FSMContext, enterprises: EnterpriseService
) -> None:
    try:
        # Refuses mobile and id numbers typed here before anything is stored or matched.
        typed = validate_employer(message.text or "", max_len=EMPLOYER_MAX_LEN)
    except ValidationError as error:
        await message.answer(await _field_error(error, state))
        return
    if len(typed) < 2:
        await message.answer(_("单位名称太短了，请输入完整的单位名称。"))
        return
    data = await state.get_data()
    match = await enterprises.suggest(typed, data.get("street_id"))
    if match.uscc_invalid:
        await message.answer(texts.validation_message(ValidationError("uscc.checksum")))
        return
    # Kept with the application whatever the worker picks next: reviewers see the branch,
    # and a reviewer's correction learns from what was typed (bot.services.alias_proposals).
    await state.update_data(employer_said=typed, employer_branch=match.branch)
    if match.auto is not None:
        chosen = next((c for c in match.candidates if c.id == match.auto), None)
        name = chosen.name if chosen else typed
        await message.answer(_("已识别工作单位：{name}").format(name=escape(name)))
        await _employer_known(message, state, enterprises, name, match.auto)
        return
    if match.uscc is not None and not match.candidates:
        # A valid code the registry does not know: keep it, but a name is still needed.
        await state.update_data(employer_uscc=match.uscc, employer_pending=None)
        await message.answer(_("企业库中没有这个统一社会信用代码，请再输入单位名称："))
        return
    if not match.candidates:
        await _store(message, state, employer=typed, enterprise_id=None)
        return
    offered = [[c.id, c.name] for c in match.candidates]
    await state.update_data(employer_typed=typed, employer_offered=offered, employer_pending=None)
    await message.answer(
        texts.employer_question(assisted=bool(data.get("assisted_by"))),
        reply_markup=texts.employer_keyboard([(c.id, c.name) for c in match.candidates]),
    )


@router.callback_query(Form.employer, FormCb.filter(F.action == "employer"))
async def employer_picked(
    query: CallbackQuery, callback_data: FormCb, state: FSMContext, enterprises: EnterpriseService
) -> None:
    data = await state.get_data()
    offered = {str(ident): name for ident, name in data.get("employer_offered") or []}
    typed = data.get("employer_typed")
    if (callback_data.value != "none" and callback_data.value not in offered) or not typed:
        # Only the buttons we offered count: callback data can be forged.
        await query.answer(_("这个按钮已失效，请重新输入单位名称。"), show_alert=True)
        return
    if (message := await step_message(query)) is None:
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    await state.update_data(employer_typed=None, employer_offered=None)
    if callback_data.value == "none":
        await _store(message, state, employer=typed, enterprise_id=None)
    else:
        chosen = int(callback_data.value)
        await _employer_known(message, state, enterprises, offered[str(chosen)], chosen)


async def _employer_known(
    message: Message, state: FSMContext, enterprises: EnterpriseService, name: str, ident: int
) -> None:
    """The worker's employer is settled. One that has its own union is where its workers
    join: say so and let the worker choose (they may still apply to the joint union)."""
    union = await enterprises.own_union(ident)
    if union is None:
        await _store(message, state, employer=name, enterprise_id=ident)
        return
    if union.in_bot:  # founded through the bot: the application goes to that union here
        await message.answer(texts.union_in_bot_text(name, union.name or ""))
        await _store(message, state, employer=name, enterprise_id=ident)
        return
    data = await state.update_data(employer_pending=[ident, name])
    await message.answer(
        texts.own_union_text(
            name, union, data.get("street_name", ""), assisted=bool(data.get("assisted_by"))
        ),
        reply_markup=texts.own_union_keyboard(),
    )


@router.callback_query(Form.employer, FormCb.filter(F.action == "union"))
async def own_union_path(query: CallbackQuery, callback_data: FormCb, state: FSMContext) -> None:
    data = await state.get_data()
    pending = data.get("employer_pending")
    if not pending or callback_data.value not in ("street", "retype", "stop"):
        await query.answer(texts.use_latest_buttons(), show_alert=True)
        return
    if (message := await step_message(query)) is None:
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    assisted = bool(data.get("assisted_by"))
    if callback_data.value == "street":
        ident, name = pending
        await state.update_data(employer_pending=None)
        await _store(message, state, employer=name, enterprise_id=int(ident))
    elif callback_data.value == "retype":
        await state.update_data(employer_pending=None, employer_uscc=None)
        await message.answer(texts.ask("employer", assisted=assisted))
    else:
        await state.clear()
        await message.answer(texts.own_union_stopped(assisted=assisted))


@router.message(Form.job, TEXT)
async def job_entered(message: Message, state: FSMContext) -> None:
    try:
        job = normalise_free_text(message.text or "", max_len=JOB_MAX_LEN)
    except ValidationError as error:
        await message.answer(await _field_error(error, state))
        return
    await _store(message, state, job=job)


@router.callback_query(Form.job, FormCb.filter(F.action == "skip"))
async def job_skipped(query: CallbackQuery, state: FSMContext) -> None:
    if (message := await step_message(query)) is None:
        return
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    await _store(message, state, job=None)


# --- review ---------------------------------------------------------------------------
@router.callback_query(Form.review, FormCb.filter(F.action == "edit"))
async def edit_field(query: CallbackQuery, callback_data: FormCb, state: FSMContext) -> None:
    field = callback_data.value
    if field not in STATE_OF:
        await query.answer(_("无法识别的操作。"), show_alert=True)
        return
    if (message := await step_message(query)) is None:
        return
    await query.answer()
    data = await state.get_data()
    data.pop(field, None)
    if field == "resident_id":
        data.pop("gender", None)
        data.pop("birth_date", None)
    if field == "employer":
        for key in (
            "enterprise_id", "employer_uscc", "employer_typed", "employer_offered",
            "employer_pending", "employer_said", "employer_branch",
        ):  # fmt: skip
            data.pop(key, None)
    await state.set_data(data)
    await message.edit_reply_markup(reply_markup=None)
    await _ask_next(message, state, data)


@router.callback_query(Form.review, FormCb.filter(F.action == "submit"))
async def submit(query: CallbackQuery, state: FSMContext, intake: IntakeService) -> None:
    if (message := await step_message(query)) is None:
        return
    data = await state.get_data()
    user = query.from_user
    try:
        draft = _draft(data, language=_current_locale())
    except (KeyError, ValueError):
        await query.answer(_("表单信息不完整，请重新填写。"), show_alert=True)
        await state.clear()
        return
    try:
        submitted = await intake.submit(user.id, draft)
    except ValidationError as error:  # an employer saved before the form checked it
        await query.answer()
        for key in (
            "employer", "enterprise_id", "employer_uscc", "employer_typed", "employer_said",
            "employer_branch",
        ):  # fmt: skip
            data.pop(key, None)
        await state.set_data(data)
        await message.edit_reply_markup(reply_markup=None)
        await message.answer(texts.validation_message(error, "employer"))
        await _ask_next(message, state, data)
        return
    except (OpenApplicationExists, AlreadyMember) as error:
        await state.clear()
        await query.answer()
        await message.answer(standing_message(error, assisted=bool(draft.assisted_by)))
        return
    await state.clear()
    await query.answer(_("已提交"))
    await message.edit_text(
        texts.summary_text(data).rsplit("\n\n", 1)[0]
        + "\n\n"
        + _("✅ 已提交，申请编号 {number}").format(number=submitted.number),
        reply_markup=None,
    )
    if submitted.claim_code:
        await send_claim_code(message, submitted.number, submitted.claim_code)


@router.callback_query(Form.review, FormCb.filter(F.action == "cancel"))
async def cancel_from_summary(query: CallbackQuery, state: FSMContext) -> None:
    if (message := await step_message(query)) is None:
        return
    assisted = await _assisted(state)
    await state.clear()
    await query.answer()
    await message.edit_reply_markup(reply_markup=None)
    await message.answer(texts.cancelled_text(assisted=assisted))


@router.message(Form.review)
async def review_expected(message: Message, state: FSMContext) -> None:
    await message.answer(
        _("请使用摘要下方的按钮修改信息或提交申请。"), reply_markup=texts.summary_keyboard()
    )


# --- anything else during the form ---------------------------------------------------
@router.message(StateFilter(*(state for state in Form.__all_states__)))
async def unexpected_input(message: Message, state: FSMContext) -> None:
    hint = texts.expects(await state.get_state() or "", assisted=await _assisted(state))
    await message.answer(hint or _("请按提示操作，或发送 /cancel 放弃填写。"))


@router.callback_query(FormCb.filter())
async def stale_button(
    query: CallbackQuery, callback_data: FormCb, state: FSMContext, intake: IntakeService
) -> None:
    done = await already_done(query, callback_data, state, intake)
    if done is not None:  # a second press (a double tap, an old message): nothing is wrong
        await query.answer(done)
        return
    await query.answer(_("这个按钮已失效，请发送 /start 重新开始。"), show_alert=True)


async def already_done(
    query: CallbackQuery, callback_data: FormCb, state: FSMContext, intake: IntakeService
) -> str | None:
    """What a button did when it is pressed again after it worked (the form has moved
    on), so that a worker who succeeded is not told the button is broken."""
    action, current, data = callback_data.action, await state.get_state(), await state.get_data()
    if current in FIELD_OF or current in (Form.consent.state, Form.review.state):
        return _step_done(action, callback_data.value, current, data)
    if current is not None:
        return None
    # No form open: it was submitted, cancelled or declined (or never started).
    if action not in ("submit", "consent", "decline", "cancel"):
        return None
    member, pending = await intake.standing_of(query.from_user.id)
    if pending is not None:
        return _("您已提交申请 {number}，正在审核中。发送 /status 可查看进度。").format(
            number=pending
        )
    if member is not None:
        return _("您已经是工会会员了（会员编号 {number}）。").format(number=member)
    if action == "submit":
        entered = await intake.recently_assisted(query.from_user.id)
        if entered is not None:  # staff who entered a paper application
            return _("申请 {number} 已提交，正在审核中。").format(number=entered)
        return None
    if action == "cancel":
        return texts.cancelled_text(assisted=False)
    return texts.declined_text(assisted=False) if action == "decline" else None


def _step_done(action: str, value: str, current: str | None, data: dict[str, Any]) -> str | None:
    go_on = _("请按最新的提示继续填写。")
    if action == "consent" and data.get("consent_at"):
        return _("已记录您的同意。") + go_on
    online = data.get("point_id") is None  # the street was picked from the list
    if action == "street" and online and value == str(data.get("street_id")):
        return _("已选择街道：{street}。").format(street=data.get("street_name", "")) + go_on
    if action in ("employer", "union") and data.get("employer"):
        return _("已记录工作单位：{employer}。").format(employer=data["employer"]) + go_on
    if action == "skip" and "job" in data:
        return _("已跳过岗位。") + go_on
    if action == "edit" and FIELD_OF.get(current or "") == value:
        return _("请直接输入新的{field}。").format(field=texts.FIELD_LABELS[value]())
    return None


FIELD_OF = {state.state: field for field, state in STATE_OF.items()}


async def _field_error(error: ValidationError, state: FSMContext) -> str:
    """Emoji or symbols alone: say what this step expects, rather than a generic rule."""
    current = await state.get_state() or ""
    if error.code == "text.no_words":
        hint = texts.expects(current, assisted=await _assisted(state))
        if hint:
            return hint
    return texts.validation_message(error, FIELD_OF.get(current))


# --- helpers ----------------------------------------------------------------------------
def standing_message(error: OpenApplicationExists | AlreadyMember, assisted: bool = False) -> str:
    if assisted:
        if isinstance(error, AlreadyMember):
            return _("该职工已经是工会会员（会员编号 {number}），无需代录。").format(
                number=error.member_number
            )
        return _("该职工已有一份正在审核的申请（编号 {number}），无需重复代录。").format(
            number=error.number
        )
    if isinstance(error, AlreadyMember):
        return _("您已经是工会会员了（会员编号 {number}）。发送 /card 可查看电子会员卡。").format(
            number=error.member_number
        )
    return _(
        "您已有一份正在审核的申请（编号 {number}，{time} 提交），请耐心等待审核结果。"
        "发送 /status 可查看进度。"
    ).format(number=error.number, time=texts.when(error.submitted_at))


def _current_locale() -> str:
    return CatalogI18n.get_current().current_locale


def _draft(data: dict[str, Any], language: str) -> Draft:
    assisted = data.get("assisted_by")
    return Draft(
        street_id=int(data["street_id"]),
        point_id=data.get("point_id"),
        consent_at=datetime.fromisoformat(data["consent_at"]),
        notice_version=data["notice_version"],
        name=data["name"],
        resident_id=data["resident_id"],
        gender=data["gender"],
        birth_date=date.fromisoformat(data["birth_date"]),
        mobile=data["mobile"],
        employer=data["employer"],
        enterprise_id=data.get("enterprise_id"),
        employer_uscc=data.get("employer_uscc"),
        employer_typed=data.get("employer_said"),
        employer_branch=data.get("employer_branch"),
        job=data.get("job"),
        language=language,
        assisted_by=(int(assisted[0]), str(assisted[1])) if assisted else None,
    )


async def send_claim_code(message: Message, number: str, code: str) -> None:
    """The one-time QR code a worker scans to follow their paper application in Telegram."""
    bot_user = await message.bot.me() if message.bot else None
    link = f"https://t.me/{bot_user.username if bot_user else ''}?start=c_{code}"
    png = await asyncio.to_thread(render_claim_qr, link)
    await message.answer_photo(
        BufferedInputFile(png, filename=f"claim-{number}.png"),
        caption=_(
            "请将此二维码打印或出示给职工：用 Telegram 扫码即可关联申请 {number}，"
            "之后审核结果和电子会员卡会直接发给职工。二维码只能使用一次。没有 Telegram 的职工"
            "可不扫码，审核结果请线下告知。"
        ).format(number=number),
    )
