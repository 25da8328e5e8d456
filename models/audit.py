"""The audit log: who did what to whom, and when. Rows are only ever added."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ChatId, index=True)
    actor_name: Mapped[str] = mapped_column(Bounded(60))
    action: Mapped[str] = mapped_column(Bounded(40), index=True)
    subject_type: Mapped[str] = mapped_column(Bounded(24))
    subject_id: Mapped[str] = mapped_column(Bounded(40))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
