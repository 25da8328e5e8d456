"""Bot runtime state kept in the database: conversation state and received updates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class FsmRecord(Base):
    """aiogram FSM state and data; the data is encrypted since forms hold id numbers."""

    __tablename__ = "fsm_state"

    key: Mapped[str] = mapped_column(Bounded(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(Bounded(100))
    data_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboxUpdate(Base):
    """Every update is stored before it is acknowledged; the key de-duplicates re-deliveries."""

    __tablename__ = "inbox_update"

    bot_id: Mapped[int] = mapped_column(ChatId, primary_key=True)
    update_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class UserPreference(Base):
    """A person's chosen language (/lang); absent means "follow Telegram's language"."""

    __tablename__ = "user_preference"

    telegram_user_id: Mapped[int] = mapped_column(ChatId, primary_key=True, autoincrement=False)
    locale: Mapped[str] = mapped_column(Bounded(8))
