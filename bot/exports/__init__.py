"""The federation's and the streets' Excel exports (issue 10, "Exports").

One entry point, `ExportService.write(topic, out, ...)`, used by the command line
(`unionbot export …`), the chat (`/export …` in a staff group) and the dashboard:

- members (会员名册), applications (入会申请), enterprises (企业与建会进度), cases (建会工作),
  activities (活动与签到: two sheets) and ledger (经费台账, the subsidy service's workbook);
- `street_id` None is the whole district (federation staff, administrators, the command
  line); a street's staff get their own street only;
- resident id and mobile numbers are masked as staff see them on screen; full numbers
  (`full_ids`) only for the command line, which is the administrator;
- every export is audited (`export.<topic>`: who, which street, how many rows, whether
  full numbers), with no personal data in the audit row; the row is written before the
  file is, so an export that fails half-way is still on record;
- the rows are read in one snapshot (REPEATABLE READ on PostgreSQL; a SQLite read
  transaction is one), counted, then streamed in chunks of 1,000 into a write-only
  workbook (bot.xlsx.write_streamed): decrypting, masking and writing each chunk run in
  a worker thread, so a 100,000-row export neither fills memory nor stalls the bot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.exports import ledger
from bot.exports.topics import BUILDERS, Part, Scope
from bot.pii import PiiCipher
from bot.services.admin import StreetRef
from bot.services.admin import _street as street_by_ref
from bot.services.audit import Actor, record
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.roles import DISTRICT_ROLES, has_role
from bot.xlsx import Chunk, StreamedSheet, write_streamed
from models import Street
from models.base import utcnow

TOPICS = ("members", "applications", "enterprises", "cases", "activities", "ledger")
TITLES = {
    "members": "会员名册", "applications": "入会申请", "enterprises": "企业与建会进度",
    "cases": "建会工作", "activities": "活动与签到", "ledger": "经费台账",
}  # fmt: skip
# Topics with resident id and mobile numbers (the others hold none to show in full).
PERSONAL = frozenset({"members", "applications"})
# Topics with a year of their own: joined, submitted, opened, starts, the ledger's year.
BY_YEAR = frozenset({"members", "applications", "cases", "activities", "ledger"})
CHUNK = 1_000
Out = str | PathLike[str] | BinaryIO
Progress = Callable[[int, int], None]  # (rows written, rows in all)


class ExportRefused(DomainError):
    """`code`: topic (no such topic), full_ids (the topic holds no id numbers), year (the
    topic has no year, or the year is not plausible)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "topic": "no export named {topic}; one of: " + ", ".join(TOPICS),
        "full_ids": "{topic} holds no id or mobile numbers; --full-ids is for members "
        "and applications",
        "year": "{topic} cannot be limited to a year",
        "bad_year": "{year} is not a plausible year",
    }

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(self.MESSAGES[code].format(**extra))
        self.code, self.extra = code, extra


