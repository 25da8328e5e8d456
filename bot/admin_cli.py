"""Administrator subcommands: streets, reception points (and their posters), staff, seed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.menus_cli import refresh
from bot.services.admin import AdminService, Renamed
from bot.services.audit import Actor


@asynccontextmanager
async def _admin(args: argparse.Namespace) -> AsyncIterator[AdminService]:
    from bot.cli import database_of

    async with database_of(args) as db:
        yield AdminService(db)


ACTOR = Actor.cli()


async def streets_add(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        added = await admin.add_street(args.code, args.name, ACTOR)
    state = "added" if added else "already exists; nothing changed"
    print(f"street {args.code.upper()} {args.name} {state}")
    return 0


async def streets_rename(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        renamed = await admin.rename_street(args.code, args.new_name, ACTOR)
    print(_renamed_text(renamed))
    return 0


def _renamed_text(renamed: Renamed) -> str:
    return (
        f"street {renamed.code} renamed: {renamed.old_name} → {renamed.new_name} "
        f"(joint union: {renamed.joint_union})"
    )


async def streets_list(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        for street in await admin.streets():
            chat = street.review_chat_id or "(no review group)"
            print(f"{street.code}\t{street.name}\t{chat}")
    return 0


async def streets_set_chat(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        waiting = await admin.set_review_chat(args.street, args.chat_id, ACTOR)
        print(f"review group set; {waiting} waiting application(s) will be posted there")
        await refresh(args, admin.db)  # the group's menu gets the review commands
    return 0


async def streets_bind_code(args: argparse.Namespace) -> int:
    from bot.app import load_keys
    from bot.cli import settings_of
    from bot.keycheck import check_keys
    from bot.services.binding import BindingService
    from bot.timefmt import minute

    settings = settings_of(args)
    keys = load_keys(settings)  # a malformed key fails before the database opens
    async with _admin(args) as admin:
        await check_keys(settings, keys.cipher, keys.hasher)  # a code the bot could not check
        binding = BindingService(admin.db, keys.hasher)
        code, expires = await binding.create_code(args.street, ACTOR, timedelta(hours=args.hours))
    print(f"bind code for {args.street}: {code}")
    print(f"valid once, until {minute(expires)} Beijing time")
    print(f"在审核群中由管理员发送 /bind {code}")
    return 0


async def points_add(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        code = await admin.add_point(args.street, args.name, args.kind, ACTOR, args.code)
    print(f"reception point {args.name}: code {code}")
    return 0


async def points_list(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        for point in await admin.points(args.street):
            state = "" if point.active else "\t(retired)"
            print(f"{point.code}\t{point.street}\t{point.kind}\t{point.name}{state}")
    return 0


async def points_retire(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        await admin.retire_point(args.code, ACTOR)
    print(f"reception point {args.code} retired")
    return 0


async def points_posters(args: argparse.Namespace) -> int:
    from bot.cli import settings_of
    from bot.posters import write_posters

    settings = settings_of(args)
    async with _admin(args) as admin:
        points = [p for p in await admin.points(args.street) if p.active]
    written = await write_posters(settings, points, args.out, warn=_note)
    print(f"{written} posters written to {args.out}/")
    return 0


def _note(text: str) -> None:
    print(f"unionbot: {text}", file=sys.stderr)


async def staff_add(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        await admin.add_staff(args.telegram_user_id, args.name, args.role, args.street, ACTOR)
        print(f"{args.name} ({args.telegram_user_id}) is now {args.role} staff")
        await refresh(args, admin.db)  # their private chat gets their commands
    return 0


async def staff_remove(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        count = await admin.remove_staff(args.telegram_user_id, ACTOR)
        print(f"{count} role(s) withdrawn")
        await refresh(args, admin.db)  # back to the worker menu
    return 0


async def staff_list(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        for staff, street in await admin.staff():
            state = "" if staff.active else "\t(removed)"
            print(f"{staff.telegram_user_id}\t{staff.name}\t{staff.role}\t{street or '-'}{state}")
    return 0


async def seed_file(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        summary = await admin.seed(args.file, ACTOR)
        print(f"seeded {summary.streets} streets, {summary.points} points, {summary.staff} staff")
        for renamed in summary.renamed:  # a seed file may rename: say so, never silently
            print(_renamed_text(renamed))
        await refresh(args, admin.db)
    return 0


async def streets_set_service(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        days, contact = await admin.set_service(
            args.code, ACTOR, review_days=args.review_days, contact=args.contact
        )
    shown = f"{days} working days" if days else "the configured default"
    print(f"street {args.code.upper()}: review within {shown}; contact: {contact or '-'}")
    return 0


async def unions_bind_code(args: argparse.Namespace) -> int:
    """A one-time code that makes a group an enterprise union's review group."""
    from bot.app import load_keys
    from bot.cli import settings_of
    from bot.keycheck import check_keys
    from bot.services.binding import BindingService
    from bot.timefmt import minute

    settings = settings_of(args)
    keys = load_keys(settings)
    async with _admin(args) as admin:
        await check_keys(settings, keys.cipher, keys.hasher)
        binding = BindingService(admin.db, keys.hasher)
        code, expires = await binding.create_union_code(
            args.union, ACTOR, timedelta(hours=args.hours)
        )
    print(f"bind code for union {args.union}: {code}")
    print(f"valid once, until {minute(expires)} Beijing time")
    print(f"在企业工会的审核群中由管理员发送 /bind {code}")
    return 0


async def unions_set_chat(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        waiting = await admin.set_union_review_chat(args.union, args.chat_id, ACTOR)
    print(f"union {args.union}: review group {args.chat_id} ({waiting} waiting applications sent)")
    return 0


async def unions_add_staff(args: argparse.Namespace) -> int:
    async with _admin(args) as admin:
        await admin.add_union_staff(args.telegram_user_id, args.name, args.union, ACTOR)
        print(f"{args.name} ({args.telegram_user_id}) now reviews for union {args.union}")
        await refresh(args, admin.db)
    return 0
