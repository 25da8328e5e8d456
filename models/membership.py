"""Where a member's membership is (会籍), and every change of it (invariant 10)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

TRANSFER_STATUSES = ("running", "done")
# Why a membership changed: moved to the union founded at the member's enterprise
# (会籍接转); moved with a new job; kept while out of work (保留会籍, same union).
# correction: bot.services.union_check moved a member a past bug put in the wrong union.
EVENT_REASONS = ("enterprise_union", "job_change", "kept", "correction")
REQUEST_STATUSES = ("submitted", "accepted", "declined", "withdrawn")


class MembershipTransfer(Base):
    """Moving every active member of one enterprise to the union founded there: named by
    the enterprise, carried out in batches until none is left (resumable: a batch is one
    transaction, and a restarted bot goes on where it stopped)."""

    __tablename__ = "membership_transfer"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    # One transfer per receiving union; reopened when members arrive later (a merge).
    to_union_id: Mapped[int] = mapped_column(ForeignKey("union_org.id"), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("founding_case.id"))
    status: Mapped[str] = mapped_column(Bounded(12), default="running")
    moved: Mapped[int] = mapped_column(Integer, default=0)
    started_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    started_by_name: Mapped[str] = mapped_column(Bounded(60))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where to report progress and the outcome (the chat the transfer was started from).
    report_chat_id: Mapped[int | None] = mapped_column(ChatId)


class JobChangeRequest(Base):
    """A member's new job (动态接转): the union of the new workplace accepts or declines
    (the street of the new workplace, into its joint union, where the new employer has no
    union in the bot)."""

    __tablename__ = "job_change_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    employer_text: Mapped[str] = mapped_column(Bounded(100))
    from_enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    to_enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    from_union_id: Mapped[int] = mapped_column(ForeignKey("union_org.id"))
    to_union_id: Mapped[int] = mapped_column(ForeignKey("union_org.id"))
    # Whose staff decide: the street of the new workplace.
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    status: Mapped[str] = mapped_column(Bounded(12), default="submitted")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    decided_by_name: Mapped[str | None] = mapped_column(Bounded(60))

    __table_args__ = (
        # One open request per member.
        Index(
            "uq_job_change_request_open_member",
            "member_id",
            unique=True,
            sqlite_where=text("status = 'submitted'"),
            postgresql_where=text("status = 'submitted'"),
        ),
    )


class MembershipEvent(Base):
    """One change of a member's union: never updated or deleted (the database refuses)."""

    __tablename__ = "membership_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    from_union_id: Mapped[int | None] = mapped_column(ForeignKey("union_org.id"))
    to_union_id: Mapped[int | None] = mapped_column(ForeignKey("union_org.id"))
    reason: Mapped[str] = mapped_column(Bounded(24))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("membership_transfer.id"))
    actor_user_id: Mapped[int | None] = mapped_column(ChatId)
    actor_name: Mapped[str] = mapped_column(Bounded(60))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
