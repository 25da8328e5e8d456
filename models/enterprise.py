"""Enterprises that workers name as their employer."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class Enterprise(Base):
    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # Normalised name used to reuse an enterprise that workers spell differently.
    name_key: Mapped[str] = mapped_column(String(120), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    # Created from a worker's free text rather than from the registry.
    provisional: Mapped[bool] = mapped_column(Boolean, default=True)
    # Distinct approved, active individual members; recomputed in each approval.
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
