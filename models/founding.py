"""The federation's work with one enterprise towards its own union (建会工作)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, ChatId, UTCDateTime, utcnow

# In order: a case moves one stage forward at a time, or back one with a reason.
CASE_STAGES = ("following", "preparing", "assembly", "approved", "founded")
PAUSE_REASONS = ("refused", "closed", "moved_out", "too_few", "other")


class FoundingCase(Base):
    __tablename__ = "founding_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One case per enterprise, for its whole life (a paused case is resumed, not reopened).
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), unique=True)
    stage: Mapped[str] = mapped_column(Bounded(12), default="following")
    # The side state 暂缓: the stage is kept, so resuming returns to it.
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(Bounded(12))
    pause_note: Mapped[str | None] = mapped_column(Bounded(200))
    # Who answers for the case: None when it was opened at the command line.
    owner_user_id: Mapped[int | None] = mapped_column(ChatId)
    owner_name: Mapped[str | None] = mapped_column(Bounded(60))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("threshold_alert.id"))
    # What each reached stage recorded ({stage: {...}}) and the running notes.
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stage_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last change of any kind (a note counts): the idle reminder's clock.
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Reminders already sent, so that each is sent once per stage / idle spell.
    reminded_stage_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_idle_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped by every change: a press on an older card, or two presses at once, act once.
    version: Mapped[int] = mapped_column(Integer, default=1)
