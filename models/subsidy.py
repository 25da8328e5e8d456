"""The activity subsidy (活动经费补贴): each street's yearly budget and an append-only ledger
in integer fen. A posting books (or refunds, or reverses) one activity's cost; its entries
split it among the members who attended, each against their street's budget."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class SubsidyBudget(Base):
    """What a street may spend on its individual members' activities in one year (fen).
    Set by federation staff; every change is audited."""

    __tablename__ = "subsidy_budget"

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    year: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("street_id", "year"),
        CheckConstraint("amount_fen >= 0", name="not_negative"),
    )


class SubsidyPosting(Base):
    """One booking, refund or reversal of an activity's cost. Never edited or deleted."""

    __tablename__ = "subsidy_posting"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"), index=True)
    kind: Mapped[str] = mapped_column(Bounded(12))  # booking, refund, reversal
    # A reversal names the posting it cancels, and a posting is reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("subsidy_posting.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # signed: refunds are negative
    attendees: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    created_by_name: Mapped[str] = mapped_column(Bounded(60))


class SubsidyEntry(Base):
    """One member's share of a posting, charged to the member's street in the activity's
    year. Never edited or deleted."""

    __tablename__ = "subsidy_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("subsidy_posting.id"), index=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    year: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_subsidy_entry_street_year", "street_id", "year"),)
