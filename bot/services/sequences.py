"""Human-readable numbers, allocated inside the caller's write transaction.

Application numbers: SQ<yyyymmdd>-<4 digits>, e.g. SQ20261123-0007 (per Beijing day).
Member numbers: <street code>-<year>-<5 digits>, e.g. DS-2026-00025 (per street and year).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
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
    table = model.__table__  # Core: this runs in every approval
    where = [table.c[column] == value for column, value in key.items()]
    result = await session.execute(
        update(table).where(*where).values(last=table.c.last + 1).returning(table.c.last)
    )
    last = result.scalar_one_or_none()
    if last is None:
        session.add(model(**key, last=1))
        await session.flush()
        last = 1
    return int(last)
