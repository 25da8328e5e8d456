"""Bot runtime state kept in the database: conversation state and received updates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, LargeBinary, Text, text
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
    """Every update is stored before it is acknowledged; the key de-duplicates re-deliveries.

    `owner` is the bot process handling it (another takes over when that one dies);
    `chat_key`/`user_key` say whose conversation it belongs to, so that one person's
    updates are handled in order even when they reach different processes.
    """

    __tablename__ = "inbox_update"

    bot_id: Mapped[int] = mapped_column(ChatId, primary_key=True)
    update_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    owner: Mapped[str | None] = mapped_column(Bounded(36))
    chat_key: Mapped[int | None] = mapped_column(ChatId)
    user_key: Mapped[int | None] = mapped_column(ChatId)

    __table_args__ = (
        # The updates still to handle, by conversation: small, and asked for each update.
        Index(
            "ix_inbox_update_open",
            "bot_id",
            "chat_key",
            "user_key",
            "update_id",
            sqlite_where=text("done = 0"),
            postgresql_where=text("NOT done"),
        ),
    )


class BotInstance(Base):
    """A running bot process: who it is, for messages like "another instance is running
    on host h (pid 123) since ...". Whether it is alive is told by a lock it holds, not by
    this row (see bot.locks)."""

    __tablename__ = "bot_instance"

    id: Mapped[str] = mapped_column(Bounded(36), primary_key=True)
    bot_id: Mapped[int] = mapped_column(ChatId)
    host: Mapped[str] = mapped_column(Bounded(255))
    pid: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(Bounded(12))  # polling | webhook
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SendWindow(Base):
    """When the bot last sent into a chat (chat_id 0: into any chat), for Telegram's flood
    limits across processes: the send times inside the current window, oldest first, as
    seconds since the epoch separated by commas."""

    __tablename__ = "send_window"

    chat_id: Mapped[int] = mapped_column(ChatId, primary_key=True, autoincrement=False)
    times: Mapped[str] = mapped_column(Text, default="")


class UserPreference(Base):
    """A person's chosen language (/lang); absent means "follow Telegram's language"."""

    __tablename__ = "user_preference"

    telegram_user_id: Mapped[int] = mapped_column(ChatId, primary_key=True, autoincrement=False)
    locale: Mapped[str] = mapped_column(Bounded(8))


class ChangeStamp(Base):
    """How often a fact that processes cache (streets and reception points; the
    enterprise registry) has changed: bumped in the changing transaction itself, so a
    process that polls it (SQLite) drops its copy after any other process's change."""

    __tablename__ = "change_stamp"

    topic: Mapped[str] = mapped_column(Bounded(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
