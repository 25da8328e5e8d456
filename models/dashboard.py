"""The web dashboard's sign-in links and sessions. Only keyed hashes of the link tokens and
session ids are stored: a copy of the database opens nobody's dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class DashboardLink(Base):
    """A one-time sign-in link that /dashboard sent a staff member in their private chat."""

    __tablename__ = "dashboard_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(Bounded(64), unique=True)
    user_id: Mapped[int] = mapped_column(ChatId, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by the one conditional UPDATE that turns the link into a session.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DashboardSession(Base):
    """A signed-in browser. What it may see is decided at every request from the person's
    current staff roles, never stored here."""

    __tablename__ = "dashboard_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(Bounded(64), unique=True)
    user_id: Mapped[int] = mapped_column(ChatId, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
