"""Data-subject rights (/mydata, /delete) and the retention job."""

from __future__ import annotations

from bot.db import Database
from bot.pii import LookupHasher, PiiCipher


class PrivacyService:
    def __init__(
        self,
        db: Database,
        cipher: PiiCipher,
        hasher: LookupHasher,
        *,
        threshold: int,
        federation_chat_id: int | None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.hasher = hasher
        self.threshold = threshold
        self.federation_chat_id = federation_chat_id
