"""Founding cases in the federation group: /cases lists them, /case N shows a card,
/newcase opens one by hand; the card's buttons move the case, and typed facts are asked
with ForceReply (in groups the bot only sees replies to its own messages).

Every press is checked on the server (the role, and the case version the card shows);
the service does the rest in one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from aiogram import F
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, ForceReply, Message

from bot import timefmt
from bot.callbacks import CaseCb
from bot.config import Settings
from bot.founding_facts import READERS, Assembly, FactError, StageFacts, assembly
from bot.i18n import translate as _
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseService
from bot.services.errors import NotAllowed, NotFound
from bot.services.founding import (
    CardRef,
    CaseChanged,
    CaseExists,
    CaseRefused,
    CaseView,
    FoundingService,
    overdue,
)
from bot.services.membership import MembershipService, TransferRefused
from bot.views import case as view
from handlers.buttons import forged, pressed_on
from handlers.filters import TEXT, InFederationChat, TextStartsWith
from handlers.registry import Handlers
from handlers.review import actor_of
from handlers.states import CaseInput
from models.base import utcnow
from models.founding import CASE_STAGES

router = Handlers("cases")
router.filter("message", InFederationChat())
router.filter("callback_query", InFederationChat())


def _not_staff() -> str:
    return _("只有区总工会工作人员和管理员可以使用此功能。")


def _today() -> date:
    return timefmt.local(utcnow()).date()


async def _refuse(query: CallbackQuery | None, message: Message | None, error: Exception) -> None:
    """A change that did not happen, said where it was asked for."""
    if isinstance(error, NotAllowed):
        text = _not_staff()
    elif isinstance(error, NotFound):
        text = _("找不到这项建会工作。")
    elif isinstance(error, CaseChanged):
        text = view.changed_text(error.case)
    elif isinstance(error, CaseRefused):
        text = view.refusal_text(error)
    elif isinstance(error, FactError):
        text = view.fact_error_text(error)
    else:
        raise error
    if query is not None:
        await query.answer(text, show_alert=True)
    elif message is not None:
        await message.reply(text)


CHANGES = (NotAllowed, NotFound, CaseChanged, CaseRefused, FactError)


# ---------------------------------------------------------------------------- commands


@router.message(Command("cases"))
async def list_cases(message: Message, founding: FoundingService, settings: Settings) -> None:
    if message.from_user is None:
        return
    try:
        await founding.check_staff(actor_of(message.from_user))
    except NotAllowed:
        await message.reply(_not_staff())
        return
    cases = await founding.list()
    now = utcnow()
    late = {
        case.id
        for case in cases
        if overdue(
            case,
            now,
            idle=settings.federation.case_idle,
            preparing=settings.federation.case_preparing,
        )
    }
    await message.reply(view.case_list_text(cases, now, late))


@router.message(Command("case"))
async def show_case(message: Message, command: CommandObject, founding: FoundingService) -> None:
    if message.from_user is None:
        return
    ref = (command.args or "").strip().lstrip("#")
    if not ref.isdigit() or not 0 < int(ref) < 2**31:
        await message.reply(_("用法：/case 编号（/cases 列出全部）"))
        return
    try:
        await founding.post_card(int(ref), actor_of(message.from_user), message.chat.id)
    except CHANGES as error:
        await _refuse(None, message, error)


@router.message(Command("newcase"))
async def new_case(
    message: Message,
    command: CommandObject,
    founding: FoundingService,
    enterprises: EnterpriseService,
) -> None:
    """Open a case by hand, for an enterprise below the threshold (工会法 art. 11)."""
    if message.from_user is None:
        return
    ref = (command.args or "").strip()
    if not ref or len(ref.split()) != 1:
        await message.reply(_("用法：/newcase 企业编号或统一社会信用代码（先用 /search 查找）"))
        return
    try:
        info = await enterprises.get(ref)
        await founding.open(info.id, actor_of(message.from_user), chat_id=message.chat.id)
    except CaseExists as error:
        await message.reply(
            _("这家企业已有建会工作 #{id}，发送 /case {id} 查看。").format(id=error.case_id)
        )
    except CHANGES as error:
        await _refuse(None, message, error)


# ---------------------------------------------------------------------------- the card


async def _checked(
    query: CallbackQuery, data: CaseCb, founding: FoundingService
) -> tuple[CaseView, Message] | None:
    """The case, when the press may act: the presser's role, the button on the card it
    came with (forged data changes nothing), and the card showing the case as it is."""
    try:
        await founding.check_staff(actor_of(query.from_user))
        case = await founding.get(data.case)
    except (NotAllowed, NotFound) as error:
        await _refuse(query, None, error)
        return None
    message = pressed_on(query)
    if forged(query) or message is None:
        await query.answer(_("这个按钮已失效，请使用建会工作卡片上现有的按钮。"), show_alert=True)
        return None
    if case.version != data.v:
        await query.answer(view.changed_text(case), show_alert=True)
        await message.edit_text(
            view.case_text(case, utcnow()), reply_markup=view.case_keyboard(case)
        )
        return None
    return case, message


async def _ask(
    query: CallbackQuery, state: FSMContext, step: State, card: Message, prompt: str, **data: Any
) -> None:
    await state.set_state(step)
    await state.set_data({"chat": card.chat.id, "message": card.message_id, **data})
    await query.answer()
    await card.reply(
        prompt.format(who=query.from_user.mention_html()), reply_markup=ForceReply(selective=True)
    )


@router.callback_query(CaseCb.filter(F.action == "adv"))
async def advance_pressed(
    query: CallbackQuery, callback_data: CaseCb, founding: FoundingService, state: FSMContext
) -> None:
    checked = await _checked(query, callback_data, founding)
    if checked is None:
        return
    case, card = checked
    if case.paused or not case.open:
        await _refuse(query, None, CaseRefused("paused" if case.paused else "founded"))
        return
    target = CASE_STAGES[CASE_STAGES.index(case.stage) + 1]
    await _ask(
        query, state, CaseInput.facts, card, view.prompt_for(target),
        case=case.id, v=case.version, stage=target,
    )  # fmt: skip


@router.callback_query(CaseCb.filter(F.action == "back"))
async def back_pressed(
    query: CallbackQuery, callback_data: CaseCb, founding: FoundingService, state: FSMContext
) -> None:
    checked = await _checked(query, callback_data, founding)
    if checked is None:
        return
    case, card = checked
    prompt = _("{who}，请回复本条消息，写明退回上一步的原因（200 字以内）；发送 /cancel 放弃。")
    await _ask(query, state, CaseInput.back, card, prompt, case=case.id, v=case.version)


@router.callback_query(CaseCb.filter(F.action == "note"))
async def note_pressed(
    query: CallbackQuery, callback_data: CaseCb, founding: FoundingService, state: FSMContext
) -> None:
    checked = await _checked(query, callback_data, founding)
    if checked is None:
        return
    case, card = checked
    prompt = _(
        "{who}，请回复本条消息，记录工作进展（如联系了谁、企业的答复，200 字以内）；"
        "发送 /cancel 放弃。"
    )
    await _ask(query, state, CaseInput.note, card, prompt, case=case.id)


@router.callback_query(CaseCb.filter(F.action.in_({"pause", "card"})))
async def pause_pressed(
    query: CallbackQuery, callback_data: CaseCb, founding: FoundingService
) -> None:
    """Show the reasons (or, from the reasons, the card's own buttons again)."""
    checked = await _checked(query, callback_data, founding)
    if checked is None:
        return
    case, card = checked
    await query.answer()
    markup = (
        view.pause_keyboard(case) if callback_data.action == "pause" else view.case_keyboard(case)
    )
    await card.edit_reply_markup(reply_markup=markup)


@router.callback_query(CaseCb.filter(F.action == "reason"))
async def reason_pressed(
    query: CallbackQuery, callback_data: CaseCb, founding: FoundingService, state: FSMContext
) -> None:
    checked = await _checked(query, callback_data, founding)
    if checked is None:
        return
    case, card = checked
    if callback_data.value == "other":
        prompt = _("{who}，请回复本条消息，写明暂缓的原因（200 字以内）；发送 /cancel 放弃。")
        await _ask(query, state, CaseInput.pause_note, card, prompt, case=case.id, v=case.version)
        return
    try:
        await founding.pause(
            case.id, actor_of(query.from_user), callback_data.value,
            version=case.version, card=CardRef(card.chat.id, card.message_id),
        )  # fmt: skip
    except CHANGES as error:
        await _refuse(query, None, error)
        return
    await query.answer(_("已暂缓"))


@router.callback_query(CaseCb.filter(F.action.in_({"resume", "own"})))
async def simple_pressed(
    query: CallbackQuery, callback_data: CaseCb, founding: FoundingService
) -> None:
    checked = await _checked(query, callback_data, founding)
    if checked is None:
        return
    case, card = checked
    act = founding.resume if callback_data.action == "resume" else founding.take_over
    try:
        await act(
            case.id, actor_of(query.from_user), version=case.version,
            card=CardRef(card.chat.id, card.message_id),
        )  # fmt: skip
    except CHANGES as error:
        await _refuse(query, None, error)
        return
    await query.answer(_("已恢复") if callback_data.action == "resume" else _("已由您负责"))


@router.callback_query(CaseCb.filter(F.action == "move"))
async def move_pressed(
    query: CallbackQuery,
    callback_data: CaseCb,
    founding: FoundingService,
    membership: MembershipService,
) -> None:
    """Start moving the founded union's members; the sender's job does the work and the
    card shows the progress."""
    checked = await _checked(query, callback_data, founding)
    if checked is None:
        return
    case, card = checked
    try:
        await membership.start_transfer(case.id, actor_of(query.from_user), chat_id=card.chat.id)
    except TransferRefused:
        await query.answer(_("工会成立后才能办理会籍接转。"), show_alert=True)
        return
    except CHANGES as error:
        await _refuse(query, None, error)
        return
    await query.answer(_("已开始会籍接转，进度会显示在卡片上。"))


@router.callback_query(CaseCb.filter(F.action == "rel"))
async def relatives_answered(
    query: CallbackQuery, callback_data: CaseCb, founding: FoundingService, state: FSMContext
) -> None:
    """The art. 10 question, asked before the committee is recorded."""
    data = await state.get_data()
    pending = data.get("assembly")
    question = pressed_on(query)
    if (
        await state.get_state() != CaseInput.relatives.state
        or pending is None
        or data.get("case") != callback_data.case
        or question is None
    ):
        await query.answer(_("这个按钮已失效，请重新点卡片上的按钮。"), show_alert=True)
        return
    if callback_data.value == "yes":
        await state.set_state(CaseInput.facts)
        await query.answer()
        await question.edit_text(
            view.refusal_text(CaseRefused("close_relatives", answered=True))
            + "\n"
            + _("请回复本条消息，重新填写会员大会信息；发送 /cancel 放弃。"),
        )
        await question.reply(view.prompt_for("assembly").format(who=query.from_user.mention_html()),
                             reply_markup=ForceReply(selective=True))  # fmt: skip
        return
    facts = assembly(
        date.fromisoformat(pending["date"]), tuple(pending["committee"]), pending["chair"], False
    )
    await _record(None, query, state, founding, data, facts)
    await question.edit_reply_markup(reply_markup=None)


async def _record(
    message: Message | None,
    query: CallbackQuery | None,
    state: FSMContext,
    founding: FoundingService,
    data: dict[str, Any],
    facts: StageFacts,
) -> None:
    user = query.from_user if query is not None else (message.from_user if message else None)
    if user is None:
        return
    card = CardRef(data["chat"], data["message"]) if data.get("message") else None
    try:
        case = await founding.advance(
            data["case"], actor_of(user), facts, version=data["v"], card=card
        )
    except CHANGES as error:
        await state.clear()
        await _refuse(query, message, error)
        return
    await state.clear()
    done = _("已记录：{stage}（建会工作 #{id}）。").format(
        stage=view.stage_label(case.stage), id=case.id
    )
    if query is not None:
        await query.answer(done)
    elif message is not None:
        await message.reply(done)


# ---------------------------------------------------------------------------- typed facts


@router.message(CaseInput.facts, TextStartsWith("/cancel"))
@router.message(CaseInput.relatives, TextStartsWith("/cancel"))
@router.message(CaseInput.back, TextStartsWith("/cancel"))
@router.message(CaseInput.note, TextStartsWith("/cancel"))
@router.message(CaseInput.pause_note, TextStartsWith("/cancel"))
async def typing_cancelled(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.reply(_("已放弃，建会工作没有变化。"))


@router.message(CaseInput.facts, TEXT)
async def facts_typed(message: Message, state: FSMContext, founding: FoundingService) -> None:
    data = await state.get_data()
    stage = data.get("stage")
    if stage not in READERS:
        await state.clear()
        return
    try:
        facts = READERS[stage](message.text or "", _today())
    except FactError as error:
        again = _("请重新回复，或发送 /cancel 放弃。")
        await message.reply(
            f"{view.fact_error_text(error)}\n{again}", reply_markup=ForceReply(selective=True)
        )
        return
    if isinstance(facts, Assembly):  # art. 10 asks before the committee is recorded
        await state.set_state(CaseInput.relatives)
        await state.update_data(assembly=facts.record())
        await message.reply(
            view.relatives_question(list(facts.committee)),
            reply_markup=view.relatives_keyboard(data["case"], data["v"]),
        )
        return
    await _record(message, None, state, founding, data, facts)


Typed = Callable[[Actor, str, dict[str, Any], CardRef | None], Awaitable[str]]


async def _typed(message: Message, state: FSMContext, act: Typed) -> None:
    """A reply typed for the case (a reason, a note): a fact that cannot be recorded is
    asked again; anything else ends the step with what happened."""
    if message.from_user is None:
        return
    data = await state.get_data()
    card = CardRef(data["chat"], data["message"]) if data.get("message") else None
    try:
        done = await act(actor_of(message.from_user), message.text or "", data, card)
    except FactError as error:
        await message.reply(view.fact_error_text(error), reply_markup=ForceReply(selective=True))
        return
    except CHANGES as error:
        await state.clear()
        await _refuse(None, message, error)
        return
    await state.clear()
    await message.reply(done)


@router.message(CaseInput.back, TEXT)
async def back_typed(message: Message, state: FSMContext, founding: FoundingService) -> None:
    async def back(actor: Actor, text: str, data: dict[str, Any], card: CardRef | None) -> str:
        case = await founding.back(data["case"], actor, text, version=data["v"], card=card)
        return _("已退回到：{stage}。").format(stage=view.stage_label(case.stage))

    await _typed(message, state, back)


@router.message(CaseInput.note, TEXT)
async def note_typed(message: Message, state: FSMContext, founding: FoundingService) -> None:
    async def note(actor: Actor, text: str, data: dict[str, Any], card: CardRef | None) -> str:
        await founding.note(data["case"], actor, text, card=card)
        return _("已记录。")

    await _typed(message, state, note)


@router.message(CaseInput.pause_note, TEXT)
async def pause_note_typed(message: Message, state: FSMContext, founding: FoundingService) -> None:
    async def pause(actor: Actor, text: str, data: dict[str, Any], card: CardRef | None) -> str:
        await founding.pause(data["case"], actor, "other", text, version=data["v"], card=card)
        return _("已暂缓。")

    await _typed(message, state, pause)


@router.message(CaseInput.facts)
@router.message(CaseInput.back)
@router.message(CaseInput.note)
@router.message(CaseInput.pause_note)
async def text_expected(message: Message) -> None:
    await message.reply(_("请用文字回复，或发送 /cancel 放弃。"))


@router.message(CaseInput.relatives)
async def relatives_expected(message: Message) -> None:
    await message.reply(_("请点上面的“没有”或“有近亲属”，或发送 /cancel 放弃。"))
