"""aiogram FSM storage in the project's database, so forms survive restarts (invariant 6).

The form holds a resident id number and a mobile number while it is being filled in, so
the data is stored encrypted, like every other copy of them (invariant 7).

While an update is being handled, writes are collected and then saved in the same
transaction that marks the update done (see bot.inbox): one write per update instead of
three or four. With SQLite (one bot process) the storage also keeps a write-through cache,
so reading state costs nothing and the next update of the same person sees the newest
state even before it is saved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.caches import per_person_cache
from bot.db import Database
from bot.pii import PiiCipher
from models import FsmRecord
from models.base import utcnow

_CONTEXT = "fsm"
Record = tuple[str | None, dict[str, Any]]

# The keys written while the current update is handled; None outside update handling.
_dirty: ContextVar[dict[str, Record] | None] = ContextVar("fsm_dirty", default=None)


class DatabaseStorage(BaseStorage):
    def __init__(
        self,
        db: Database,
        cipher: PiiCipher,
        key_builder: KeyBuilder | None = None,
        *,
        cache: bool | None = None,
        cached_people: MutableMapping[str, Record] | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)
        # Several processes (PostgreSQL) must not trust a local copy.
        use_cache = db.is_sqlite if cache is None else cache
        # Bounded and forgetting (bot/caches.py); within an update the dirty records are
        # read first, so an entry pushed out mid-update costs a read, never a state.
        self._cache: MutableMapping[str, Record] | None = (
            (per_person_cache() if cached_people is None else cached_people) if use_cache else None
        )

    # --- per-update batching ---------------------------------------------------------
    @contextmanager
    def deferred(self) -> Iterator[dict[str, Record]]:
        """Collect writes made inside the block; save them later with `save`."""
        dirty: dict[str, Record] = {}
        token = _dirty.set(dirty)
        try:
            yield dirty
        finally:
            _dirty.reset(token)

    async def save(self, session: AsyncSession, dirty: dict[str, Record]) -> None:
        """Write the collected records inside the caller's transaction: one upsert and
        one delete, however many records."""
        upserts, deletes = [], []
        for key, (state, data) in dirty.items():
            if self._cache is not None and key in self._cache:
                state, data = self._cache[key]  # the newest, if a later update changed it
            if state is None and not data:
                deletes.append(key)  # a finished or cancelled form leaves nothing behind
            else:
                upserts.append(self._row(key, state, data))
        if deletes:
            await session.execute(delete(FsmRecord).where(FsmRecord.key.in_(deletes)))
        if upserts:
            await session.execute(self._upsert(), upserts)

    def forget(self, dirty: dict[str, Record]) -> None:
        """After a failed save the cache may be ahead of the database: drop those keys."""
        if self._cache is not None:
            for key in dirty:
                self._cache.pop(key, None)

    # --- BaseStorage ---------------------------------------------------------------------
    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        _, data = await self._read(self._key(key))
        await self._put(self._key(key), value, data)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._read(self._key(key)))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        state, _ = await self._read(self._key(key))
        await self._put(self._key(key), state, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict((await self._read(self._key(key)))[1])

    async def close(self) -> None:
        """The database is owned by the application, not by the storage."""

    # --- internals -----------------------------------------------------------------------
    def _key(self, key: StorageKey) -> str:
        return self.key_builder.build(key)

    async def _read(self, key: str) -> Record:
        dirty = _dirty.get()
        if dirty is not None and key in dirty:
            return dirty[key]
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        row = await self.db.fetch_one(_read_statement(), key=key)
        record: Record = (None, {})
        if row is not None:
            data = json.loads(self.cipher.decrypt(row[1], context=_CONTEXT)) if row[1] else {}
            record = (row[0], data)
        if self._cache is not None:
            self._cache[key] = record
        return record

    async def _put(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        if self._cache is not None:
            self._cache[key] = (state, data)
        dirty = _dirty.get()
        if dirty is not None:
            dirty[key] = (state, data)
            return
        async with self.db.transaction() as session:
            await self._write(session, key, state, data)

    async def _write(
        self, session: AsyncSession, key: str, state: str | None, data: dict[str, Any]
    ) -> None:
        await self.save(session, {key: (state, data)})

    def _row(self, key: str, state: str | None, data: dict[str, Any]) -> dict[str, Any]:
        blob = self.cipher.encrypt(json.dumps(data), context=_CONTEXT) if data else None
        return {"key": key, "state": state, "data_cipher": blob, "updated_at": utcnow()}

    def _upsert(self) -> Any:
        return _upsert_statement(self.db.is_sqlite)


@cache
def _read_statement() -> Any:
    return select(FsmRecord.state, FsmRecord.data_cipher).where(FsmRecord.key == bindparam("key"))


@cache
def _upsert_statement(sqlite: bool) -> Any:
    """Built once: it runs for nearly every update."""
    insert = sqlite_insert if sqlite else pg_insert
    statement = insert(FsmRecord.__table__)
    return statement.on_conflict_do_update(
        index_elements=["key"],
        set_={name: statement.excluded[name] for name in ("state", "data_cipher", "updated_at")},
    )
