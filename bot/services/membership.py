"""Membership transfer (会籍接转): once an enterprise's union is founded, every active member
of that enterprise moves from the street's joint union to it.

The transfer names its members by their enterprise and is carried out in batches, each
one transaction that takes the enterprise's lock (the one lock order: see
enterprises.lock), moves the members it selects, writes one membership event per member
and queues each member's notice and new card. A member is therefore never half moved, and
told once; a crash loses at most the batch in flight, and the next run goes on where the
last one stopped. Members who arrive later (a merge) reopen the transfer; approvals after
the founding register new members in the enterprise union directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database, dialect_insert
from bot.services import enterprises, outbox
from bot.services.audit import Actor, record
from bot.services.errors import DomainError, NotFound
from bot.services.founding import refresh_cards
from bot.services.roles import require_federation
from bot.services.unions import enterprise_union
from models import (
    FoundingCase,
    Member,
    MembershipEvent,
    MembershipTransfer,
    UnionOrg,
)
from models.base import utcnow

BATCH = 200
MEMBERS = Member.__table__
TRANSFERS = MembershipTransfer.__table__
EVENTS = MembershipEvent.__table__


class TransferRefused(DomainError):
    """`code`: not_founded (the case has no union yet)."""

    def __init__(self, code: str) -> None:
        super().__init__({"not_founded": "the enterprise union is not founded yet"}.get(code, code))
        self.code = code


@dataclass(frozen=True)
class TransferView:
    id: int
    enterprise_id: int
    to_union_id: int
    union_name: str
    status: str
    moved: int
    remaining: int
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class EventView:
    at: datetime
    from_union: str | None
    to_union: str | None
    reason: str


async def reopen_for(session: AsyncSession, enterprise_id: int) -> bool:
    """Members arrived at an enterprise whose members were transferred (a merge): the
    transfer runs again for them. True if there was one to reopen."""
    result = await session.execute(
        update(TRANSFERS)
        .where(TRANSFERS.c.enterprise_id == enterprise_id, TRANSFERS.c.status == "done")
        .values(status="running", finished_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class MembershipService:
    def __init__(self, db: Database, *, federation_chat_id: int | None) -> None:
        self.db = db
        self.federation_chat_id = federation_chat_id

    async def start_transfer(
        self, case_id: int, actor: Actor, *, chat_id: int | None = None
    ) -> TransferView:
        """Start moving the founded enterprise's members to its union (a second start
        returns the transfer that exists). The work is done by `run`."""
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            case = await session.get(FoundingCase, case_id)
            if case is None:
                raise NotFound("case")
            union_id = await enterprise_union(session, case.enterprise_id)
            if case.stage != "founded" or union_id is None:
                raise TransferRefused("not_founded")
            inserted = await session.scalar(
                dialect_insert(session)(TRANSFERS)
                .values(
                    enterprise_id=case.enterprise_id, to_union_id=union_id, case_id=case.id,
                    status="running", moved=0, started_by_user_id=actor.user_id,
                    started_by_name=actor.name, started_at=utcnow(),
                    report_chat_id=chat_id if chat_id is not None else self.federation_chat_id,
                )
                .on_conflict_do_nothing()
                .returning(TRANSFERS.c.id)
            )  # fmt: skip
            if inserted is not None:
                await record(
                    session, actor, "membership.transfer_started", "membership_transfer",
                    inserted, after={"enterprise_id": case.enterprise_id, "to_union": union_id},
                )  # fmt: skip
                await refresh_cards(session, case.id, None, self.federation_chat_id)
            transfer_id = await session.scalar(
                select(TRANSFERS.c.id).where(TRANSFERS.c.to_union_id == union_id)
            )
            return await transfer_view(session, transfer_id)

    async def get(self, transfer_id: int) -> TransferView:
        async with self.db.read() as session:
            return await transfer_view(session, transfer_id)

    async def running(self) -> list[int]:
        async with self.db.read() as session:
            return list(
                await session.scalars(
                    select(TRANSFERS.c.id)
                    .where(TRANSFERS.c.status == "running")
                    .order_by(TRANSFERS.c.id)
                )
            )

    async def run(
        self, transfer_id: int, progress: Callable[[TransferView], None] | None = None
    ) -> TransferView:
        """Batches until every member is moved; safe to run in several places at once."""
        while await self.run_batch(transfer_id):
            if progress is not None:
                progress(await self.get(transfer_id))
        return await self.get(transfer_id)

    async def run_batch(self, transfer_id: int, size: int = BATCH) -> int:
        """Move up to `size` members in one transaction; 0 when none was left (the
        transfer is then marked done, audited and reported)."""
        async with self.db.transaction() as session:
            transfer = (
                await session.execute(select(TRANSFERS).where(TRANSFERS.c.id == transfer_id))
            ).first()
            if transfer is None:
                raise NotFound("transfer")
            await enterprises.lock(session, [transfer.enterprise_id])
            status = await session.scalar(  # after the lock: exact on PostgreSQL
                select(TRANSFERS.c.status).where(TRANSFERS.c.id == transfer_id)
            )
            if status != "running":
                return 0
            rows = list(
                await session.execute(
                    select(MEMBERS.c.id, MEMBERS.c.union_org_id, MEMBERS.c.telegram_user_id)
                    .where(
                        MEMBERS.c.enterprise_id == transfer.enterprise_id,
                        MEMBERS.c.status == "active",
                        MEMBERS.c.kept_since.is_(None),  # out of work: not the union's
                        MEMBERS.c.union_org_id != transfer.to_union_id,
                    )
                    .order_by(MEMBERS.c.id)
                    .limit(size)
                )
            )
            if not rows:
                await self._finish(session, transfer)
                return 0
            moves = [Move(row.id, row.union_org_id, transfer.to_union_id, row.telegram_user_id)
                     for row in rows]  # fmt: skip
            actor = Actor(transfer.started_by_user_id, transfer.started_by_name)
            await move_members(session, moves, "enterprise_union", actor, transfer.id)
            await session.execute(
                update(TRANSFERS)
                .where(TRANSFERS.c.id == transfer_id)
                .values(moved=TRANSFERS.c.moved + len(rows))
            )
            if transfer.case_id is not None:  # the card shows the progress
                await refresh_cards(session, transfer.case_id, None, self.federation_chat_id)
            return len(rows)

    async def _finish(self, session: AsyncSession, transfer: Any) -> None:
        now = utcnow()
        await session.execute(
            update(TRANSFERS)
            .where(TRANSFERS.c.id == transfer.id)
            .values(status="done", finished_at=now)
        )
        await record(
            session,
            Actor(transfer.started_by_user_id, transfer.started_by_name),
            "membership.transferred",
            "membership_transfer",
            transfer.id,
            after={"moved": transfer.moved, "to_union": transfer.to_union_id},
        )
        if transfer.report_chat_id is not None:
            await outbox.enqueue(
                session, transfer.report_chat_id, "transfer_done", transfer_id=transfer.id
            )
        if transfer.case_id is not None:
            await refresh_cards(session, transfer.case_id, None, self.federation_chat_id)

    async def history(self, member_id: int) -> list[EventView]:
        """A member's union changes, oldest first."""
        async with self.db.read() as session:
            return await events_of(session, member_id)


