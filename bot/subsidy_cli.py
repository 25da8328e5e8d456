"""`unionbot subsidy …`: the activity subsidy's budgets and ledger at a terminal. The
command line acts as the administrator; every change is audited. Amounts are typed and
shown in yuan, kept in fen. A refused action says why on stderr and exits with 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.services.audit import Actor

if TYPE_CHECKING:
    from bot.services.subsidy import SubsidyService

ACTOR = Actor.cli()


@asynccontextmanager
async def _service(args: argparse.Namespace) -> AsyncIterator[SubsidyService]:
    from bot.cli import settings_of
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.services.subsidy import SubsidyService

    settings = settings_of(args)
    await upgrade_async(settings.database.url)
    db = Database(settings.database.url)
    try:
        yield SubsidyService(db)
    finally:
        await db.dispose()


def _refused(reason: Exception) -> int:
    print(f"unionbot: refused: {reason}", file=sys.stderr)
    return 1


def _this_year() -> int:
    from bot import timefmt
    from models.base import utcnow

    return timefmt.local(utcnow()).year


async def subsidy_budget(args: argparse.Namespace) -> int:
    from bot.money import parse_yuan, yuan
    from bot.services.subsidy import SubsidyRefused

    amount = parse_yuan(args.amount)
    async with _service(args) as service:
        try:
            await service.set_budget(args.street, args.year, amount, ACTOR)
        except SubsidyRefused as refused:
            return _refused(refused)
    print(f"budget of {args.street} for {args.year}: {yuan(amount)}")
    return 0


async def subsidy_book(args: argparse.Namespace) -> int:
    from bot.money import parse_yuan, yuan
    from bot.services.subsidy import SubsidyRefused

    cost = parse_yuan(args.cost)
    async with _service(args) as service:
        try:
            posting = await service.book(args.activity, cost, ACTOR, note=args.note)
        except SubsidyRefused as refused:
            return _refused(refused)
    print(f"posting {posting.id}: activity {args.activity} booked {yuan(cost)}, "
          f"split among {posting.attendees} members")  # fmt: skip
    return 0


async def subsidy_refund(args: argparse.Namespace) -> int:
    from bot.money import parse_yuan, yuan
    from bot.services.subsidy import SubsidyRefused

    amount = parse_yuan(args.amount)
    async with _service(args) as service:
        try:
            posting = await service.refund(args.activity, amount, ACTOR, args.note)
        except SubsidyRefused as refused:
            return _refused(refused)
    print(f"posting {posting.id}: activity {args.activity} refunded {yuan(amount)}, "
          f"split among {posting.attendees} members")  # fmt: skip
    return 0


async def subsidy_reverse(args: argparse.Namespace) -> int:
    from bot.money import yuan
    from bot.services.subsidy import SubsidyRefused

    async with _service(args) as service:
        try:
            posting = await service.reverse(args.posting, ACTOR, args.note)
        except SubsidyRefused as refused:
            return _refused(refused)
    print(f"posting {posting.id} reverses posting {args.posting} "
          f"({yuan(posting.amount_fen)}, activity {posting.activity_id})")  # fmt: skip
    return 0


async def subsidy_report(args: argparse.Namespace) -> int:
    """Tab-separated, amounts in yuan with two decimals (for a spreadsheet or awk)."""
    from bot.money import decimal_yuan as y

    async with _service(args) as service:
        if args.by == "activity":
            activities = await service.by_activity(args.year)
            print("activity\ttitle\tstreet\tdate\tattendees\tbooked\tper_member")
            for a in activities:
                print(f"{a.activity_id}\t{a.title}\t{a.street}\t{a.day}\t{a.attendees}\t"
                      f"{y(a.net_fen)}\t{y(a.per_member_fen)}")  # fmt: skip
        elif args.by == "member":
            members = await service.by_member(args.year or _this_year())
            print("member\tstreet\tactivities\ttotal")
            for m in members:
                print(f"{m.member_number}\t{m.street}\t{m.activities}\t{y(m.total_fen)}")
        else:
            streets = await service.by_street(args.year or _this_year())
            print("year\tstreet\tbudget\tspent\tremaining\tactivities\tattendees")
            for s in streets:
                print(f"{s.year}\t{s.street}\t{y(s.budget_fen)}\t{y(s.spent_fen)}\t"
                      f"{y(s.remaining_fen)}\t{s.activities}\t{s.attendees}")  # fmt: skip
    return 0


async def subsidy_ledger(args: argparse.Namespace) -> int:
    async with _service(args) as service:
        data = await service.ledger_xlsx(args.year)
    args.xlsx.write_bytes(data)
    which = f"of {args.year}" if args.year else "of every year"
    print(f"subsidy ledger {which} in {args.xlsx}")
    return 0
