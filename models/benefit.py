"""Benefit services (普惠服务): a catalogue with quotas, claimed by members and redeemed once
with a signed single-use code."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class Benefit(Base):
    __tablename__ = "benefit"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: district-wide (for every street's members).
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    title: Mapped[str] = mapped_column(Bounded(60))
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(Bounded(60))
    quota: Mapped[int] = mapped_column(Integer)
    # Places taken; a claim takes one only while claimed < quota (one conditional UPDATE).
    claimed: Mapped[int] = mapped_column(Integer, default=0)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    # Announced to the members who ticked this need (models.service_card.NEEDS) in the
    # needs survey, and those who have not answered it; None: to every member.
    need: Mapped[str | None] = mapped_column(Bounded(20))
    # Only for members who have not had a benefit yet.
    first_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BenefitClaim(Base):
    __tablename__ = "benefit_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    benefit_id: Mapped[int] = mapped_column(ForeignKey("benefit.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    redeemed_by_name: Mapped[str | None] = mapped_column(Bounded(60))

    __table_args__ = (UniqueConstraint("benefit_id", "member_id"),)
