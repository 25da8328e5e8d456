"""aiogram FSM storage in the project's database, so forms survive restarts (invariant 6).

The form holds a resident id number and a mobile number while it is being filled in, so
the data is stored encrypted, like every other copy of them (invariant 7).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy import select

from bot.db import Database
from bot.pii import PiiCipher
from models import FsmRecord
from models.base import utcnow

_CONTEXT = "fsm"


class DatabaseStorage(BaseStorage):
    def __init__(
        self, db: Database, cipher: PiiCipher, key_builder: KeyBuilder | None = None
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self.key_builder.build(key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.db.transaction() as session:
            record = await session.get(FsmRecord, self._key(key))
            if record is None:
                if value is None:
                    return
                session.add(FsmRecord(key=self._key(key), state=value))
            else:
                record.state = value
                record.updated_at = utcnow()
                await self._drop_if_empty(session, record)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(FsmRecord.state).where(FsmRecord.key == self._key(key))
            )

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        blob = self.cipher.encrypt(json.dumps(dict(data)), context=_CONTEXT) if data else None
        async with self.db.transaction() as session:
            record = await session.get(FsmRecord, self._key(key))
            if record is None:
                if blob is None:
                    return
                session.add(FsmRecord(key=self._key(key), data_cipher=blob))
            else:
                record.data_cipher = blob
                record.updated_at = utcnow()
                await self._drop_if_empty(session, record)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.db.read() as session:
            blob = await session.scalar(
                select(FsmRecord.data_cipher).where(FsmRecord.key == self._key(key))
            )
        if not blob:
            return {}
        return dict(json.loads(self.cipher.decrypt(blob, context=_CONTEXT)))

    async def _drop_if_empty(self, session: Any, record: FsmRecord) -> None:
        # A finished or cancelled form leaves nothing behind.
        if record.state is None and record.data_cipher is None:
            await session.delete(record)

    async def close(self) -> None:
        """The database is owned by the application, not by the storage."""
