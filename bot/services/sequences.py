"""Human-readable numbers, allocated inside the caller's write transaction.

Application numbers: SQ<yyyymmdd>-<4 digits>, e.g. SQ20261123-0007 (per Beijing day).
Member numbers: <street code>-<year>-<5 digits>, e.g. DS-2026-00025 (per street and year).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.timefmt import local
from models import ApplicationSequence, MemberSequence
from models.base import utcnow


async def next_application_number(session: AsyncSession) -> str:
    day = local(utcnow()).strftime("%Y%m%d")
    last = await _bump(session, ApplicationSequence, {"day": day})
    return f"SQ{day}-{last:04d}"


async def next_member_number(session: AsyncSession, street_id: int, street_code: str) -> str:
    year = local(utcnow()).year
    last = await _bump(session, MemberSequence, {"street_id": street_id, "year": year})
    return f"{street_code}-{year}-{last:05d}"


async def _bump(session: AsyncSession, model: Any, key: dict[str, Any]) -> int:
    result = await session.execute(_bump_statement(model, session.bind.dialect.name), key)
    return int(result.scalar_one())


@cache
def _bump_statement(model: Any, dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the first number of a day (or year)
    and every later one in one statement, so simultaneous first submissions never race
    (an UPDATE-then-INSERT lets two of them insert). Built once per table and dialect."""
    table = model.__table__
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    keys = [column.name for column in table.primary_key.columns]
    statement = insert(table).values({**{k: bindparam(k) for k in keys}, "last": 1})
    return statement.on_conflict_do_update(
        index_elements=keys, set_={"last": table.c.last + 1}
    ).returning(table.c.last)
