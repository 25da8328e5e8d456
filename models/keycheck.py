"""Key check values: what the configured keys made of a constant when they were first used
with this database, so that a start with a different key is refused at once instead of
failing on every form and card."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Bounded, UTCDateTime, utcnow

KEY_KINDS = ("data", "lookup")


class KeyCheck(Base):
    __tablename__ = "key_check"

    # "data" (one row per data key id: an AES-GCM ciphertext) or "lookup" (key_id
    # "lookup": an HMAC). Neither reveals the key.
    kind: Mapped[str] = mapped_column(Bounded(8), primary_key=True)
    key_id: Mapped[str] = mapped_column(Bounded(255), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
