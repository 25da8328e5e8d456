"""Where SharedPacer keeps the send windows: the send_window table, one row per chat (and
row 0 for all chats together), read and changed under row locks.

Every send reserves here, so its cost is on the update path of every reply. On
PostgreSQL the reservation runs on connections of its own (bot.pg_connections): four
round trips (BEGIN, lock and read with the database's clock in one statement, store,
COMMIT) and a read of one, instead of a pooled ORM session's eleven with its pre-ping;
profiled on the form benchmark, the ORM path was two thirds of the bot's CPU per update.
On SQLite (one machine: the shared pacer there serves tests of several processes) the
same through an ordinary write transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import SendWindow

if TYPE_CHECKING:
    from bot.db import Database

T = TypeVar("T")


@dataclass(frozen=True)
class Locked:
    """The windows' times, locked; `now` is the database's clock read once they were,
    between `before` and `after` in time.monotonic()."""

    times: dict[int, list[float]]
    now: float
    before: float
    after: float


# Given the locked windows: the times to store for each key, and what to return.
Decide = Callable[[Locked], tuple[dict[int, list[float]], T]]


class WindowStore(Protocol):
    async def change(self, keys: list[int], decide: Decide[T]) -> T:
        """Lock the windows of `keys` (made if missing), let `decide` choose their new
        times, store them and commit."""

    async def read(self, keys: list[int]) -> tuple[dict[int, list[float]], float]:
        """The windows' times as they are, and the database's clock."""


def parse(value: str | None) -> list[float]:
    return [float(part) for part in value.split(",")] if value else []


def format_times(times: list[float]) -> str:
    return ",".join(f"{t:.4f}" for t in times)


def make_store(db: Database) -> WindowStore:
    return SessionStore(db) if db.is_sqlite else PgStore(db)


class SessionStore:
    """Through the Database's own sessions (SQLite: its clock is the machine's)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def change(self, keys: list[int], decide: Decide[T]) -> T:
        async with self.db.transaction(urgent=True) as session:
            rows = await session.execute(_sqlite_lock_rows(), [{"chat_id": k} for k in keys])
            before = time.monotonic()
            now = time.time()
            locked = Locked({row.chat_id: parse(row.times) for row in rows}, now, before, before)
            stored, result = decide(locked)
            await session.execute(
                _store_times(),
                [{"key": key, "times": format_times(times)} for key, times in stored.items()],
            )
        return result

    async def read(self, keys: list[int]) -> tuple[dict[int, list[float]], float]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(SendWindow.chat_id, SendWindow.times).where(SendWindow.chat_id.in_(keys))
            )
            return {row.chat_id: parse(row.times) for row in rows}, time.time()


# Made if missing, locked in the order given (sorted keys: no deadlock), returned with the
# clock read once locked and the statement's start, which tell how long the lock took.
_PG_LOCK = """
INSERT INTO send_window (chat_id, times) SELECT unnest($1::bigint[]), ''
ON CONFLICT (chat_id) DO UPDATE SET chat_id = excluded.chat_id
RETURNING chat_id, times,
    extract(epoch FROM clock_timestamp())::float8 AS now,
    extract(epoch FROM statement_timestamp())::float8 AS started
"""
_PG_STORE = """
UPDATE send_window AS w SET times = v.times
FROM unnest($1::bigint[], $2::text[]) AS v(chat_id, times) WHERE w.chat_id = v.chat_id
"""
_PG_READ = """
SELECT extract(epoch FROM clock_timestamp())::float8, w.chat_id, w.times
FROM (VALUES (1)) AS one LEFT JOIN send_window AS w ON w.chat_id = ANY($1::bigint[])
"""


class PgStore:
    """On connections of its own, a few statements each (module docstring)."""

    def __init__(self, db: Database, size: int = 3) -> None:
        self.connections = db.pg_connections("unionbot send windows", size)

    async def change(self, keys: list[int], decide: Decide[T]) -> T:
        async with self.connections.connection() as connection, connection.transaction():
            sent = time.monotonic()
            rows = await connection.fetch(_PG_LOCK, keys)
            after = time.monotonic()
            now = max(row["now"] for row in rows)  # the last row's lock was held then
            # What the statement waited for the locks is not part of the reading's
            # uncertainty (statement_timestamp() is one value for the whole statement).
            waited = max(0.0, now - rows[0]["started"])
            before = min(after, sent + waited)
            times = {row["chat_id"]: parse(row["times"]) for row in rows}
            stored, result = decide(Locked(times, now, before, after))
            await connection.execute(
                _PG_STORE, list(stored), [format_times(times) for times in stored.values()]
            )
        return result

    async def read(self, keys: list[int]) -> tuple[dict[int, list[float]], float]:
        rows = await self.connections.execute(_PG_READ, [keys])
        now = rows[0][0]
        return {row[1]: parse(row[2]) for row in rows if row[1] is not None}, now


@cache
def _sqlite_lock_rows() -> Any:
    """An upsert that changes nothing locks the rows (made if missing) and returns them."""
    table = SendWindow.__table__
    statement = sqlite_insert(table).values(chat_id=bindparam("chat_id"), times="")
    return statement.on_conflict_do_update(
        index_elements=["chat_id"], set_={"chat_id": statement.excluded.chat_id}
    ).returning(table.c.chat_id, table.c.times)


@cache
def _store_times() -> Any:
    table = SendWindow.__table__
    return update(table).where(table.c.chat_id == bindparam("key")).values(times=bindparam("times"))
