"""`unionbot enterprises …`: the registry at a terminal (import, search, show, status,
confirm, merge, aliases)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.services.audit import Actor

ACTOR = Actor.cli()
PROGRESS_FROM_ROWS = 2_000  # smaller files import faster than a progress line is read
WARNINGS_SHOWN = 10  # the rest are in <file>.warnings.csv


async def _database(args: argparse.Namespace) -> Any:
    from bot.cli import settings_of
    from bot.db import Database
    from bot.migrate import upgrade_async

    settings = settings_of(args)
    await upgrade_async(settings.database.url)
    return settings, Database(settings.database.url)


async def _service(args: argparse.Namespace) -> Any:
    from bot.services.enterprises import EnterpriseService

    settings, db = await _database(args)
    return EnterpriseService(
        db,
        threshold=settings.federation.founding_threshold,
        federation_chat_id=settings.federation.chat_id,
    )


def _progress(done: int, total: int) -> None:
    if total >= PROGRESS_FROM_ROWS:
        end = "\n" if done >= total else ""
        print(f"\r{done}/{total} rows", end=end, file=sys.stderr, flush=True)


async def enterprises_import(args: argparse.Namespace) -> int:
    from bot.services.registry import import_registry

    _settings, db = await _database(args)
    try:
        summary = await import_registry(
            db,
            args.file,
            progress=_progress,
            actor=ACTOR,
            require_uscc=not args.without_uscc,
        )
    finally:
        await db.dispose()
    used = ", ".join(f"{header} → {name}" for header, name in summary.columns)
    print(f"columns: {used}")
    if summary.ignored:
        print(f"ignored columns: {', '.join(summary.ignored)}")
    print(
        f"{summary.rows} rows: {summary.added} added, {summary.updated} updated "
        f"({summary.adopted} provisional adopted), {summary.unchanged} unchanged, "
        f"{summary.rejected} rejected, {len(summary.warnings)} warnings"
    )
    if any(name == "aliases" for _header, name in summary.columns):
        print(
            f"aliases: {summary.aliases_added} added, {summary.aliases_removed} removed "
            "(aliases added by staff are kept)"
        )
    for line, message in summary.warnings[:WARNINGS_SHOWN]:
        print(f"  line {line}: {message}")
    if len(summary.warnings) > WARNINGS_SHOWN:
        print(f"  … and {len(summary.warnings) - WARNINGS_SHOWN} more")
    if summary.warnings_path is not None:
        print(
            f"warnings (rows imported, a value left empty or read as shown): "
            f"{summary.warnings_path}"
        )
    if summary.unknown_streets:
        names = ", ".join(summary.unknown_streets)
        print(f"streets not set up (rows imported without a street): {names}")
    if summary.report_path is not None:
        print(f"rejected rows and reasons: {summary.report_path}")
    return 0


def _status_text(info: Any) -> str:
    parts = [info.status]
    if info.provisional:
        parts.append("provisional" if info.confirmed else "provisional, unconfirmed")
    if info.merged_into_id is not None:
        parts.append(f"merged into {info.merged_into_id}")
    return ", ".join(parts)


async def enterprises_search(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        hits = await service.search(" ".join(args.text), limit=args.limit)
    finally:
        await service.db.dispose()
    if not hits:
        print("no match")
    for hit in hits:
        info = hit.enterprise
        print(
            f"{info.id}\t{info.name}\t{info.uscc or '-'}\t{info.member_count} members\t"
            f"{_status_text(info)}\tscore {hit.score}"
        )
    return 0


def _union_text(info: Any) -> str:
    if not info.has_union:
        return "no"
    known = [part for part in (info.union_name, info.union_contact) if part]
    return "yes" + (f" ({', '.join(known)})" if known else "")


async def enterprises_show(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        info = await service.get(args.ref)
    finally:
        await service.db.dispose()
    rows = [
        ("id", info.id),
        ("name", info.name),
        ("USCC", info.uscc or "-"),
        ("street", info.street_name or "-"),
        ("status", _status_text(info)),
        ("provisional", "yes" if info.provisional else "no"),
        ("members", info.member_count),
        ("employees", "-" if info.employees is None else info.employees),
        ("has union", _union_text(info)),
        ("address", info.address or "-"),
    ]
    for label, value in rows:
        print(f"{label:<12}{value}")
    if not info.alerts:
        print(f"{'alerts':<12}none")
    for alert in info.alerts:
        followed = f", followed by {alert.followed_by}" if alert.followed_by else ""
        print(
            f"{'alert':<12}#{alert.id} at {alert.threshold} "
            f"({alert.member_count} members, {alert.created_at:%Y-%m-%d %H:%M} UTC{followed})"
        )
    return 0


async def enterprises_status(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        info = await service.set_status(args.ref, args.status, ACTOR)
    finally:
        await service.db.dispose()
    print(f"{info.id} {info.name}: {info.status}")
    return 0


async def enterprises_confirm(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        info, changed = await service.confirm(args.ref, ACTOR)
    finally:
        await service.db.dispose()
    if not info.provisional:
        print(f"{info.id} {info.name}: registered, nothing to confirm")
    else:
        print(f"{info.id} {info.name}: {'confirmed' if changed else 'already confirmed'}")
    return 0


async def enterprises_merge(args: argparse.Namespace) -> int:
    from bot.confirm import confirm

    service = await _service(args)
    try:
        # Checked as the merge will check it, so a refused merge is never asked about.
        source, target = await service.merge_preview(args.source, args.target)
        confirm(_merge_preview(source, target), yes=args.yes)
        result = await service.merge(source.id, target.id, ACTOR)
    finally:
        await service.db.dispose()
    print(
        f"merged {source.id} {source.name} into {target.id} {target.name}: "
        f"{result.members_moved} members and {result.applications_moved} applications moved; "
        f"{target.name} now has {result.target_count} members"
    )
    if result.alert_raised:
        print("the founding-threshold alert was sent to the federation group")
    return 0


def _merge_preview(source: Any, target: Any) -> list[str]:
    def line(label: str, info: Any) -> str:
        kind = "provisional" if info.provisional else "registered"
        facts = ", ".join([kind, info.uscc or "no USCC", info.street_name or "no street"])
        return f"  {label} #{info.id} {info.name} ({facts}): {info.member_count} members"

    return [
        "merge:",
        line("from", source),
        line("into", target),
        f"  #{source.id}'s members and applications move to #{target.id}, which is then "
        f"recounted; #{source.id} stays on record as merged into #{target.id}",
    ]


async def enterprises_rekey(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        changed = await service.rekey()
    finally:
        await service.db.dispose()
    print(f"{changed} name keys updated")
    return 0


def _alias_line(alias: Any) -> str:
    by = f" by {alias.created_by_name}" if alias.created_by_name else ""
    return f"{alias.alias}\t{alias.source}{by}\t{alias.created_at:%Y-%m-%d %H:%M} UTC"


async def enterprises_alias_list(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        info = await service.get(args.ref)
        aliases = await service.aliases(info.id)
    finally:
        await service.db.dispose()
    print(f"{info.id} {info.name}: {len(aliases)} aliases")
    for alias in aliases:
        print(f"  {_alias_line(alias)}")
    return 0


async def enterprises_alias_add(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        info = await service.get(args.ref)
        added = await service.add_aliases(info.id, args.alias, ACTOR)
    finally:
        await service.db.dispose()
    names = ", ".join(alias.alias for alias in added)
    print(f"{info.id} {info.name}: added {names}")
    return 0


async def enterprises_alias_remove(args: argparse.Namespace) -> int:
    service = await _service(args)
    try:
        info = await service.get(args.ref)
        removed = await service.remove_alias(info.id, args.alias, ACTOR)
    finally:
        await service.db.dispose()
    print(f"{info.id} {info.name}: removed {removed.alias} ({removed.source})")
    return 0


def _proposal_line(proposal: Any) -> str:
    origin = (
        f"merged enterprise #{proposal.origin_ref}"
        if proposal.origin == "merge"
        else f"application {proposal.origin_ref}"
    )
    return (
        f"#{proposal.id}\t{proposal.alias}\t→ {proposal.enterprise_id} "
        f"{proposal.enterprise_name}\t({origin}, {proposal.proposed_by}, "
        f"{proposal.proposed_at:%Y-%m-%d %H:%M} UTC)"
    )


async def enterprises_alias_proposals(args: argparse.Namespace) -> int:
    from bot.services.alias_proposals import AliasProposalService

    _settings, db = await _database(args)
    try:
        waiting, total = await AliasProposalService(db).pending(args.limit)
    finally:
        await db.dispose()
    print(f"{total} proposals waiting" + (f", the oldest {len(waiting)}:" if waiting else ""))
    for proposal in waiting:
        print(f"  {_proposal_line(proposal)}")
    return 0


async def enterprises_alias_decide(args: argparse.Namespace) -> int:
    """`alias accept N` or `alias refuse N` (args.accept)."""
    from bot.services.alias_proposals import AliasProposalService

    _settings, db = await _database(args)
    try:
        proposal = await AliasProposalService(db).decide(args.proposal, args.accept, ACTOR)
    finally:
        await db.dispose()
    done = "accepted as an alias of" if args.accept else "refused for"
    print(f"#{proposal.id} {proposal.alias}: {done} {proposal.enterprise_id} "
          f"{proposal.enterprise_name}")  # fmt: skip
    return 0
