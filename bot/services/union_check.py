"""Members registered in another enterprise's union, found and moved to their own.

Until 45660ec an approval on SQLite put the new member into the first enterprise union
founded through the bot in the district, whatever their employer, so that union's roster
listed workers of other enterprises. A member is misplaced when their union is an
enterprise union that is not their enterprise's and no membership event moved them there
(a transfer or a job change records one). `repair` moves each to their enterprise's own
founded union, else their street's joint union: an event (reason `correction`), a notice
and a new card for the member, one audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db import Database
from bot.services.audit import Actor, record
from bot.services.membership import Move, move_members
from bot.services.unions import founded_union, joint_union
from models import Member, MembershipEvent, Street, UnionOrg

EVENTS = MembershipEvent.__table__


@dataclass(frozen=True)
class Misplaced:
    member_id: int
    number: str
    enterprise_id: int
    union_id: int  # where the member is
    union_name: str


async def misplaced(db: Database) -> list[Misplaced]:
    async with db.read() as session:
        return [Misplaced(*row) for row in await session.execute(_misplaced())]


async def repair(db: Database, actor: Actor) -> list[tuple[Misplaced, int]]:
    """Move every misplaced member to the union they belong to, in one transaction;
    (member, the union they were moved to) for each."""
    async with db.transaction() as session:
        rows = list(await session.execute(_misplaced(Member.street_id, Member.telegram_user_id)))
        if not rows:
            return []
        moved = []
        for *shown, street_id, telegram_user_id in rows:
            member = Misplaced(*shown)
            right = await _right_union(session, member.enterprise_id, street_id)
            moved.append((member, Move(member.member_id, member.union_id, right, telegram_user_id)))
        await move_members(session, [move for _member, move in moved], "correction", actor)
        await record(
            session, actor, "membership.corrected", "membership", "union_check",
            after={"members": [member.number for member, _move in moved]},
        )  # fmt: skip
        return [(member, move.to_union_id) for member, move in moved]


def _misplaced(*extra: Any) -> Any:
    """The misplaced members, as Misplaced's fields (then `extra` columns)."""
    union = aliased(UnionOrg)
    moved_there = exists().where(
        EVENTS.c.member_id == Member.id, EVENTS.c.to_union_id == Member.union_org_id
    )
    return (
        select(Member.id, Member.number, Member.enterprise_id, union.id, union.name, *extra)
        .join(union, union.id == Member.union_org_id)
        .where(
            Member.status == "active",
            union.kind == "enterprise",
            union.enterprise_id != Member.enterprise_id,
            ~moved_there,
        )
        .order_by(Member.id)
    )


async def _right_union(session: AsyncSession, enterprise_id: int, street_id: int) -> int:
    """The union founded at the enterprise, else the street's joint union."""
    own, _chat = await founded_union(session, enterprise_id)
    if own is not None:
        return own
    union_id, _created = await joint_union(session, await session.get_one(Street, street_id))
    return union_id
