"""Enterprises that workers name as their employer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

ENTERPRISE_STATUSES = ("active", "closed", "moved_out")


class Enterprise(Base):
    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Bounded(120))
    # Normalised name used to reuse an enterprise that workers spell differently.
    name_key: Mapped[str] = mapped_column(Bounded(120), index=True)
    uscc: Mapped[str | None] = mapped_column(Bounded(18), unique=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    # Created from a worker's free text rather than from the registry.
    provisional: Mapped[bool] = mapped_column(Boolean, default=True)
    # When staff first vouched for a provisional enterprise: approved an application naming
    # it, picked it on a review card (🏢 更改单位), merged another into it or confirmed it
    # (/confirm, `unionbot enterprises confirm`). Only registered or confirmed enterprises
    # are offered to workers: a provisional name is whatever some worker typed.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Distinct approved, active individual members; recomputed in each approval.
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    # From the district's registry of non-public enterprises (非公企业法人数据库).
    address: Mapped[str | None] = mapped_column(Bounded(200))
    employees: Mapped[int | None] = mapped_column(Integer)
    has_union: Mapped[bool] = mapped_column(Boolean, default=False)
    # The enterprise's own union, when known (registry columns 工会名称 / 工会联系方式):
    # what a worker of a unionised enterprise is told so that they can join there.
    union_name: Mapped[str | None] = mapped_column(Bounded(120))
    union_contact: Mapped[str | None] = mapped_column(Bounded(100))
    # active | closed | moved_out (剔除): the last two drop out of coverage, keep history.
    status: Mapped[str] = mapped_column(Bounded(12), default="active")
    # A provisional enterprise merged into another one points at it.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=True)

    __table_args__ = (
        # Workers of one unregistered employer share one provisional enterprise, however
        # many of them submit at the same moment (they would split the count otherwise).
        Index(
            "uq_enterprise_provisional_name_key",
            "name_key",
            unique=True,
            sqlite_where=text("provisional = 1 AND merged_into_id IS NULL"),
            postgresql_where=text("provisional AND merged_into_id IS NULL"),
        ),
    )


ALIAS_SOURCES = ("registry", "staff")


class EnterpriseAlias(Base):
    """Another name workers use for an enterprise: a brand or store name (盒马鲜生), a
    short name (链家), an English name (ByteDance). The matcher finds the enterprise by it."""

    __tablename__ = "enterprise_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    alias: Mapped[str] = mapped_column(Bounded(100))
    # Comparison key (bot.services.enterprises.alias_key): "Luckin Coffee" and
    # "LUCKIN COFFEE" are one alias of an enterprise, stored once.
    alias_key: Mapped[str] = mapped_column(Bounded(120))
    # registry: replaced by each import of the enterprise; staff: kept until removed;
    # learned: a proposal from a staff correction that federation staff accepted.
    source: Mapped[str] = mapped_column(Bounded(12))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by_name: Mapped[str | None] = mapped_column(Bounded(60), nullable=True)

    __table_args__ = (UniqueConstraint("enterprise_id", "alias_key"),)


PROPOSAL_STATUSES = ("proposed", "accepted", "refused")
PROPOSAL_ORIGINS = ("employer_change", "merge")


class AliasProposal(Base):
    """A name learned from staff correcting a worker's employer, waiting for federation
    staff: accepted, it becomes an EnterpriseAlias; refused, it is kept so that the same
    name is never proposed for that enterprise again."""

    __tablename__ = "alias_proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    alias: Mapped[str] = mapped_column(Bounded(100))
    alias_key: Mapped[str] = mapped_column(Bounded(120))
    status: Mapped[str] = mapped_column(Bounded(10), default="proposed")
    origin: Mapped[str] = mapped_column(Bounded(16))
    # The application number (employer_change) or the merged enterprise's id (merge).
    origin_ref: Mapped[str] = mapped_column(Bounded(24))
    proposed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    proposed_by_name: Mapped[str] = mapped_column(Bounded(60))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ChatId)
    decided_by_name: Mapped[str | None] = mapped_column(Bounded(60))

    __table_args__ = (UniqueConstraint("enterprise_id", "alias_key"),)
