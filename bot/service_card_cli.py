"""`unionbot servicecards …`: the street's side of the member service card at a terminal.
The command line acts as the administrator; every step is audited."""

from __future__ import annotations

import argparse
from typing import Any

from bot.services.audit import Actor

ACTOR = Actor.cli()


async def _service(args: argparse.Namespace) -> Any:
    from bot.app import load_keys
    from bot.cli import settings_of
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.services.service_cards import ServiceCardService

    settings = settings_of(args)
    keys = load_keys(settings)
    await upgrade_async(settings.database.url)
    return ServiceCardService(Database(settings.database.url), keys.cipher)


async def servicecards_batch(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        batch = await service.make_batch(args.street, ACTOR, full_ids=args.full_ids)
    finally:
        await service.db.dispose()
    args.xlsx.write_bytes(batch.workbook)
    masked = "full id and mobile numbers (audited)" if args.full_ids else "numbers masked"
    print(f"batch {batch.number}: {batch.cards} cards of {batch.street} in {args.xlsx} ({masked})")
    return 0


async def servicecards_mark(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        cards = await service.mark(args.batch, args.step, ACTOR)
    finally:
        await service.db.dispose()
    told = "; the members are told to collect them" if args.step == "arrived" else ""
    print(f"batch {args.batch.upper()}: {cards} cards {args.step}{told}")
    return 0


async def servicecards_collected(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        await service.collected(args.member, ACTOR)
    finally:
        await service.db.dispose()
    print(f"member {args.member.upper()}: service card collected")
    return 0


async def servicecards_status(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        rows = await service.completion()
    finally:
        await service.db.dispose()
    print("street\tmembers\tasked\tcollected")
    for street, members, asked, collected in rows:
        print(f"{street}\t{members}\t{asked}\t{collected}")
    return 0


async def benefits_add(args: argparse.Namespace) -> int:
    from datetime import date

    from bot.app import load_keys
    from bot.cli import settings_of
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.services.benefits import BenefitService

    try:
        start, end = date.fromisoformat(args.valid_from), date.fromisoformat(args.valid_to)
    except ValueError:
        raise ValueError("--from and --to are dates, YYYY-MM-DD") from None
    settings = settings_of(args)
    keys = load_keys(settings)
    await upgrade_async(settings.database.url)
    service = BenefitService(Database(settings.database.url), keys.benefit_signer)
    try:
        benefit_id = await service.add(
            args.title, args.provider, args.quota, start, end, ACTOR,
            street_ref=args.street, description=args.description, first_only=args.first_only,
            need=args.need,
        )  # fmt: skip
    finally:
        await service.db.dispose()
    where = args.street or "the whole district"
    print(f"benefit {benefit_id} added: {args.title}, {args.quota} places for {where}; "
          "announced to its members")  # fmt: skip
    return 0
