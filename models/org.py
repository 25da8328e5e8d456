"""Streets, their joint unions, reception points and staff."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

POINT_KINDS = ("station", "building", "community", "online")
# union: the reviewers of an enterprise union founded through the bot (its own group).
STAFF_ROLES = ("street", "federation", "admin", "union")
UNION_KINDS = ("joint", "enterprise")


class Street(Base):
    __tablename__ = "street"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short code used in member numbers, e.g. "DS" → DS-2026-00001.
    code: Mapped[str] = mapped_column(Bounded(8), unique=True)
    name: Mapped[str] = mapped_column(Bounded(60), unique=True)
    review_chat_id: Mapped[int | None] = mapped_column(ChatId, unique=True)
    # What the street promises a waiting worker: a decision within this many working days
    # (None: `service.review_days`), and how to reach the street union.
    review_days: Mapped[int | None] = mapped_column(Integer)
    contact: Mapped[str | None] = mapped_column(Bounded(100))


class DailyDigest(Base):
    """A street's daily digest of waiting applications, claimed once per Beijing day."""

    __tablename__ = "daily_digest"

    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    waiting: Mapped[int] = mapped_column(Integer, default=0)


class WeeklyDigest(Base):
    """The federation's weekly digest, claimed once per ISO week ("2026-W49")."""

    __tablename__ = "weekly_digest"

    week: Mapped[str] = mapped_column(Bounded(8), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnionOrg(Base):
    __tablename__ = "union_org"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(Bounded(12))
    name: Mapped[str] = mapped_column(Bounded(120))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # An enterprise union founded through the bot: its own USCC (authority code 8), its
    # founding date and a contact for workers.
    uscc: Mapped[str | None] = mapped_column(Bounded(18), unique=True)
    founded_on: Mapped[date | None] = mapped_column(Date)
    contact: Mapped[str | None] = mapped_column(Bounded(100))
    # An enterprise union's own review group (/bind with a code of this union): its
    # applications and job changes are decided there, by its staff (role "union").
    review_chat_id: Mapped[int | None] = mapped_column(ChatId, unique=True)

    __table_args__ = (
        # One joint union per street: approvals look it up, and a second one would split
        # the street's members.
        Index(
            "uq_union_org_joint_street",
            "street_id",
            unique=True,
            sqlite_where=text("kind = 'joint'"),
            postgresql_where=text("kind = 'joint'"),
        ),
        # One enterprise union per enterprise.
        Index(
            "uq_union_org_enterprise",
            "enterprise_id",
            unique=True,
            sqlite_where=text("kind = 'enterprise'"),
            postgresql_where=text("kind = 'enterprise'"),
        ),
    )


class ReceptionPoint(Base):
    __tablename__ = "reception_point"

    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    # Opaque deep-link payload printed on the poster: t.me/<bot>?start=<code>.
    code: Mapped[str] = mapped_column(Bounded(64), unique=True)
    name: Mapped[str] = mapped_column(Bounded(120))
    kind: Mapped[str] = mapped_column(Bounded(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("street_id", "name"),)


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(ChatId, index=True)
    name: Mapped[str] = mapped_column(Bounded(60))
    role: Mapped[str] = mapped_column(Bounded(12))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    # For role "union": the enterprise union whose applications this person decides.
    union_org_id: Mapped[int | None] = mapped_column(ForeignKey("union_org.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        UniqueConstraint("telegram_user_id", "role", "street_id"),
        Index(
            "uq_staff_union_member",
            "telegram_user_id",
            "union_org_id",
            unique=True,
            sqlite_where=text("role = 'union'"),
            postgresql_where=text("role = 'union'"),
        ),
    )


class BindCode(Base):
    """A one-time code that makes a group chat the review group of a street, or of an
    enterprise union founded through the bot (/bind CODE): exactly one of the two."""

    __tablename__ = "bind_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(Bounded(64), unique=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    union_org_id: Mapped[int | None] = mapped_column(ForeignKey("union_org.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_in_chat_id: Mapped[int | None] = mapped_column(ChatId)


class UnboundGroup(Base):
    """Groups the bot was added to without a binding: told once, then ignored."""

    __tablename__ = "unbound_group"

    chat_id: Mapped[int] = mapped_column(ChatId, primary_key=True, autoincrement=False)
    told_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
