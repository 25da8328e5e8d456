"""People's language choices."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select

from bot.db import Database
from models import UserPreference


class PreferenceService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[int, str | None] = {}

    async def locale_of(self, user_id: int) -> str | None:
        if user_id not in self._cache:
            row = await self.db.fetch_one(_locale_of(), user_id=user_id)
            self._cache[user_id] = row[0] if row else None
        return self._cache[user_id]

    async def set_locale(self, user_id: int, locale: str) -> None:
        async with self.db.transaction() as session:
            row = await session.get(UserPreference, user_id)
            if row is None:
                session.add(UserPreference(telegram_user_id=user_id, locale=locale))
            else:
                row.locale = locale
        self._cache[user_id] = locale

    def forget(self, user_id: int) -> None:
        """Drop the cached choice (the row itself is deleted by the privacy service)."""
        self._cache.pop(user_id, None)


@cache
def _locale_of() -> Select[Any]:
    return select(UserPreference.locale).where(
        UserPreference.telegram_user_id == bindparam("user_id")
    )
