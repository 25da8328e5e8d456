"""Founding-threshold alerts to the federation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class ThresholdAlert(Base):
    __tablename__ = "threshold_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    threshold: Mapped[int] = mapped_column(Integer)
    member_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    followed_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    followed_by_name: Mapped[str | None] = mapped_column(Bounded(60))
    followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Nobody followed it up in time: the federation group was reminded (once).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The database guarantees the "exactly once" of invariant 3.
    __table_args__ = (UniqueConstraint("enterprise_id", "threshold"),)
