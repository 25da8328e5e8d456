"""Binding group chats to streets with one-time codes, and staff roles managed in chat."""

from __future__ import annotations

from bot.db import Database
from bot.pii import LookupHasher


class BindingService:
    def __init__(self, db: Database, hasher: LookupHasher) -> None:
        self.db = db
        self.hasher = hasher
