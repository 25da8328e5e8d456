"""The activity subsidy (活动经费补贴) in the federation group: /budget sets a street's
yearly budget or shows the year's figures by street, /book books a closed activity's
cost, /ledger sends the Excel ledger for the finance office.

Amounts are typed in yuan and kept in fen (bot.money). The subsidy service checks the
role for every change in the transaction that acts; the figures are shown to federation
staff only, checked before they are read."""

from __future__ import annotations

from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot import timefmt
from bot.money import parse_yuan
from bot.services.errors import NotAllowed, NotFound
from bot.services.founding import FoundingService
from bot.services.subsidy import SubsidyRefused, SubsidyService
from bot.validation import ValidationError, clean_text
from bot.views import staff_services as view
from handlers.filters import InFederationChat
from handlers.registry import Handlers
from handlers.review import actor_of
from models.base import utcnow

router = Handlers("subsidy")
router.filter("message", InFederationChat())

MAX_NOTE = 200
MAX_ACTIVITY_ID = 2**31 - 1


def _year(text: str) -> int | None:
    """A year as staff type it (four digits, 2000–2100), or None."""
    if len(text) == 4 and text.isascii() and text.isdigit() and 2000 <= int(text) <= 2100:
        return int(text)
    return None


def _this_year() -> int:
    return timefmt.local(utcnow()).year


def _fit(text: str) -> str:
    """Within Telegram's 4096 characters, cut at a line."""
    if len(text) <= 4000:
        return text
    return text[: text.rfind("\n", 0, 4000)] + "\n……"


@router.message(Command("budget"))
async def budget(
    message: Message,
    command: CommandObject,
    subsidy: SubsidyService,
    founding: FoundingService,
) -> None:
    if message.from_user is None:
        return
    actor = actor_of(message.from_user)
    args = (command.args or "").split()
    if len(args) <= 1:  # the figures: this year's, or the year named
        year = _year(args[0]) if args else _this_year()
        if year is None:
            digits = args[0].isascii() and args[0].isdigit()
            wrong = view.bad_year(args[0]) + "\n" if digits else ""
            await message.reply(wrong + view.budget_usage())
            return
        try:
            await founding.check_staff(actor)
        except NotAllowed:
            await message.reply(view.federation_only())
            return
        await message.reply(_fit(view.budget_report(year, await subsidy.by_street(year))))
        return
    if len(args) == 2:
        await message.reply(view.budget_usage())
        return
    street, year_text, amount_text = args[0], args[1], " ".join(args[2:])
    year = _year(year_text)
    if year is None:
        await message.reply(view.bad_year(year_text) + "\n" + view.budget_usage())
        return
    try:
        amount = parse_yuan(amount_text)
    except ValueError:
        await message.reply(view.bad_amount(amount_text))
        return
    try:
        await subsidy.set_budget(street, year, amount, actor)
    except NotAllowed:
        await message.reply(view.federation_only())
        return
    except NotFound:
        await message.reply(view.no_street(street))
        return
    except SubsidyRefused as error:
        await message.reply(view.subsidy_refusal(error))
        return
    report = view.budget_report(year, await subsidy.by_street(year))
    await message.reply(_fit(view.budget_set(street, year, amount) + "\n\n" + report))


@router.message(Command("book"))
async def book(message: Message, command: CommandObject, subsidy: SubsidyService) -> None:
    if message.from_user is None:
        return
    parts = (command.args or "").split(maxsplit=2)
    digits = parts[0].lstrip("#") if parts else ""
    if (
        len(parts) < 2
        or not (digits.isascii() and digits.isdigit() and len(digits) <= 10)
        or not 0 < int(digits) <= MAX_ACTIVITY_ID
    ):
        await message.reply(view.book_usage())
        return
    activity_id = int(digits)
    try:
        cost = parse_yuan(parts[1])
    except ValueError:
        await message.reply(view.bad_amount(parts[1]) + "\n" + view.book_usage())
        return
    note = ""
    if len(parts) == 3:
        try:
            note = clean_text(parts[2], MAX_NOTE)
        except ValidationError as error:
            if error.code != "text.empty":  # invisible characters only: no note
                await message.reply(view.note_too_long(MAX_NOTE))
                return
    try:
        posting = await subsidy.book(activity_id, cost, actor_of(message.from_user), note=note)
    except NotAllowed:
        await message.reply(view.federation_only())
        return
    except SubsidyRefused as error:
        await message.reply(view.subsidy_refusal(error))
        return
    await message.reply(_fit(view.booked_text(posting)))


@router.message(Command("ledger"))
async def ledger(
    message: Message,
    command: CommandObject,
    subsidy: SubsidyService,
    founding: FoundingService,
) -> None:
    if message.from_user is None:
        return
    args = (command.args or "").split()
    year = _year(args[0]) if len(args) == 1 else None
    if len(args) > 1 or (args and year is None):
        await message.reply(view.ledger_usage())
        return
    try:
        await founding.check_staff(actor_of(message.from_user))
    except NotAllowed:
        await message.reply(view.federation_only())
        return
    data = await subsidy.ledger_xlsx(year)
    name = f"subsidy-ledger-{year}.xlsx" if year is not None else "subsidy-ledger.xlsx"
    await message.answer_document(
        BufferedInputFile(data, filename=name), caption=view.ledger_caption(year)
    )
