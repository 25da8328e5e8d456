"""Writing outbound notifications in the same transaction as the change that causes them.

Rows name a view and its arguments, not finished text: the sender renders them at send
time in the recipient's language, and personal data never sits in the outbox.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import OutboxMessage

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


def enqueue(session: AsyncSession, chat_id: int, kind: str, **payload: Any) -> OutboxMessage:
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    row = OutboxMessage(chat_id=chat_id, kind=kind, payload=payload)
    session.add(row)
    return row
