"""`unionbot cases …`: founding cases at a terminal (list, show, open, advance, back,
pause, resume, note). The command line acts as the administrator; every change is
audited like a press in the federation group, and the group's card is updated."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from bot.services.audit import Actor

ACTOR = Actor.cli()


async def _service(args: argparse.Namespace) -> Any:
    from bot.cli import settings_of
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.services.founding import FoundingService

    settings = settings_of(args)
    await upgrade_async(settings.database.url)
    db = Database(settings.database.url)
    return FoundingService(db, federation_chat_id=settings.federation.chat_id), settings


def _today() -> date:
    from bot import timefmt
    from models.base import utcnow

    return timefmt.local(utcnow()).date()


async def cases_list(args: argparse.Namespace) -> int:
    from bot.services.founding import overdue
    from models.base import utcnow

    service, settings = await _service(args)
    try:
        cases = await service.list(include_founded=args.all)
    finally:
        await service.db.dispose()
    if not cases:
        print("no open founding cases" if not args.all else "no founding cases")
        return 0
    now = utcnow()
    print("id\tstage\tdays\towner\tmembers\tenterprise")
    for case in cases:
        stage = case.stage + (" (paused)" if case.paused else "")
        late = overdue(
            case,
            now,
            idle=settings.federation.case_idle,
            preparing=settings.federation.case_preparing,
        )
        print(
            f"{case.id}\t{stage}{' ⏰' if late else ''}\t{case.days_in_stage(now)}\t"
            f"{case.owner_name or '-'}\t{case.member_count}\t{case.enterprise}"
        )
    return 0


def _print_case(case: Any) -> None:
    from bot import timefmt
    from models.base import utcnow

    rows = [
        ("case", f"#{case.id}"),
        ("enterprise", f"{case.enterprise} (id {case.enterprise_id}, {case.uscc or 'no USCC'})"),
        ("stage", case.stage + (f" (paused: {case.pause_reason})" if case.paused else "")),
        ("in stage", f"{case.days_in_stage(utcnow())} days, since {timefmt.day(case.stage_since)}"),
        ("owner", case.owner_name or "-"),
        ("members", case.member_count),
        ("opened", timefmt.minute(case.opened_at)),
    ]
    if case.paused and case.pause_note:
        rows.append(("pause note", case.pause_note))
    for stage in ("preparing", "assembly", "approved", "founded"):
        if stage in case.facts:
            recorded = case.facts[stage]
            rows.append((stage, ", ".join(f"{k}={_plain(v)}" for k, v in recorded.items())))
    for note in case.notes[-5:]:
        rows.append(("note", f"{note['at'][:10]} {note['by']}: {note['text']}"))
    for label, value in rows:
        print(f"{label:<12}{value}")


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return "/".join(_plain(v) for v in value)
    return str(value)


async def cases_show(args: argparse.Namespace) -> int:
    _print_case(await _change(args, lambda s: s.get(args.case)))
    return 0


async def cases_open(args: argparse.Namespace) -> int:
    from bot.services.enterprises import EnterpriseService

    service, settings = await _service(args)
    try:
        registry = EnterpriseService(
            service.db,
            threshold=settings.federation.founding_threshold,
            federation_chat_id=settings.federation.chat_id,
        )
        info = await registry.get(args.enterprise)
        case = await service.open(info.id, ACTOR)
    finally:
        await service.db.dispose()
    print(f"opened case #{case.id} for {case.enterprise} ({case.member_count} members)")
    return 0


def stage_facts(args: argparse.Namespace, stage: str) -> Any:
    """The next stage's facts from the options, checked as typed facts are."""
    from bot import founding_facts as ff

    today = _today()
    if args.date is None:
        raise ff.FactError("date.missing", value="--date YYYY-MM-DD is required")
    when = ff.parse_date(args.date, today)
    if stage == "preparing":
        if not args.member:
            raise ff.FactError("people.none", value='--member "NAME ROLE" (repeat)')
        return ff.Preparing(when, ff.people([(0, m) for m in args.member]))
    if stage == "assembly":
        if not args.chair or not args.committee:
            raise ff.FactError("people.none", value="--chair NAME and --committee NAME,NAME,…")
        relatives = False if args.no_close_relatives else None
        return ff.assembly(
            when, ff.names(args.committee), ff.person_name(args.chair), relatives
        )
    if stage == "approved":
        if not args.document:
            raise ff.FactError("document.empty", value="--document NUMBER")
        return ff.Approved(when, ff.short_text(args.document, ff.DOCUMENT_MAX, code="document"))
    missing = [o for o in ("name", "uscc", "contact") if not getattr(args, o)]
    if missing:
        raise ff.FactError("founded.missing", value=", ".join(f"--{o}" for o in missing))
    return ff.Founded(
        ff.short_text(args.name, ff.UNION_NAME_MAX, code="union_name"),
        ff.union_uscc(args.uscc),
        when,
        ff.short_text(args.contact, ff.CONTACT_MAX, code="contact"),
    )


