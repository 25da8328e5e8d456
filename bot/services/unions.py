"""Union organisations: each street's joint union (工会联合会), where individual members are
registered until their enterprise has a union of its own, and the enterprise unions
founded through the bot (names: bot/union_names.py)."""

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


async def founded_union(session: AsyncSession, enterprise_id: int) -> tuple[int | None, int | None]:
    """(the union founded at the enterprise through the bot, its own review group), in one
    query; (None, None) when there is none."""
    row = (
        await session.execute(
            select(UnionOrg.id, UnionOrg.review_chat_id).where(
                UnionOrg.kind == "enterprise", UnionOrg.enterprise_id == enterprise_id
            )
        )
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


async def enterprise_union(session: AsyncSession, enterprise_id: int) -> int | None:
    """The union founded at the enterprise through the bot, if there is one."""
    return (await founded_union(session, enterprise_id))[0]


_JOINT = select(UnionOrg.id).where(UnionOrg.kind == "joint")
