"""Street staff decisions on applications. Each decision is one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.services import enterprises, outbox, sequences
from bot.services.alerts import raise_threshold_alert
from bot.services.audit import Actor, record
from bot.services.errors import AlreadyDecided, NotAllowed, NotFound
from models import Application, Enterprise, Member, Staff, Street, UnionOrg
from models.application import REJECT_REASONS
from models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardRef:
    """Where the review card sits, so the decision can edit it in place."""

    chat_id: int
    message_id: int


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

    async def ensure_reviewer(self, application_id: int, actor: Actor) -> None:
        """A cheap pre-check for buttons that only change the keyboard (e.g. 'Reject…')."""
        async with self.db.read() as session:
            application = await _load(session, application_id)
            await _check_reviewer(session, application, actor)
            if application.status != "submitted":
                raise _already_decided(application)

    async def approve(self, application_id: int, actor: Actor, card: CardRef | None) -> Approval:
        async with self.db.transaction() as session:
            application = await _load(session, application_id)
            await _check_reviewer(session, application, actor)
            now = utcnow()
            await _decide(session, application, actor, "approved", now)

            street = await session.get_one(Street, application.street_id)
            union = await _joint_union(session, street)
            member = Member(
                number=await sequences.next_member_number(session, street.id, street.code),
                application_id=application.id,
                telegram_user_id=application.telegram_user_id,
                ric_hash=application.ric_hash,
                enterprise_id=application.enterprise_id,
                union_org_id=union.id,
                street_id=street.id,
                joined_at=now,
            )
            session.add(member)
            await session.flush()

            enterprise = await session.get_one(Enterprise, application.enterprise_id)
            count = await enterprises.recount(session, enterprise)
            alert_raised = await raise_threshold_alert(
                session, enterprise, count, self.threshold, self.federation_chat_id
            )

            record(
                session,
                actor,
                "application.approved",
                "application",
                application.number,
                before={"status": "submitted"},
                after={"status": "approved", "member": member.number, "count": count},
            )
            user = application.telegram_user_id
            outbox.enqueue(session, user, "approved", member_id=member.id)
            outbox.enqueue(session, user, "member_card", member_id=member.id)
            if card is not None:
                _enqueue_card_edit(session, card, application)
            return Approval(application.number, member.number, count, alert_raised)

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
            application = await _load(session, application_id)
            await _check_reviewer(session, application, actor)
            await _decide(session, application, actor, "rejected", utcnow(), reason, note)
            record(
                session,
                actor,
                "application.rejected",
                "application",
                application.number,
                before={"status": "submitted"},
                after={"status": "rejected", "reason": reason, "note": note},
            )
            outbox.enqueue(
                session, application.telegram_user_id, "rejected", application_id=application.id
            )
            if card is not None:
                _enqueue_card_edit(session, card, application)
            return Rejection(application.number, reason)


async def _load(session: AsyncSession, application_id: int) -> Application:
    application = await session.get(Application, application_id)
    if application is None:
        raise NotFound("application")
    return application


async def _check_reviewer(session: AsyncSession, application: Application, actor: Actor) -> None:
    """Server-side role check on every press: callback data can be forged."""
    if actor.user_id is None:
        raise NotAllowed()
    staff = await session.scalar(
        select(Staff.id).where(
            Staff.telegram_user_id == actor.user_id,
            Staff.active.is_(True),
            Staff.role == "street",
            Staff.street_id == application.street_id,
        )
    )
    if staff is None:
        raise NotAllowed()


async def _decide(
    session: AsyncSession,
    application: Application,
    actor: Actor,
    status: str,
    now: object,
    reason: str | None = None,
    note: str | None = None,
) -> None:
    """Invariant 1: a conditional update, so only one decision can ever win."""
    result = await session.execute(
        update(Application)
        .where(Application.id == application.id, Application.status == "submitted")
        .values(
            status=status,
            decided_at=now,
            decided_by_user_id=actor.user_id,
            decided_by_name=actor.name[:60],
            reject_reason=reason,
            reject_note=note,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(application)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _already_decided(application)


def _already_decided(application: Application) -> AlreadyDecided:
    return AlreadyDecided(
        application.status,
        application.decided_by_name or "?",
        application.decided_at or application.submitted_at,
    )


async def _joint_union(session: AsyncSession, street: Street) -> UnionOrg:
    union = await session.scalar(
        select(UnionOrg).where(UnionOrg.kind == "joint", UnionOrg.street_id == street.id)
    )
    if union is None:
        union = UnionOrg(kind="joint", name=f"{street.name}工会联合会", street_id=street.id)
        session.add(union)
        await session.flush()
    return union


def _enqueue_card_edit(session: AsyncSession, card: CardRef, application: Application) -> None:
    outbox.enqueue(
        session,
        card.chat_id,
        "review_card_edit",
        application_id=application.id,
        message_id=card.message_id,
    )
