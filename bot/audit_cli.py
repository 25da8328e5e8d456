"""`unionbot audit`: list the audit log with filters, or export it as CSV for Excel."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit_filters import DEFAULT_LIMIT, AuditFilter, filter_of
from bot.db import Database
from bot.services.audit import Actor, record
from bot.timefmt import BEIJING
from models import AuditEntry

DETAILS_WIDTH = 60
CSV_COLUMNS = (
    "id",
    "time_beijing",
    "at_utc",
    "actor_user_id",
    "actor_name",
    "action",
    "subject_type",
    "subject_id",
    "before",
    "after",
)
# Excel runs a cell starting with one of these as a formula; names come from Telegram.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- querying -----------------------------------------------------------------------------
def statement(filters: AuditFilter, *, newest_first: bool = False) -> Any:
    query = select(AuditEntry)
    if filters.cli_actor:
        query = query.where(AuditEntry.actor_user_id.is_(None))
    elif filters.actor is not None:
        query = query.where(AuditEntry.actor_user_id == filters.actor)
    if filters.action:
        query = query.where(AuditEntry.action.startswith(filters.action, autoescape=True))
    if filters.subject_type:
        query = query.where(AuditEntry.subject_type == filters.subject_type)
    if filters.subject_id:
        query = query.where(AuditEntry.subject_id == filters.subject_id)
    if filters.since:
        query = query.where(AuditEntry.at >= filters.since.start)
    if filters.until:  # the whole day (or minute) given is included
        query = query.where(AuditEntry.at < filters.until.end)
    order = AuditEntry.id.desc() if newest_first else AuditEntry.id
    query = query.order_by(order)
    return query.limit(filters.limit) if filters.limit else query


async def find(db: Database, filters: AuditFilter, *, newest: bool = False) -> list[AuditEntry]:
    """Matching entries in order; with `newest` and a limit, the latest `limit` of them."""
    async with db.read() as session:
        entries = list(await session.scalars(statement(filters, newest_first=newest)))
    return entries[::-1] if newest else entries


# --- the table ----------------------------------------------------------------------------
def beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def actor_text(entry: AuditEntry) -> str:
    if entry.actor_user_id is None:
        return entry.actor_name
    return f"{entry.actor_name} ({entry.actor_user_id})"


def details(entry: AuditEntry) -> str:
    parts = []
    if entry.before:
        parts.append(_compact(entry.before))
    if entry.after:
        parts.append(_compact(entry.after))
    return " → ".join(parts)


def _compact(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def width(text: str) -> int:
    """Terminal cells: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clip(text: str, cells: int) -> str:
    if width(text) <= cells:
        return text
    out, used = "", 0
    for ch in text:
        if used + width(ch) > cells - 1:
            break
        out, used = out + ch, used + width(ch)
    return out + "…"


def table(entries: Sequence[AuditEntry]) -> str:
    header = ("#", "时间（北京）", "操作人", "动作", "对象", "变更")
    rows = [
        (
            str(e.id),
            beijing(e.at),
            actor_text(e),
            e.action,
            f"{e.subject_type}:{e.subject_id}",
            clip(details(e), DETAILS_WIDTH),
        )
        for e in entries
    ]
    widths = [max(width(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


# --- CSV ----------------------------------------------------------------------------------
def csv_row(entry: AuditEntry) -> list[Any]:
    return [
        entry.id,
        beijing(entry.at),
        entry.at.isoformat(),
        "" if entry.actor_user_id is None else entry.actor_user_id,
        _cell(entry.actor_name),
        _cell(entry.action),
        _cell(entry.subject_type),
        _cell(entry.subject_id),
        "" if entry.before is None else _compact(entry.before),
        "" if entry.after is None else _compact(entry.after),
    ]


def _cell(text: str) -> str:
    # A leading apostrophe makes Excel show the text instead of evaluating it.
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(entries: Sequence[AuditEntry], path: Path) -> None:
    """UTF-8 with a byte-order mark, so Excel reads the Chinese correctly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(csv_row(entry) for entry in entries)


async def export(db: Database, filters: AuditFilter, path: Path, actor: Actor) -> int:
    """Write the matching entries to `path`, then record the export itself (an insert,
    which the append-only log allows)."""
    entries = await find(db, filters)
    write_csv(entries, path)
    async with db.transaction() as session:
        await _record_export(session, actor, filters, path, len(entries))
    return len(entries)


async def _record_export(
    session: AsyncSession, actor: Actor, filters: AuditFilter, path: Path, rows: int
) -> None:
    after = {"rows": rows, "file": path.name, "filters": filters.describe()}
    await record(session, actor, "audit.exported", "audit_log", "csv", after=after)


def cli_actor() -> Actor:
    """The operating-system account that ran the command, as far as it can be told."""
    try:
        return Actor.cli(f"cli:{getpass.getuser()}")
    except (OSError, KeyError):
        return Actor.cli()


async def _database(args: argparse.Namespace) -> Database:
    from bot.cli import settings_of
    from bot.migrate import upgrade_async

    settings = settings_of(args)
    await upgrade_async(settings.database.url)
    return Database(settings.database.url)


async def audit_command(args: argparse.Namespace) -> int:
    from bot.confirm import confirm

    filters = filter_of(args)
    if args.csv is not None and args.csv.exists():
        confirm([f"{args.csv} exists and will be overwritten"], yes=args.yes)
    db = await _database(args)
    try:
        if args.csv is not None:
            rows = await export(db, filters, args.csv, cli_actor())
            print(f"{rows} entries written to {args.csv}")
            return 0
        if filters.limit is None:
            filters = replace(filters, limit=DEFAULT_LIMIT)
        entries = await find(db, filters, newest=True)
        if not entries:
            print("no matching entries")
            return 0
        print(table(entries))
        if len(entries) == filters.limit:
            print(f"(the latest {filters.limit} shown; use --limit or filters for more)")
        return 0
    finally:
        await db.dispose()
