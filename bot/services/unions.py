"""Union organisations: each street's joint union (工会联合会), where individual members are
registered until their enterprise has a union of its own (names: bot/union_names.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_insert
from bot.union_names import joint_union_name
from models import Street, UnionOrg
from models.base import utcnow


async def joint_union(session: AsyncSession, street: Street) -> tuple[int, bool]:
    """(id of the street's joint union, created now). Streets get theirs when they are
    added; the unique index makes a racing second insert a no-op."""
    found = await session.scalar(_JOINT.where(UnionOrg.street_id == street.id))
    if found is not None:
        return found, False
    inserted = await session.scalar(
        dialect_insert(session)(UnionOrg.__table__)
        .values(kind="joint", name=joint_union_name(street.name), street_id=street.id,
                created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(UnionOrg.id)
    )  # fmt: skip
    if inserted is not None:
        return inserted, True
    return await session.scalar(_JOINT.where(UnionOrg.street_id == street.id)), False


_JOINT = select(UnionOrg.id).where(UnionOrg.kind == "joint")