async def cases_advance(args: argparse.Namespace) -> int:
    from bot.services.founding import CaseRefused
    from models.founding import CASE_STAGES

    service, _settings = await _service(args)
    try:
        case = await service.get(args.case)
        if case.stage == "founded":
            raise CaseRefused("founded")
        target = CASE_STAGES[CASE_STAGES.index(case.stage) + 1]
        facts = stage_facts(args, target)
        case = await service.advance(case.id, ACTOR, facts, version=case.version)
    finally:
        await service.db.dispose()
    print(f"case #{case.id}: now {case.stage}")
    return 0


async def _change(args: argparse.Namespace, change: Any) -> Any:
    """Run `change(service)` on the configured database and close it again."""
    service, _settings = await _service(args)
    try:
        return await change(service)
    finally:
        await service.db.dispose()


async def cases_back(args: argparse.Namespace) -> int:
    case = await _change(args, lambda s: s.back(args.case, ACTOR, args.reason))
    print(f"case #{case.id}: back to {case.stage}")
    return 0


async def cases_pause(args: argparse.Namespace) -> int:
    case = await _change(args, lambda s: s.pause(args.case, ACTOR, args.reason, args.note))
    print(f"case #{case.id}: paused ({case.pause_reason}) at {case.stage}")
    return 0


async def cases_resume(args: argparse.Namespace) -> int:
    case = await _change(args, lambda s: s.resume(args.case, ACTOR))
    print(f"case #{case.id}: resumed at {case.stage}")
    return 0


async def cases_note(args: argparse.Namespace) -> int:
    case = await _change(args, lambda s: s.note(args.case, ACTOR, " ".join(args.text)))
    print(f"case #{case.id}: note recorded")
    return 0


async def cases_transfer(args: argparse.Namespace) -> int:
    """Move a founded union's members now, showing progress (the bot's own job may be
    doing batches at the same moment: both are safe)."""
    import sys

    from bot.services.membership import MembershipService

    service, settings = await _service(args)
    membership = MembershipService(service.db, federation_chat_id=settings.federation.chat_id)

    def progress(view: Any) -> None:
        print(f"\r{view.moved} moved, {view.remaining} to go", end="", file=sys.stderr)

    try:
        started = await membership.start_transfer(args.case, ACTOR)
        done = await membership.run(started.id, progress)
    finally:
        await service.db.dispose()
    print("", file=sys.stderr)
    print(f"{done.moved} members moved to {done.union_name} ({done.status})")
    return 0


async def unions_members(args: argparse.Namespace) -> int:
    """A union's member list as an Excel file; full id numbers only when asked, audited."""
    from bot.app import load_keys
    from bot.services.rosters import roster, roster_xlsx

    service, settings = await _service(args)
    keys = load_keys(settings)
    try:
        name, rows = await roster(
            service.db, keys.cipher, args.union, full_ids=args.full_ids, actor=ACTOR
        )
    finally:
        await service.db.dispose()
    args.xlsx.write_bytes(roster_xlsx(rows))
    masked = "full id numbers (audited)" if args.full_ids else "id numbers masked"
    print(f"{len(rows)} members of {name} written to {args.xlsx} ({masked})")
    return 0


async def unions_list(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from models import Member, UnionOrg

    service, _settings = await _service(args)
    try:
        async with service.db.read() as session:
            rows = list(
                await session.execute(
                    select(UnionOrg.id, UnionOrg.kind, UnionOrg.name, func.count(Member.id))
                    .outerjoin(
                        Member, (Member.union_org_id == UnionOrg.id) & (Member.status == "active")
                    )
                    .group_by(UnionOrg.id, UnionOrg.kind, UnionOrg.name)
                    .order_by(UnionOrg.id)
                )
            )
    finally:
        await service.db.dispose()
    print("id\tkind\tmembers\tname")
    for union_id, kind, name, members in rows:
        print(f"{union_id}\t{kind}\t{members}\t{name}")
    return 0


async def unions_check(args: argparse.Namespace) -> int:
    """Members registered in another enterprise's union; with --fix, moved to their own."""
    from bot.confirm import confirm
    from bot.services.union_check import misplaced, repair

    service, _settings = await _service(args)
    try:
        found = await misplaced(service.db)
        if not found:
            print("every member is in their own enterprise's union or a joint union")
            return 0
        lines = [f"{len(found)} members are in another enterprise's union:"] + [
            f"  {m.number} (enterprise #{m.enterprise_id}) in #{m.union_id} {m.union_name}"
            for m in found
        ]
        print("\n".join(lines))
        if not args.fix:
            print("run again with --fix to move them to their own union")
            return 1
        confirm(["each is moved and sent a notice and a new member card"], yes=args.yes)
        moved = await repair(service.db, ACTOR)
    finally:
        await service.db.dispose()
    for member, union_id in moved:
        print(f"  {member.number} → union #{union_id}")
    print(f"{len(moved)} members moved")
    return 0
