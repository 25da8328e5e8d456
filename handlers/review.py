"""Street staff deciding applications from the review card in their group chat."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, ForceReply, Message, User

from bot.callbacks import EmployerCb, ReviewCb
from bot.i18n import translate as _
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseNotActive, EnterpriseService
from bot.services.errors import AlreadyDecided, NotAllowed, NotFound
from bot.services.review import CardRef, ReviewService
from bot.validation import ValidationError, clean_text
from bot.views import review as view
from handlers import texts
from handlers.buttons import forged, pressed_on
from handlers.filters import TEXT, TextStartsWith
from handlers.registry import Handlers
from handlers.states import ChangeEmployer, RejectNote

router = Handlers("review")


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.full_name or str(user.id))


def _card(query: CallbackQuery) -> CardRef | None:
    """The review card the press came from, when the pressed button is on it: only that
    message is ever edited (forged data may name any application, on any message)."""
    message = pressed_on(query)
    if message is None:
        return None
    return CardRef(message.chat.id, message.message_id)


def not_on_this_card() -> str:
    return _("这个按钮已失效，请使用审核卡片上现有的按钮。")


async def _refuse_forged(query: CallbackQuery, review: ReviewService, application_id: int) -> bool:
    """True (and answered) when the pressed data is not a button of the message it came
    with. Whoever may not review hears that first, as for any other press."""
    if not forged(query):
        return False
    if await _may_review(query, review, application_id):
        await query.answer(not_on_this_card(), show_alert=True)
    return True


async def _refuse(query: CallbackQuery, error: Exception) -> None:
    """Toasts for presses that change nothing."""
    if isinstance(error, NotAllowed):
        await query.answer(_("只有本街道总工会的审核人员可以处理这份申请。"), show_alert=True)
    elif isinstance(error, AlreadyDecided) and error.status == "withdrawn":
        await query.answer(_("申请人已撤回这份申请。"), show_alert=True)
    elif isinstance(error, AlreadyDecided):
        verdict = _("通过") if error.status == "approved" else _("驳回")
        await query.answer(
            _("这份申请已由 {who} 于 {time} {verdict}。").format(
                who=error.decided_by, time=texts.when(error.decided_at), verdict=verdict
            ),
            show_alert=True,
        )
    else:
        await query.answer(_("找不到这份申请。"), show_alert=True)


async def _ask_in_reply(
    query: CallbackQuery, state: FSMContext, step: State, application_id: int, prompt: str
) -> None:
    """Open a typed step (a reject reason, an employer search) for the presser: remember
    the card to edit later, and ask with a ForceReply, because in groups the bot only
    sees replies to its own messages."""
    card = _card(query)
    await state.set_state(step)
    await state.set_data(
        {
            "app": application_id,
            "chat": card.chat_id if card else None,
            "message": card.message_id if card else None,
        }
    )
    await query.answer()
    message = pressed_on(query)
    if message is not None:
        await message.reply(
            prompt.format(who=query.from_user.mention_html()),
            reply_markup=ForceReply(selective=True),
        )


def _remembered_card(data: dict[str, Any]) -> CardRef | None:
    return CardRef(data["chat"], data["message"]) if data.get("message") else None


async def _may_review(query: CallbackQuery, review: ReviewService, application_id: int) -> bool:
    """For presses that only open a step (reasons, employer search): checked on the server
    now, and again by the decision itself."""
    try:
        await review.ensure_reviewer(application_id, actor_of(query.from_user))
    except (NotAllowed, AlreadyDecided, NotFound) as error:
        await _refuse(query, error)
        return False
    return True


@router.callback_query(ReviewCb.filter(F.action == "approve"))
async def approve(query: CallbackQuery, callback_data: ReviewCb, review: ReviewService) -> None:
    if await _refuse_forged(query, review, callback_data.app):
        return
    try:
        result = await review.approve(callback_data.app, actor_of(query.from_user), _card(query))
    except (NotAllowed, AlreadyDecided, NotFound) as error:
        await _refuse(query, error)
        return
    await query.answer(
        _("已通过，会员编号 {number}（本企业 {count} 人）").format(
            number=result.member_number, count=result.enterprise_count
        )
    )


@router.callback_query(ReviewCb.filter(F.action.in_({"reject", "back"})))
async def show_reasons(
    query: CallbackQuery, callback_data: ReviewCb, review: ReviewService
) -> None:
    if await _refuse_forged(query, review, callback_data.app):
        return
    if not await _may_review(query, review, callback_data.app):
        return
    await query.answer()
    markup = (
        view.reason_keyboard(callback_data.app)
        if callback_data.action == "reject"
        else view.review_keyboard(callback_data.app)
    )
    card = pressed_on(query)
    if card is not None:
        await card.edit_reply_markup(reply_markup=markup)


@router.callback_query(ReviewCb.filter(F.action == "reason"))
async def reason_picked(
    query: CallbackQuery, callback_data: ReviewCb, review: ReviewService, state: FSMContext
) -> None:
    reason = callback_data.reason
    if reason not in {"incomplete", "outside_area", "duplicate", "other"}:
        await query.answer(_("无法识别的操作。"), show_alert=True)
        return
    if await _refuse_forged(query, review, callback_data.app):
        return
    actor = actor_of(query.from_user)
    if reason == "other":
        if not await _may_review(query, review, callback_data.app):
            return
        prompt = _("{who}，请回复本条消息，写明驳回原因（200 字以内）；发送 /cancel 放弃。")
        await _ask_in_reply(query, state, RejectNote.typing, callback_data.app, prompt)
        return
    try:
        await review.reject(callback_data.app, actor, reason, None, _card(query))
    except (NotAllowed, AlreadyDecided, NotFound) as error:
        await _refuse(query, error)
        return
    await query.answer(_("已驳回"))


@router.callback_query(ReviewCb.filter(F.action == "employer"))
async def ask_employer(
    query: CallbackQuery, callback_data: ReviewCb, review: ReviewService, state: FSMContext
) -> None:
    if await _refuse_forged(query, review, callback_data.app):
        return
    if not await _may_review(query, review, callback_data.app):
        return
    prompt = _("{who}，请回复本条消息，输入正确的单位名称或统一社会信用代码；发送 /cancel 放弃。")
    await _ask_in_reply(query, state, ChangeEmployer.typing, callback_data.app, prompt)


@router.message(ChangeEmployer.typing, TextStartsWith("/cancel"))
async def employer_cancelled(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.reply(_("已放弃更改单位。"))


@router.message(ChangeEmployer.typing, TEXT)
async def employer_typed(
    message: Message, state: FSMContext, enterprises: EnterpriseService
) -> None:
    data = await state.get_data()
    try:
        text = clean_text(message.text or "", max_len=100)
    except ValidationError as error:
        await message.reply(texts.validation_message(error, "employer_search"))
        return
    hits = await enterprises.search(text, limit=5)
    if not hits:
        await message.reply(_("没有找到匹配的企业，请换个名称再试，或发送 /cancel 放弃。"))
        return
    choices = [
        view.EmployerChoice(
            e.id, e.name, e.member_count, provisional=e.provisional, confirmed=e.confirmed
        )
        for e in (hit.enterprise for hit in hits)
    ]
    await message.reply(
        _("请选择正确的单位（括号内为已入会人数）："),
        reply_markup=view.employer_choices(data["app"], choices),
    )


@router.callback_query(EmployerCb.filter())
async def employer_chosen(
    query: CallbackQuery,
    callback_data: EmployerCb,
    enterprises: EnterpriseService,
    review: ReviewService,
    state: FSMContext,
) -> None:
    # Only from the list of choices this step sent: pressed on the review card (or any
    # other message), the data would replace that message with the outcome.
    if forged(query):
        if await _may_review(query, review, callback_data.app):
            await query.answer(_("请在单位选择列表中点选，不要在审核卡片上操作。"), show_alert=True)
        return
    data = await state.get_data()
    card = _remembered_card(data) if data.get("app") == callback_data.app else None
    try:
        change = await enterprises.change_employer(
            callback_data.app, callback_data.enterprise, actor_of(query.from_user), card
        )
    except (NotAllowed, AlreadyDecided, NotFound) as error:
        await _refuse(query, error)
        return
    except EnterpriseNotActive:
        await query.answer(_("这家企业已注销或迁出，不能选择。"), show_alert=True)
        return
    await state.clear()
    await query.answer(_("已更改为 {name}").format(name=change.enterprise_name))
    choices = pressed_on(query)
    if choices is not None:
        await choices.edit_text(
            _("🏢 {who} 已将申请 {number} 的单位改为：{name}").format(
                who=escape(query.from_user.full_name),
                number=change.application_number,
                name=escape(change.enterprise_name),
            )
        )


@router.message(RejectNote.typing, TextStartsWith("/cancel"))
async def note_cancelled(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.reply(_("已放弃驳回，这份申请仍待审核。"))


@router.message(RejectNote.typing, TEXT)
async def note_typed(message: Message, state: FSMContext, review: ReviewService) -> None:
    data = await state.get_data()
    try:
        note = clean_text(message.text or "", max_len=200)
    except ValidationError as error:
        await message.reply(texts.validation_message(error, "reject_note"))
        return
    await state.clear()
    if message.from_user is None:
        return
    card = _remembered_card(data)
    try:
        await review.reject(data["app"], actor_of(message.from_user), "other", note, card)
    except AlreadyDecided as error:
        await message.reply(
            _("这份申请已由 {who} 于 {time} 处理。").format(
                who=error.decided_by, time=texts.when(error.decided_at)
            )
        )
    except (NotAllowed, NotFound):
        await message.reply(_("只有本街道总工会的审核人员可以处理这份申请。"))


@router.message(RejectNote.typing)
async def note_expected(message: Message) -> None:
    await message.reply(_("请用文字发送驳回原因，或发送 /cancel 放弃。"))
