"""A worker's application to join (单体入会申请)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, LargeBinary, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

STATUSES = ("submitted", "approved", "rejected", "withdrawn")
CHANNELS = ("qr", "online", "assisted")
REJECT_REASONS = ("incomplete", "outside_area", "duplicate", "other")


class Application(Base):
    __tablename__ = "application"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(Bounded(24), unique=True)
    status: Mapped[str] = mapped_column(Bounded(12), default="submitted")
    # None for a paper application entered by staff until the worker claims it.
    telegram_user_id: Mapped[int | None] = mapped_column(ChatId, index=True)
    language: Mapped[str] = mapped_column(Bounded(8), default="zh")

    name: Mapped[str] = mapped_column(Bounded(40))
    # Personal data: AES-GCM ciphertexts, plus a keyed hash to find the same person.
    ric_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    ric_hash: Mapped[str] = mapped_column(Bounded(64), index=True)
    mobile_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    gender: Mapped[str] = mapped_column(Bounded(8))
    birth_date: Mapped[date] = mapped_column(Date)
    # The employer as the form settled it: the enterprise's name when the worker picked
    # one, else what they typed.
    employer_text: Mapped[str] = mapped_column(Bounded(100))
    # What the worker typed at the employer step, whatever they then picked: the text
    # staff corrections learn an alias from (bot.services.alias_proposals).
    employer_typed: Mapped[str | None] = mapped_column(Bounded(100))
    # The branch or store typed after the employer (望京店): a note for the reviewers.
    employer_branch: Mapped[str | None] = mapped_column(Bounded(40))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    job: Mapped[str | None] = mapped_column(Bounded(60))
    # The employer already had a union when the worker applied and the worker chose to
    # join the street's joint union anyway: staff see it on the review card.
    employer_has_union: Mapped[bool] = mapped_column(Boolean, default=False)

    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"))
    # The enterprise union founded through the bot at the worker's employer: the
    # application is for it (decided in its own group when it has one). None: the
    # street's joint union.
    union_org_id: Mapped[int | None] = mapped_column(ForeignKey("union_org.id"))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("reception_point.id"))
    notice_version: Mapped[str] = mapped_column(Bounded(16))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    channel: Mapped[str] = mapped_column(Bounded(10), default="qr")
    assisted_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    assisted_by_name: Mapped[str | None] = mapped_column(Bounded(60))
    # One-time code (keyed hash) that lets the worker claim an assisted application.
    claim_hash: Mapped[str | None] = mapped_column(Bounded(64), unique=True)
    # Set when the personal data was erased (on request, or by the retention job).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    decided_by_name: Mapped[str | None] = mapped_column(Bounded(60))
    reject_reason: Mapped[str | None] = mapped_column(Bounded(16))
    reject_note: Mapped[str | None] = mapped_column(Bounded(200))

    __table_args__ = (
        # One open application per person, enforced by the database itself.
        Index(
            "uq_application_open_ric_hash",
            "ric_hash",
            unique=True,
            sqlite_where=text("status = 'submitted'"),
            postgresql_where=text("status = 'submitted'"),
        ),
        # The statistics count the days of a period outside whole months from the rows
        # (models.tally holds the whole months): these cover those queries.
        Index("ix_application_submitted", "submitted_at", "street_id", "point_id", "status"),
        Index("ix_application_decided", "decided_at", "street_id", "status", "submitted_at"),
    )
