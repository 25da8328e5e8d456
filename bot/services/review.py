"""Street staff decisions on applications. Each decision is one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, and_, bindparam, exists, insert, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.services import enterprises, outbox, sequences
from bot.services.alerts import raise_threshold_alert
from bot.services.audit import Actor, record
from bot.services.errors import AlreadyDecided, NotAllowed, NotFound
from bot.services.outbox import CardRef
from bot.services.unions import joint_union
from models import Application, Member, Staff, Street, UnionOrg
from models.application import REJECT_REASONS
from models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Approval:
    application_number: str
    member_number: str
    enterprise_count: int
    alert_raised: bool


@dataclass(frozen=True)
class Rejection:
    application_number: str
    reason: str


class ReviewService:
    def __init__(self, db: Database, *, federation_chat_id: int | None, threshold: int) -> None:
        self.db = db
        self.federation_chat_id = federation_chat_id
        self.threshold = threshold
        self._streets: dict[int, tuple[str, int]] = {}

    async def ensure_reviewer(self, application_id: int, actor: Actor) -> None:
        """A cheap pre-check for buttons that only change the keyboard (e.g. 'Reject…')."""
        async with self.db.read() as session:
            application = await _load_for_decision(session, application_id, actor)
            if application.status != "submitted":
                raise _already_decided(application)

    async def approve(self, application_id: int, actor: Actor, card: CardRef | None) -> Approval:
        async with self.db.transaction() as session:
            now = utcnow()
            application = await _approve(session, application_id, actor, now)
            street_id = application.street_id
            street_code, union_id = await self._street_facts(session, street_id)
            # After the enterprise's union is founded, its workers join it directly (read
            # under the enterprise's lock, so a transfer running now misses nobody).
            union_id = application.union_org_id or application.enterprise_union_id or union_id
            member_number = await sequences.next_member_number(session, street_id, street_code)
            member_id = await session.scalar(
                insert(MEMBERS)
                .values(
                    number=member_number,
                    application_id=application.id,
                    telegram_user_id=application.telegram_user_id,
                    ric_hash=application.ric_hash,
                    enterprise_id=application.enterprise_id,
                    union_org_id=union_id,
                    street_id=street_id,
                    status="active",
                    joined_at=now,
                )
                .returning(MEMBERS.c.id)
            )

            count = await enterprises.recount(session, application.enterprise_id)
            # Staff approved a worker naming it: a provisional enterprise is confirmed.
            confirmed = await enterprises.confirm(session, application.enterprise_id)
            alert_raised = await raise_threshold_alert(
                session, application.enterprise_id, count, self.threshold, self.federation_chat_id
            )
            await record(
                session,
                actor,
                "application.approved",
                "application",
                application.number,
                before={"status": "submitted"},
                after={
                    "status": "approved",
                    "member": member_number,
                    "count": count,
                    **({"enterprise_confirmed": True} if confirmed else {}),
                },
            )
            user = application.telegram_user_id
            messages = []
            if user is not None:  # None: a paper application not yet claimed
                messages += [
                    (user, "approved", {"member_id": member_id}),
                    (user, "member_card", {"member_id": member_id}),
                ]
            if card is not None:
                messages.append(_card_edit(card, application))
            if messages:
                await outbox.enqueue_many(session, messages)
            return Approval(application.number, member_number, count, alert_raised)

    async def _street_facts(self, session: AsyncSession, street_id: int) -> tuple[str, int]:
        """The street's code and joint union. Neither changes once created, so a
        process-wide memo saves two queries per approval; it only ever holds rows that
        were already committed (a union made by this transaction may yet roll back)."""
        facts = self._streets.get(street_id)
        if facts is None:
            street = await session.get_one(Street, street_id)
            union_id, created = await joint_union(session, street)
            facts = (street.code, union_id)
            if not created:
                self._streets[street_id] = facts
        return facts

    async def reject(
        self,
        application_id: int,
        actor: Actor,
        reason: str,
        note: str | None,
        card: CardRef | None,
    ) -> Rejection:
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        async with self.db.transaction() as session:
            application = await _reject(session, application_id, actor, utcnow(), reason, note)
            await record(
                session,
                actor,
                "application.rejected",
                "application",
                application.number,
                before={"status": "submitted"},
                after={"status": "rejected", "reason": reason, "note": note},
            )
            if application.telegram_user_id is not None:
                await outbox.enqueue(
                    session,
                    application.telegram_user_id,
                    "rejected",
                    application_id=application.id,
                )
            if card is not None:
                await outbox.enqueue_many(session, [_card_edit(card, application)])
            return Rejection(application.number, reason)


# Approvals are the hot path: plain Core tables, which skip the ORM's per-statement work.
APPLICATIONS = Application.__table__
STAFF = Staff.__table__
MEMBERS = Member.__table__
UNIONS = UnionOrg.__table__

_DECISION_COLUMNS = tuple(
    APPLICATIONS.c[name]
    for name in (
        "id",
        "number",
        "status",
        "street_id",
        "union_org_id",
        "enterprise_id",
        "telegram_user_id",
        "ric_hash",
        "submitted_at",
        "decided_at",
        "decided_by_name",
    )
)


async def _load_for_decision(session: AsyncSession, application_id: int, actor: Actor) -> Row:
    """What a decision needs, in one query with the reviewer check (plain columns, not
    ORM objects: approvals are the hot path)."""
    row = (
        await session.execute(
            select(*_DECISION_COLUMNS, _is_reviewer(actor).label("allowed")).where(
                APPLICATIONS.c.id == application_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("application")
    if not row.allowed:
        raise NotAllowed()
    return row


def _is_reviewer(actor: Actor) -> Any:
    """Server-side role check on every press: callback data can be forged."""
    return _reviewer(actor.user_id if actor.user_id is not None else 0)


def _reviewer(user: Any) -> Any:
    """Who decides an application: the staff of the enterprise union it is for, or the
    street's staff, unless that union has its own review group (then it decides alone)."""
    staff = STAFF.c
    street = exists().where(
        staff.telegram_user_id == user, staff.active.is_(True), staff.role == "street",
        staff.street_id == APPLICATIONS.c.street_id,
    )  # fmt: skip
    union_staff = exists().where(
        staff.telegram_user_id == user, staff.active.is_(True), staff.role == "union",
        staff.union_org_id == APPLICATIONS.c.union_org_id,
    )  # fmt: skip
    own_group = exists().where(
        UNIONS.c.id == APPLICATIONS.c.union_org_id, UNIONS.c.review_chat_id.is_not(None)
    )
    return or_(and_(street, ~own_group), union_staff)


