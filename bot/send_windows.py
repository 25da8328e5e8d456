"""Where SharedPacer keeps the send windows: the send_window table, one row per chat (and
row 0 for all chats together), read and changed under row locks.

Every send reserves here, so its cost is on the update path of every reply. On
PostgreSQL the reservation runs on connections of its own (bot.pg_connections) as one
call of the database function send_window_reserve, its own transaction: one round trip,
where the same in Python took four (BEGIN, lock and read, store, COMMIT; the form
benchmark's bot spent about a third of its CPU on them) and a pooled ORM session eleven.
A wait check is a read of one. Giving a slot back, which is rare, goes through change().
On SQLite (one machine: the shared pacer there serves tests of several processes) the
same through an ordinary write transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import SendWindow

if TYPE_CHECKING:
    from bot.db import Database
    from bot.pacing import Window

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


# The reservation's decision (bot.pacing.reservation): given the windows' stored times,
# the database's clock, the lead and a slot given back, the times to store and the slot.
Reservation = Callable[
    [dict[int, list[float]], "Sequence[Window]", float, float, "float | None"],
    tuple[dict[int, list[float]], float],
]


class WindowStore(Protocol):
    async def reserve(
        self, windows: Sequence[Window], at_least: float, given_back: float | None
    ) -> tuple[float, Locked]:
        """Take the next slot in `windows`, at least `at_least` seconds after the
        database's clock, `given_back` taken out first; the slot and the clock."""

    async def change(self, keys: list[int], decide: Decide[T]) -> T:
        """Lock the windows of `keys` (made if missing), let `decide` choose their new
        times, store them and commit."""

    async def read(self, keys: list[int]) -> tuple[dict[int, list[float]], float]:
        """The windows' times as they are, and the database's clock."""


def parse(value: str | None) -> list[float]:
    return [float(part) for part in value.split(",")] if value else []


def format_times(times: list[float]) -> str:
    return ",".join(f"{t:.4f}" for t in times)


def make_store(db: Database, decide: Reservation) -> WindowStore:
    """`decide` is the reservation's decision, which PgStore makes in the database."""
    return SessionStore(db, decide) if db.is_sqlite else PgStore(db)


class SessionStore:
    """Through the Database's own sessions (SQLite: its clock is the machine's)."""

    def __init__(self, db: Database, decide: Reservation) -> None:
        self.db = db
        self.decide = decide

    async def reserve(
        self, windows: Sequence[Window], at_least: float, given_back: float | None
    ) -> tuple[float, Locked]:
        def decide(locked: Locked) -> tuple[dict[int, list[float]], tuple[float, Locked]]:
            stored, slot = self.decide(locked.times, windows, locked.now, at_least, given_back)
            return stored, (slot, locked)

        return await self.change(sorted(w.key for w in windows), decide)

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


def _locked(
    times: dict[int, list[float]], now: float, started: float, sent: float, after: float
) -> Locked:
    """The database's clock `now`, read in a statement that started at `started` (both
    its clock), sent at `sent` and answered at `after` (time.monotonic()). What the
    statement waited for the locks is not part of the reading's uncertainty."""
    waited = max(0.0, now - started)
    return Locked(times, now, min(after, sent + waited), after)


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
_PG_RESERVE = """
SELECT slot, now, started FROM send_window_reserve(
    $1::bigint[], $2::float8[], $3::int[], $4::bigint[], $5::int[], $6::float8[],
    $7::float8, $8::float8)
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
            times = {row["chat_id"]: parse(row["times"]) for row in rows}
            # The last row's lock was held when its clock was read.
            now = max(row["now"] for row in rows)
            stored, result = decide(_locked(times, now, rows[0]["started"], sent, after))
            await connection.execute(
                _PG_STORE, list(stored), [format_times(times) for times in stored.values()]
            )
        return result

    async def reserve(
        self, windows: Sequence[Window], at_least: float, given_back: float | None
    ) -> tuple[float, Locked]:
        """SharedPacer's reservation in one round trip: the database function
        send_window_reserve (migration c51f0a7e2d94) decides as bot.pacing.reservation."""
        windows = sorted(windows, key=lambda window: window.key)
        rules = [(w.key, rule) for w in windows for rule in w.rules]
        bound = (
            [w.key for w in windows], [w.span for w in windows], [w.keep for w in windows],
            [key for key, _ in rules], [rule.limit for _, rule in rules],
            [rule.widened for _, rule in rules], at_least, given_back,
        )  # fmt: skip
        async with self.connections.connection() as connection:
            sent = time.monotonic()
            row = await connection.fetchrow(_PG_RESERVE, *bound)
            after = time.monotonic()
        return row["slot"], _locked({}, row["now"], row["started"], sent, after)

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
