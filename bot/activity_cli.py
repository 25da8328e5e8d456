"""`unionbot activities …` and `unionbot fourones`: activities and the "four ones" at a
terminal. The command line acts as the administrator; every change is audited."""

from __future__ import annotations

import argparse
from typing import Any

from bot.services.audit import Actor

ACTOR = Actor.cli()


async def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    from bot.app import load_keys
    from bot.cli import settings_of
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.services.activities import ActivityService

    settings = settings_of(args)
    keys = load_keys(settings)
    await upgrade_async(settings.database.url)
    db = Database(settings.database.url)
    return db, ActivityService(db, keys.activity_signer)


async def activities_add(args: argparse.Namespace) -> int:
    from bot.activity_input import TimeFormatError, parse_moment, parse_span
    from bot.services.activities import ActivityDraft

    try:
        starts_at, ends_at = parse_span(args.when)
        deadline = parse_moment(args.deadline) if args.deadline else starts_at
    except TimeFormatError as error:
        raise ValueError(f"--when / --deadline: {error}") from None
    draft = ActivityDraft(
        title=args.title, place=args.place, starts_at=starts_at, ends_at=ends_at,
        signup_deadline=deadline, capacity=args.capacity, street_ref=args.street,
        description=args.description, need=args.need,
    )  # fmt: skip
    db, service = await _open(args)
    try:
        activity_id = await service.create(draft, ACTOR)
    finally:
        await db.dispose()
    where = args.street or "the whole district"
    print(f"activity {activity_id} created for {where} and announced: {args.title}")
    return 0


async def activities_list(args: argparse.Namespace) -> int:
    from bot.timefmt import minute

    db, service = await _open(args)
    try:
        rows = await service.for_staff(ACTOR)
    finally:
        await db.dispose()
    print("id\tstarts\tstreet\ttitle\tconfirmed\tcapacity\twaiting\tstatus")
    for a in rows:
        print(f"{a.id}\t{minute(a.starts_at)}\t{a.street or '全区'}\t{a.title}\t"
              f"{a.confirmed}\t{a.capacity}\t{a.waiting}\t{a.status}")  # fmt: skip
    return 0


async def activities_attendance(args: argparse.Namespace) -> int:
    from bot.timefmt import minute

    db, service = await _open(args)
    try:
        activity, people = await service.attendance(args.activity, ACTOR)
    finally:
        await db.dispose()
    came = sum(1 for p in people if p.attended_at)
    print(f"activity {activity.id} {activity.title}: {activity.confirmed}/{activity.capacity} "
          f"confirmed, {activity.waiting} waiting, {came} attended")  # fmt: skip
    for p in people:
        at = minute(p.attended_at) if p.attended_at else "-"
        print(f"{p.member_number}\t{p.name}\t{p.status}\t{at}")
    return 0


async def activities_close(args: argparse.Namespace) -> int:
    db, service = await _open(args)
    try:
        came = await service.close(args.activity, ACTOR)
    finally:
        await db.dispose()
    print(f"activity {args.activity} closed: {came} attended; its cost may now be booked "
          "(unionbot subsidy book)")  # fmt: skip
    return 0


async def activities_call_off(args: argparse.Namespace) -> int:
    db, service = await _open(args)
    try:
        told = await service.call_off(args.activity, ACTOR, args.reason)
    finally:
        await db.dispose()
    print(f"activity {args.activity} cancelled; {told} members signed up or waiting are told")
    return 0


async def fourones(args: argparse.Namespace) -> int:
    from bot.services.admin import _street as street_by_ref
    from bot.services.four_ones import CompletionService

    db, _service = await _open(args)
    try:
        completion = CompletionService(db)
        if args.street:
            async with db.read() as session:
                street = await street_by_ref(session, args.street)
            rows = await completion.by_point(street.id)
        else:
            rows = await completion.by_street()
    finally:
        await db.dispose()
    print(("point" if args.street else "street")
          + "\tmembers\tservice card\tbenefit\tactivity\tall four")  # fmt: skip
    for r in rows:
        print(f"{r.name}\t{r.members}\t{r.service_card}\t{r.benefit}\t{r.activity}\t{r.all_four}")
    return 0
