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

from sqlalchemy import exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db import Database
from bot.services import outbox
from bot.services.audit import Actor, record
from bot.services.unions import founded_union, joint_union
from models import Member, MembershipEvent, Street, UnionOrg
from models.base import utcnow

MEMBERS = Member.__table__
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
        found = [Misplaced(*row) for row in await session.execute(_misplaced())]
        if not found:
            return []
        now, moved, messages = utcnow(), [], []
        for member in found:
            right = await _right_union(session, member.member_id)
            await session.execute(
                update(MEMBERS).where(MEMBERS.c.id == member.member_id).values(union_org_id=right)
            )
            await session.execute(
                insert(EVENTS).values(
                    member_id=member.member_id, from_union_id=member.union_id,
                    to_union_id=right, reason="correction", actor_user_id=actor.user_id,
                    actor_name=actor.name, at=now,
                )
            )  # fmt: skip
            user = await session.scalar(
                select(MEMBERS.c.telegram_user_id).where(MEMBERS.c.id == member.member_id)
            )
            if user is not None:  # None: a paper member who has not claimed the application
                payload: dict[str, Any] = {"member_id": member.member_id}
                messages += [(user, "membership_moved", payload), (user, "member_card", payload)]
            moved.append((member, right))
        if messages:
            await outbox.enqueue_many(session, messages)
        await record(
            session, actor, "membership.corrected", "membership", "union_check",
            after={"members": [member.number for member, _right in moved]},
        )  # fmt: skip
        return moved


def _misplaced() -> Any:
    union = aliased(UnionOrg)
    moved_there = exists().where(
        EVENTS.c.member_id == Member.id, EVENTS.c.to_union_id == Member.union_org_id
    )
    return (
        select(Member.id, Member.number, Member.enterprise_id, union.id, union.name)
        .join(union, union.id == Member.union_org_id)
        .where(
            Member.status == "active",
            union.kind == "enterprise",
            union.enterprise_id != Member.enterprise_id,
            ~moved_there,
        )
        .order_by(Member.id)
    )


async def _right_union(session: AsyncSession, member_id: int) -> int:
    member = await session.get_one(Member, member_id)
    own, _chat = await founded_union(session, member.enterprise_id)
    if own is not None:
        return own
    union_id, _created = await joint_union(session, await session.get_one(Street, member.street_id))
    return union_id
