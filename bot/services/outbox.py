"""Writing outbound notifications in the same transaction as the change that causes them.

Rows name a view and its arguments, not finished text: the sender renders them at send
time in the recipient's language, and personal data never sits in the outbox.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from models import OutboxMessage
from models.base import utcnow

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
)


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
            }
            for chat_id, kind, payload in messages
        ],
    )


@cache
def _insert() -> Any:
    # One prepared statement, parameters bound per call: approvals are hot.
    return insert(OutboxMessage.__table__)