@dataclass(frozen=True)
class Move:
    member_id: int
    from_union_id: int
    to_union_id: int
    telegram_user_id: int | None  # None: a paper member who has not claimed it yet


async def move_members(
    session: AsyncSession,
    moves: Sequence[Move],
    reason: str,
    actor: Actor,
    transfer_id: int | None = None,
) -> None:
    """Put each member in their new union, in the caller's transaction: one membership
    event each (never rewritten), and each member told, with a new card."""
    now = utcnow()
    for to_union_id in {move.to_union_id for move in moves}:
        ids = [move.member_id for move in moves if move.to_union_id == to_union_id]
        await session.execute(
            update(MEMBERS).where(MEMBERS.c.id.in_(ids)).values(union_org_id=to_union_id)
        )
    await session.execute(
        insert(EVENTS),
        [
            {
                "member_id": move.member_id, "from_union_id": move.from_union_id,
                "to_union_id": move.to_union_id, "reason": reason, "transfer_id": transfer_id,
                "actor_user_id": actor.user_id, "actor_name": actor.name, "at": now,
            }
            for move in moves
        ],
    )  # fmt: skip
    messages: list[tuple[int, str, dict[str, Any]]] = []
    for move in moves:
        if move.telegram_user_id is not None:
            payload = {"member_id": move.member_id}
            messages += [(move.telegram_user_id, "membership_moved", payload),
                         (move.telegram_user_id, "member_card", payload)]  # fmt: skip
    if messages:
        await outbox.enqueue_many(session, messages)


async def events_of(session: AsyncSession, member_id: int) -> list[EventView]:
    from_union = UnionOrg.__table__.alias("from_union")
    to_union = UnionOrg.__table__.alias("to_union")
    rows = await session.execute(
        select(EVENTS.c.at, from_union.c.name, to_union.c.name, EVENTS.c.reason)
        .outerjoin(from_union, from_union.c.id == EVENTS.c.from_union_id)
        .outerjoin(to_union, to_union.c.id == EVENTS.c.to_union_id)
        .where(EVENTS.c.member_id == member_id)
        .order_by(EVENTS.c.id)
    )
    return [EventView(at, source, target, reason) for at, source, target, reason in rows]


async def transfer_view(session: AsyncSession, transfer_id: int | None) -> TransferView:
    row = (
        await session.execute(
            select(TRANSFERS, UnionOrg.name)
            .join(UnionOrg, UnionOrg.id == TRANSFERS.c.to_union_id)
            .where(TRANSFERS.c.id == transfer_id)
        )
    ).first()
    if row is None:
        raise NotFound("transfer")
    remaining = await session.scalar(
        select(func.count(MEMBERS.c.id)).where(
            MEMBERS.c.enterprise_id == row.enterprise_id,
            MEMBERS.c.status == "active",
            MEMBERS.c.kept_since.is_(None),
            MEMBERS.c.union_org_id != row.to_union_id,
        )
    )
    return TransferView(
        id=row.id,
        enterprise_id=row.enterprise_id,
        to_union_id=row.to_union_id,
        union_name=row.name,
        status=row.status,
        moved=row.moved,
        remaining=int(remaining or 0),
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
