"""The transactional outbox: messages written with the state change that causes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

# superseded: an edit of a message that a later edit of the same message replaces.
OUTBOX_STATUSES = ("pending", "sent", "failed", "superseded")


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ChatId)
    # What to do: "message", "edit", "member_card"; payload holds the method's arguments
    # (never plaintext personal data: cards are rendered at send time).
    kind: Mapped[str] = mapped_column(Bounded(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(Bounded(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_message_id: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The message an edit changes: pending edits of one message collapse into the last.
    target_message_id: Mapped[int | None] = mapped_column(Integer)
    # Intent: when the sender last put the request on the wire. A row with an intent and
    # no result after a crash may have been delivered (see bot.sender).
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
