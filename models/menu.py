"""The command menus the bot has set at Telegram, so a change can be applied as a diff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow


class CommandMenu(Base):
    """One command list set with setMyCommands: its scope and a digest of its commands.

    Telegram cannot list the scopes a bot has set, so without this a scope that is no
    longer wanted (a revoked staff member's private chat, a group that was unbound) could
    never be deleted."""

    __tablename__ = "command_menu"

    bot_id: Mapped[int] = mapped_column(ChatId, primary_key=True, autoincrement=False)
    # The scope as canonical JSON, e.g. {"chat_id": -100500, "type": "chat"}.
    scope_key: Mapped[str] = mapped_column(Bounded(120), primary_key=True)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(Bounded(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
