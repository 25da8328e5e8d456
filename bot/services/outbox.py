"""Writing outbound notifications in the same transaction as the change that causes them.

Rows name a view and its arguments, not finished text: the sender renders them at send
time in the recipient's language, and personal data never sits in the outbox in plain
text (a handler's reply handed over here is sealed: see bot.handoff).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from models import Application, Member, OutboxMessage, Street
from models.base import utcnow

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class CardRef:
    """Where a card (a review card, a case card) sits, so a change can edit it in place."""

    chat_id: int
    message_id: int


# Views the sender knows how to render (see bot/views).
KINDS = (
    "review_card",  # new application → street review group
    "review_card_edit",  # the decided card, edited in place
    "application_received",  # to the worker after submitting
    "approved",  # to the worker, followed by "member_card"
    "member_card",  # the card image
    "rejected",  # to the worker, with the reason
    "threshold_alert",  # to the federation group
    "alert_followed_edit",  # the alert message, edited to show who follows it
    "reply",  # a handler's reply that could not go at once (sealed: it may hold anything)
    "delivery_failed",  # to staff: a message above failed for good
    "case_card",  # a founding case's card (federation group, or where staff asked)
    "case_card_edit",  # the case card, edited in place as the case moves
    "case_reminder",  # a case preparing too long, or idle: to the group and its owner
    "membership_moved",  # to a member whose membership moved, followed by "member_card"
    "transfer_done",  # a transfer finished: the count and the receiving union's roster
    "job_change_card",  # a member's new job → the new workplace's street review group
    "job_change_card_edit",  # that card, decided
    "job_change_received",  # to the member: the request is with the street
    "job_change_decided",  # to the member: accepted (then "member_card") or declined
    "review_digest",  # once a day to a review group: applications waiting too long
    "alert_reminder",  # to the federation group: an alert nobody followed up
    "service_card_arrived",  # to a member: collect the service card at the station
    "activity_announced",  # a new activity, to each member it is for (not opted out)
    "benefit_announced",  # a new benefit service, likewise
    "activity_promoted",  # to a member moved up from an activity's waitlist
    "activity_reminder",  # the day before, to each confirmed member
    "weekly_digest",  # to the federation group, once a week: the week's figures
    "weekly_digest_chart",  # with it: new members per month
    "activity_called_off",  # staff cancelled the activity: to each member on it or waiting
    "alias_proposal",  # to the federation group: a name learned from a staff correction
    "alias_proposal_edit",  # that message, edited to show the decision
)
# Kinds that change an existing message (the payload's message_id): repeating one is
# harmless, and pending ones for the same message collapse into the newest.
EDIT_KINDS = frozenset(
    {
        "review_card_edit",
        "alert_followed_edit",
        "case_card_edit",
        "job_change_card_edit",
        "alias_proposal_edit",
    }
)
# Failures of these are logged, not reported again (no report about a report).
REPORT_KINDS = frozenset({"delivery_failed"})


async def enqueue(session: AsyncSession, chat_id: int, kind: str, **payload: Any) -> None:
    await enqueue_many(session, [(chat_id, kind, payload)])


async def enqueue_many(
    session: AsyncSession, messages: list[tuple[int, str, dict[str, Any]]]
) -> None:
    """One INSERT for several messages (Core, not the unit of work: approvals are hot)."""
    for _chat_id, kind, _payload in messages:
        if kind not in KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}")
    now = utcnow()
    Database.flag(session, "outbox")  # wakes the sender once this transaction commits
    await session.execute(
        _insert(),
        [
            {
                "chat_id": chat_id,
                "kind": kind,
                "payload": payload,
                "created_at": now,
                "next_attempt_at": now,
                "target_message_id": _target(kind, payload),
            }
            for chat_id, kind, payload in messages
        ],
    )


def _target(kind: str, payload: dict[str, Any]) -> int | None:
    if kind in EDIT_KINDS or (kind == "reply" and payload.get("edits")):
        return int(payload.get("message_id") or payload.get("edits") or 0) or None
    return None


async def report_failure(
    session: AsyncSession,
    chat_id: int,
    kind: str,
    payload: dict[str, Any],
    reason: str,
    federation_chat_id: int | None,
) -> bool:
    """Tell the staff who can act that a message failed for good: the street's review
    group for a message to a worker (they can phone the person), the federation group
    for a message to a group (the bot may have been removed from it). False when nobody
    can be told (it is logged then)."""
    report: dict[str, Any] = {"failed_kind": kind, "reason": _reason_code(reason)}
    target: int | None = None
    if chat_id > 0:
        application_id = await _application_of(session, chat_id, payload)
        if application_id is not None:
            report["application_id"] = application_id
            target = await session.scalar(
                select(Street.review_chat_id)
                .join(Application, Application.street_id == Street.id)
                .where(Application.id == application_id)
            )
    elif chat_id != federation_chat_id:
        report["chat"] = chat_id
        target = federation_chat_id
    if target is None or target == chat_id:
        log.error("a %s message failed for good and no staff chat can be told", kind)
        return False
    await enqueue(session, target, "delivery_failed", **report)
    return True


async def _application_of(
    session: AsyncSession, chat_id: int, payload: dict[str, Any]
) -> int | None:
    if "application_id" in payload:
        return int(payload["application_id"])
    if "member_id" in payload:
        return await session.scalar(
            select(Member.application_id).where(Member.id == int(payload["member_id"]))
        )
    # A reply: the person's latest application, if they have one.
    return await session.scalar(
        select(Application.id)
        .where(Application.telegram_user_id == chat_id)
        .order_by(Application.id.desc())
        .limit(1)
    )


def _reason_code(reason: str) -> str:
    if reason.startswith(("TelegramForbiddenError", "TelegramNotFound")):
        return "blocked"
    if reason.startswith("cannot draw"):
        return "render"
    if reason.startswith("bad request"):
        return "refused"
    return "network"


@cache
def _insert() -> Any:
    # One prepared statement, parameters bound per call: approvals are hot.
    return insert(OutboxMessage.__table__)