class ExportService:
    def __init__(
        self, db: Database, cipher: PiiCipher, threshold: int, *, at_once: int = 2
    ) -> None:
        self.db, self.cipher, self.threshold = db, cipher, threshold
        # Exports are CPU and disk work: a few at a time, the others wait their turn.
        self._turns = asyncio.Semaphore(at_once)

    async def street(self, ref: str) -> StreetRef:
        """A street by code or name (NotFound otherwise)."""
        async with self.db.read() as session:
            street = await street_by_ref(session, ref)
            return StreetRef(street.id, street.code, street.name)

    async def write(
        self,
        topic: str,
        out: Out,
        *,
        actor: Actor,
        street_id: int | None = None,
        full_ids: bool = False,
        year: int | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Write `topic`'s workbook to `out` (a path or a binary file); the number of rows
        written (of every sheet, the headers not counted). NotAllowed unless `actor` may
        see that street (or the district, `street_id` None), or asks for full numbers
        without being the command line; ExportRefused for a topic, year or full_ids that
        does not fit; NotFound for an unknown street."""
        if topic not in TOPICS:
            raise ExportRefused("topic", topic=topic)
        if full_ids and topic not in PERSONAL:
            raise ExportRefused("full_ids", topic=topic)
        if year is not None and topic not in BY_YEAR:
            raise ExportRefused("year", topic=topic)
        if year is not None and not 2000 <= year <= 2100:
            raise ExportRefused("bad_year", year=year)
        if full_ids and actor.user_id is not None:
            raise NotAllowed()  # full numbers: the command line (an administrator) only
        async with self._turns:
            if topic == "ledger":
                return await self._ledger(out, actor, street_id, year)
            async with self.db.read() as session:
                await _one_snapshot(session)
                street = await _allowed(session, actor, street_id)
                scope = Scope(self.cipher, self.threshold, street_id, year, full_ids, utcnow())
                parts = BUILDERS[topic](scope)
                counts = [await session.scalar(_count(p.statement)) or 0 for p in parts]
                total = sum(counts)
                await self._audit(actor, topic, street, total, full_ids=full_ids, year=year)
                sheets = [_streamed(session, part) for part in parts]
                written = await write_streamed(
                    out, sheets,
                    progress=None if progress is None else lambda n: progress(n, total),
                )  # fmt: skip
        return sum(written)

    async def _ledger(self, out: Out, actor: Actor, street_id: int | None, year: int | None) -> int:
        from bot.services.subsidy import SubsidyService

        async with self.db.read() as session:
            street = await _allowed(session, actor, street_id)
        data = await SubsidyService(self.db).ledger_xlsx(year)
        if street is None:
            rows = await asyncio.to_thread(ledger.entries, data)
        else:
            data, rows = await asyncio.to_thread(ledger.for_street, data, street.name)
        await self._audit(actor, "ledger", street, rows, full_ids=False, year=year)
        await asyncio.to_thread(_put, out, data)
        return rows

    async def _audit(
        self, actor: Actor, topic: str, street: StreetRef | None, rows: int, *,
        full_ids: bool, year: int | None,
    ) -> None:  # fmt: skip
        async with self.db.transaction() as session:
            await record(
                session, actor, f"export.{topic}", "export", street.code if street else "district",
                after={"rows": rows, "street": street.code if street else None,
                       "full_ids": full_ids, "year": year},
            )  # fmt: skip


async def _allowed(session: AsyncSession, actor: Actor, street_id: int | None) -> StreetRef | None:
    """The street of the export (None: the district), if `actor` may have it: the command
    line; federation staff and administrators anything; a street's staff their street."""
    street = None
    if street_id is not None:
        row = (
            await session.execute(
                select(Street.id, Street.code, Street.name).where(Street.id == street_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"street {street_id}")
        street = StreetRef(*row)
    if actor.user_id is None or await has_role(session, actor.user_id, DISTRICT_ROLES):
        return street
    if street is not None and await has_role(
        session, actor.user_id, ("street",), street_id=street.id
    ):
        return street
    raise NotAllowed()


async def _one_snapshot(session: AsyncSession) -> None:
    """Every statement of the export sees the same rows, so the counts audited and the
    sheets agree (SQLite's read transaction is one snapshot already). Before any statement."""
    if session.bind.dialect.name == "postgresql":
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )


def _count(statement: Select[Any]) -> Select[Any]:
    return select(func.count()).select_from(statement.order_by(None).subquery())


def _streamed(session: AsyncSession, part: Part) -> StreamedSheet:
    return StreamedSheet(part.title, part.headers, _chunks(session, part.statement), part.convert)


async def _chunks(session: AsyncSession, statement: Select[Any]) -> AsyncIterator[Chunk]:
    """The statement's rows, a chunk at a time, from a server-side cursor."""
    connection = await session.connection()
    result = await connection.stream(statement.execution_options(yield_per=CHUNK))
    async for chunk in result.partitions(CHUNK):
        yield chunk


def _put(out: Out, data: bytes) -> None:
    if isinstance(out, str | PathLike):
        Path(out).write_bytes(data)
    else:
        out.write(data)
