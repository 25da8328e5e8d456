"""The founding-threshold alert: a domain event raised inside the approval transaction."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.services import outbox
from bot.services.audit import Actor, record
from bot.services.errors import AlreadyFollowed, NotAllowed, NotFound
from bot.services.founding import CaseRefused, open_case
from bot.services.roles import has_role
from models import Enterprise, ThresholdAlert
from models.base import utcnow

log = logging.getLogger(__name__)


async def raise_threshold_alert(
    session: AsyncSession,
    enterprise_id: int,
    count: int,
    threshold: int,
    federation_chat_id: int | None,
) -> bool:
    """Create the (enterprise, threshold) alert once; the unique key makes it exactly once.

    An enterprise that already has a union is not a founding case, however many of its
    workers joined the street's joint union: no alert. Approvals are serialised on the
    enterprise by the write transaction, so the existence check is exact; the unique
    constraint is the backstop for PostgreSQL.
    """
    if count < threshold:
        return False
    alerted = (
        select(ThresholdAlert.id)
        .where(ThresholdAlert.enterprise_id == enterprise_id, ThresholdAlert.threshold == threshold)
        .exists()
    )
    has_union, exists = (
        await session.execute(
            select(Enterprise.has_union, alerted).where(Enterprise.id == enterprise_id)
        )
    ).one()
    if has_union or exists:
        return False
    alert = ThresholdAlert(enterprise_id=enterprise_id, threshold=threshold, member_count=count)
    session.add(alert)
    await session.flush()
    if federation_chat_id is None:
        log.warning("threshold alert %s raised but no federation chat is configured", alert.id)
    else:
        await outbox.enqueue(session, federation_chat_id, "threshold_alert", alert_id=alert.id)
    return True


class AlertService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def check_follow(self, alert_id: int, actor: Actor) -> None:
        """Raise what `follow_up` would raise (NotAllowed, NotFound, AlreadyFollowed),
        changing nothing: for presses that must not act."""
        async with self.db.read() as session:
            if not await has_role(session, actor.user_id, ("federation", "admin")):
                raise NotAllowed()
            alert = await session.get(ThresholdAlert, alert_id)
            if alert is None:
                raise NotFound("alert")
            if alert.followed_by_name is not None:
                raise AlreadyFollowed(alert.followed_by_name, alert.followed_at or utcnow())

    async def follow_up(
        self, alert_id: int, actor: Actor, chat_id: int, message_id: int
    ) -> int | None:
        """Take the alert on; the founding case it opens (None: none was opened)."""
        async with self.db.transaction() as session:
            if not await has_role(session, actor.user_id, ("federation", "admin")):
                raise NotAllowed()
            alert = await session.get(ThresholdAlert, alert_id)
            if alert is None:
                raise NotFound("alert")
            now = utcnow()
            result = await session.execute(
                update(ThresholdAlert)
                .where(ThresholdAlert.id == alert_id, ThresholdAlert.followed_by_name.is_(None))
                .values(
                    followed_by_user_id=actor.user_id,
                    followed_by_name=actor.name,
                    followed_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            await session.refresh(alert)
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise AlreadyFollowed(alert.followed_by_name or "?", alert.followed_at or now)
            await record(session, actor, "alert.followed", "threshold_alert", alert_id)
            messages: list[tuple[int, str, dict[str, Any]]] = [
                (chat_id, "alert_followed_edit", {"alert_id": alert_id, "message_id": message_id})
            ]
            case_id = await _open_case_for(session, alert, actor)
            if case_id is not None:  # its card, below the alert, follows the work from here
                messages.append((chat_id, "case_card", {"case_id": case_id}))
            await outbox.enqueue_many(session, messages)
            return case_id


async def _open_case_for(session: AsyncSession, alert: ThresholdAlert, actor: Actor) -> int | None:
    """The follow-up opens the enterprise's founding case, owned by who pressed; None when
    there is nothing to open: a case exists already (opened by hand before the alert), or
    the enterprise has a union or is gone since the alert."""
    try:
        case_id, created = await open_case(
            session, alert.enterprise_id, actor, alert_id=alert.id
        )
    except CaseRefused:
        return None
    return case_id if created else None
