"""Members (会员) and the per-street sequence behind member numbers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

MEMBER_STATUSES = ("active", "ended")


class Member(Base):
    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(Bounded(24), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    telegram_user_id: Mapped[int | None] = mapped_column(ChatId, index=True)
    ric_hash: Mapped[str] = mapped_column(Bounded(64))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    union_org_id: Mapped[int] = mapped_column(ForeignKey("union_org.id"))
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    status: Mapped[str] = mapped_column(Bounded(12), default="active")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 保留会籍: out of work or retired, still a member, counted toward no enterprise
    # (`enterprise_id` stays the last employer) until a new job is accepted.
    kept_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The four ones' items done, kept by database triggers from the service cards, the
    # benefit claims and the activity sign-ups (models/tally_triggers.py), so that the
    # statistics count them from models.tally instead of asking three tables per member.
    card_done: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    benefit_done: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    activity_done: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )

    __table_args__ = (
        # A person is an active member once, however many applications they made.
        Index(
            "uq_member_active_ric_hash",
            "ric_hash",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # The statistics count the days of a period outside whole months from the rows.
        Index("ix_member_joined", "joined_at", "street_id"),
    )


class MemberSequence(Base):
    __tablename__ = "member_sequence"

    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ApplicationSequence(Base):
    __tablename__ = "application_sequence"

    day: Mapped[str] = mapped_column(Bounded(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
