"""Union activities (工会活动): places, sign-ups with a waitlist, check-ins at the door, and
the members who asked for no announcements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class Activity(Base):
    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: district-wide (for every street's members).
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"), index=True)
    title: Mapped[str] = mapped_column(Bounded(60))
    place: Mapped[str] = mapped_column(Bounded(100))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signup_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    # One of models.service_card.NEEDS: announced to the members who ticked it in the
    # needs survey (and those who have not answered it); None: to every member.
    need: Mapped[str | None] = mapped_column(Bounded(20))
    # Confirmed places: raised only while below capacity, by one conditional UPDATE, and
    # the database refuses anything above it (invariant 12).
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    # open → closed (attendance final, the cost may be booked) or cancelled.
    status: Mapped[str] = mapped_column(Bounded(12), default="open")
    created_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    created_by_name: Mapped[str] = mapped_column(Bounded(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the day before
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("confirmed >= 0 AND confirmed <= capacity", name="places"),
        CheckConstraint("capacity >= 1", name="capacity"),
    )


class ActivitySignup(Base):
    __tablename__ = "activity_signup"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    # confirmed, waiting (the waitlist, in queued_at order) or cancelled.
    status: Mapped[str] = mapped_column(Bounded(12))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    checked_in_by_name: Mapped[str | None] = mapped_column(Bounded(60))

    __table_args__ = (
        UniqueConstraint("activity_id", "member_id"),
        Index("ix_activity_signup_queue", "activity_id", "status", "queued_at"),
    )


class AnnouncementOptOut(Base):
    """A person who sent /notify off: no announcements of activities or benefits."""

    __tablename__ = "announcement_opt_out"

    telegram_user_id: Mapped[int] = mapped_column(ChatId, primary_key=True, autoincrement=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
