"""/servicecards in a street's review group: the street's side of the member service card
(会员服务卡). Staff see the requests and open batches, export the waiting requests as one
batch with a button (the Excel file comes into the group, numbers masked), and record a
batch sent, its cards arrived (the members are told) and each card collected.

The service checks the role (the street's staff, or the district's) in the transaction
that acts; a batch or a card of another street is refused here as well."""

from __future__ import annotations

import contextlib
import re

from aiogram import F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.services.audit import Actor
from bot.services.binding import BindingService
from bot.services.errors import NotAllowed, NotFound
from bot.services.service_cards import Batch, ServiceCardRefused, ServiceCardService
from bot.views import staff_services as view
from bot.views.staff_services import StreetCardsCb
from handlers.buttons import pressed_on
from handlers.filters import GROUP
from handlers.registry import Handlers
from handlers.review import actor_of

router = Handlers("street_services")
router.filter("message", GROUP)
router.filter("callback_query", GROUP)

# Loose shapes (the service decides whether one exists): JK-DS-00001, DS-2026-00001.
REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,30}")
STEPS = ("sent", "arrived", "collected", "file")


async def _send_batch(message: Message, batch: Batch, *, again: bool = False) -> None:
    await message.answer_document(
        BufferedInputFile(batch.workbook, filename=f"service-cards-{batch.number}.xlsx"),
        caption=view.batch_caption(batch, again=again),
    )


@router.message(Command("servicecards"))
async def service_cards_command(
    message: Message,
    command: CommandObject,
    service_cards: ServiceCardService,
    binding: BindingService,
) -> None:
    if message.from_user is None:
        return
    street = await binding.street_of_chat(message.chat.id)
    if street is None:
        await message.reply(view.only_in_review_group())
        return
    actor = actor_of(message.from_user)
    args = (command.args or "").split()
    step = args[0].lower() if args else ""
    ref = args[1] if len(args) > 1 else ""
    if args and (len(args) != 2 or step not in STEPS or not REFERENCE.fullmatch(ref)):
        await message.reply(view.cards_usage())
        return
    try:
        if not args:
            cards = await service_cards.overview(street, actor)
            await message.reply(
                view.overview_text(cards), reply_markup=view.overview_keyboard(cards)
            )
        elif step == "collected":
            await service_cards.collected(ref, actor, street_ref=street)
            await message.reply(view.collected_text(ref))
        elif step == "file":
            batch = await service_cards.batch_file(ref, actor, street_ref=street)
            await _send_batch(message, batch, again=True)
        else:
            count = await service_cards.mark(ref, step, actor, street_ref=street)
            await message.reply(view.marked_text(ref.upper(), step, count))
    except NotAllowed:
        await message.reply(view.cards_not_staff())
    except NotFound:
        await message.reply(view.no_member(ref))
    except ServiceCardRefused as error:
        await message.reply(view.card_refusal(error, ref))


@router.callback_query(StreetCardsCb.filter(F.action == "export"))
async def export(
    query: CallbackQuery, service_cards: ServiceCardService, binding: BindingService
) -> None:
    message = pressed_on(query)
    if message is None:
        await query.answer(view.stale_button(), show_alert=True)
        return
    street = await binding.street_of_chat(message.chat.id)
    if street is None:
        await query.answer(view.only_in_review_group(), show_alert=True)
        return
    actor = actor_of(query.from_user)
    try:
        # Each waiting request goes into exactly one batch: of two presses at once, the
        # second finds nothing waiting.
        batch = await service_cards.make_batch(street, actor)
    except NotAllowed:
        await query.answer(view.cards_not_staff(), show_alert=True)
        return
    except ServiceCardRefused as error:
        await query.answer(view.card_refusal(error, ""), show_alert=True)
        await _refresh(message, service_cards, street, actor)
        return
    await query.answer(view.exported_toast(batch))
    await _send_batch(message, batch)
    await _refresh(message, service_cards, street, actor)


async def _refresh(
    message: Message, service_cards: ServiceCardService, street: str, actor: Actor
) -> None:
    """The /servicecards message as it is now (the button gone when nothing waits)."""
    try:
        cards = await service_cards.overview(street, actor)
    except NotAllowed:
        return
    # Only a nicety: the message may be gone (deleted by someone) and nothing is lost.
    with contextlib.suppress(TelegramBadRequest):
        await message.edit_text(
            view.overview_text(cards), reply_markup=view.overview_keyboard(cards)
        )
