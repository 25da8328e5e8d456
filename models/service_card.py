"""The member service card (会员服务卡, in Beijing the 京卡): issued by the city federation,
tracked here from the member's request to the card collected at the service station."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

# requested → batched (in an export for the city federation) → sent → arrived → collected
CARD_STATUSES = ("requested", "batched", "sent", "arrived", "collected")
NEEDS = (
    "legal_aid", "skills", "health_check", "sports_culture", "childcare", "counselling",
    "hardship", "housing", "other",
)  # fmt: skip


class ServiceCardBatch(Base):
    """One export of a street's requests to the city federation."""

    __tablename__ = "service_card_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    number: Mapped[str] = mapped_column(Bounded(24), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(Bounded(60))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ServiceCardRequest(Base):
    __tablename__ = "service_card_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    status: Mapped[str] = mapped_column(Bounded(12), default="requested")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("service_card_batch.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collected_by: Mapped[str | None] = mapped_column(Bounded(60))

    # One card per member.
    __table_args__ = (UniqueConstraint("member_id"),)


class NeedsSurvey(Base):
    """What a member would like from the union, asked once with the card request."""

    __tablename__ = "needs_survey"

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    needs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_by: Mapped[int | None] = mapped_column(ChatId)
