"""Human-readable numbers, allocated inside the caller's write transaction.

Application numbers: SQ<yyyymmdd>-<4 digits>, e.g. SQ20261123-0007 (per Beijing day).
Member numbers: <street code>-<year>-<5 digits>, e.g. DS-2026-00025 (per street and year).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, update
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
    params = {f"key_{column}": value for column, value in key.items()}
    result = await session.execute(_bump_statement(model, tuple(key)), params)
    last = result.scalar_one_or_none()
    if last is None:
        session.add(model(**key, last=1))
        await session.flush()
        last = 1
    return int(last)


@cache
def _bump_statement(model: Any, columns: tuple[str, ...]) -> Any:
    """Built once per sequence table (Core, bound parameters): every approval runs it."""
    table = model.__table__
    where = [table.c[column] == bindparam(f"key_{column}") for column in columns]
    return update(table).where(*where).values(last=table.c.last + 1).returning(table.c.last)