async def _approve(session: AsyncSession, application_id: int, actor: Actor, now: datetime) -> Row:
    """An approval adds a member to the enterprise, so it takes the enterprise's lock
    first (the one lock order, see enterprises.lock) and then decides on the condition
    that the application still belongs to that enterprise (a merge or an employer change
    may have moved it meanwhile: then it tries again with the new one)."""
    for _attempt in range(5):
        enterprise_id = await session.scalar(_enterprise_of_statement(), {"app_id": application_id})
        if enterprise_id is None:
            raise NotFound("application")
        await enterprises.lock(session, [enterprise_id])
        decided = await _decide(
            session, application_id, actor, "approved", now, enterprise_id=enterprise_id
        )
        if decided is not None:
            return decided
    raise RuntimeError(f"application {application_id} kept moving between enterprises")


async def _reject(
    session: AsyncSession, application_id: int, actor: Actor, now: datetime,
    reason: str, note: str | None,
) -> Row:  # fmt: skip
    decided = await _decide(session, application_id, actor, "rejected", now, reason, note)
    if decided is None:
        raise RuntimeError("a rejection is not conditional on the enterprise")
    return decided


async def _decide(
    session: AsyncSession,
    application_id: int,
    actor: Actor,
    status: str,
    now: datetime,
    reason: str | None = None,
    note: str | None = None,
    *,
    enterprise_id: int | None = None,
) -> Row | None:
    """Invariant 1: one conditional UPDATE (still submitted, and the actor reviews this
    street) decides; whoever comes second changes nothing and learns why. None: the
    application is still open but no longer belongs to `enterprise_id`."""
    params = {
        "app_id": application_id,
        "actor_id": actor.user_id if actor.user_id is not None else 0,
        "new_status": status,
        "now": now,
        "actor_name": actor.name,
        "reason": reason,
        "note": note,
        "in_enterprise": enterprise_id,
    }
    statement = _decide_statement(in_enterprise=enterprise_id is not None)
    decided = (await session.execute(statement, params)).first()
    if decided is not None:
        return decided
    current = await _load_for_decision(session, application_id, actor)  # raises if not allowed
    if current.status != "submitted":
        raise _already_decided(current)
    return None


@cache
def _enterprise_of_statement() -> Any:
    return select(APPLICATIONS.c.enterprise_id).where(APPLICATIONS.c.id == bindparam("app_id"))


@cache
def _decide_statement(*, in_enterprise: bool) -> Any:
    """Built once: approvals are hot, and building the statement costs more than running it."""
    reviewer = _reviewer(bindparam("actor_id"))
    conditions = [
        APPLICATIONS.c.id == bindparam("app_id"),
        APPLICATIONS.c.status == "submitted",
        reviewer,
    ]
    if in_enterprise:
        conditions.append(APPLICATIONS.c.enterprise_id == bindparam("in_enterprise"))
    return (
        update(APPLICATIONS)
        .where(*conditions)
        .values(
            status=bindparam("new_status"),
            decided_at=bindparam("now", type_=APPLICATIONS.c.decided_at.type),
            decided_by_user_id=bindparam("actor_id"),
            decided_by_name=bindparam("actor_name"),
            reject_reason=bindparam("reason"),
            reject_note=bindparam("note"),
        )
        .returning(*_DECISION_COLUMNS, _enterprise_union().label("enterprise_union_id"))
    )


def _enterprise_union() -> Any:
    """The union founded at the application's enterprise through the bot, returned by
    the decision itself: read after the enterprise's lock, without a round trip."""
    # Named in full: SQLAlchemy writes RETURNING columns unqualified for SQLite, where a
    # bare enterprise_id inside this subquery is union_org's own (any founded union).
    application_enterprise = literal_column("application.enterprise_id")
    return (
        select(UNIONS.c.id)
        .where(UNIONS.c.kind == "enterprise", UNIONS.c.enterprise_id == application_enterprise)
        .scalar_subquery()
    )


def _already_decided(application: Row) -> AlreadyDecided:
    return AlreadyDecided(
        application.status,
        application.decided_by_name or "?",
        application.decided_at or application.submitted_at,
    )


def _card_edit(card: CardRef, application: Row) -> tuple[int, str, dict[str, Any]]:
    payload = {"application_id": application.id, "message_id": card.message_id}
    return (card.chat_id, "review_card_edit", payload)
