"""People's language choices."""

from __future__ import annotations

from collections.abc import MutableMapping
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select

from bot.caches import per_person_cache
from bot.db import Database
from models import UserPreference


class PreferenceService:
    def __init__(self, db: Database, cache: MutableMapping[int, str | None] | None = None) -> None:
        self.db = db
        # One process (SQLite) may keep choices; several (PostgreSQL) must not: a choice
        # made in one worker would stay unseen in another. The read is cheap either way.
        self._cache = (cache if cache is not None else per_person_cache()) if db.is_sqlite else None

    async def locale_of(self, user_id: int) -> str | None:
        if self._cache is not None and user_id in self._cache:
            return self._cache[user_id]
        row = await self.db.fetch_one(_locale_of(), user_id=user_id)
        locale = row[0] if row else None
        if self._cache is not None:
            self._cache[user_id] = locale
        return locale

    async def set_locale(self, user_id: int, locale: str) -> None:
        async with self.db.transaction() as session:
            row = await session.get(UserPreference, user_id)
            if row is None:
                session.add(UserPreference(telegram_user_id=user_id, locale=locale))
            else:
                row.locale = locale
        if self._cache is not None:
            self._cache[user_id] = locale

    def forget(self, user_id: int) -> None:
        """Drop the cached choice (the row itself is deleted by the privacy service)."""
        if self._cache is not None:
            self._cache.pop(user_id, None)


@cache
def _locale_of() -> Select[Any]:
    return select(UserPreference.locale).where(
        UserPreference.telegram_user_id == bindparam("user_id")
    )
