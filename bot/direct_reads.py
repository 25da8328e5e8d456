"""Single-statement reads straight on the driver's connection, for the update path.

A `Database.read()` session costs about eight times the select it runs on SQLite (BEGIN,
cursor, execute, fetch, close, COMMIT and the pool's ROLLBACK are each a trip to
aiosqlite's thread, and the ORM session is built and torn down) and sixteen times on
PostgreSQL. One statement needs none of that: it reads one consistent snapshot by itself.
Here a Core statement is compiled once, its values are bound by name with the column
types' own processing (so a UTCDateTime comes back as the ORM gives it), and it runs on a
connection kept for reading: one aiosqlite connection, read-only, on SQLite; a few
asyncpg connections on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy.engine import URL, Dialect
from sqlalchemy.sql import Select

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the positional parameters' bind names, in order
    defaults: dict[str, Any]  # values written into the statement itself
    binds: dict[str, Processor]
    results: tuple[Processor, ...]


class DirectReads:
    """Opened on first use; `close` ends it. Safe to share among tasks."""

    def __init__(self, url: URL, dialect: Dialect, *, pool_size: int = 4) -> None:
        self.url = url
        self.dialect = dialect
        self.pool_size = pool_size
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self._compiled: dict[int, tuple[Select[Any], _Compiled]] = {}
        self._connection: Any = None
        self._opening = asyncio.Lock()

    async def all(self, statement: Select[Any], **values: Any) -> list[tuple[Any, ...]]:
        compiled = self._compile(statement)
        rows = await self._run(compiled, self._bind(compiled, values))
        return [_processed(row, compiled.results) for row in rows]

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    # ------------------------------------------------------------ internals

    def _compile(self, statement: Select[Any]) -> _Compiled:
        # Keyed by identity, the statement kept alive beside it: hot reads are built
        # once (module constants), so this stays as small as the code that reads.
        known = self._compiled.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1]
        compiled = statement.compile(dialect=self.dialect)
        if any(bind.expanding for bind in compiled.binds.values()):
            raise TypeError("IN with a list of values is not supported here: use Database.read()")
        names = tuple(compiled.positiontup or ())
        processors = compiled._bind_processors  # the types' own bind processing
        result = _Compiled(
            sql=str(compiled),
            names=names,
            defaults={k: v for k, v in compiled.params.items() if v is not None},
            binds={name: processors.get(name) for name in names},
            results=tuple(
                column.type._cached_result_processor(self.dialect, None)
                for column in statement.selected_columns
            ),
        )
        self._compiled[id(statement)] = (statement, result)
        return result

    @staticmethod
    def _bind(compiled: _Compiled, values: dict[str, Any]) -> list[Any]:
        unknown = set(values) - set(compiled.names)
        if unknown:
            raise TypeError(f"no parameter named {', '.join(sorted(unknown))}")
        bound = []
        for name in compiled.names:
            if name in values:
                value = values[name]
            elif name in compiled.defaults:
                value = compiled.defaults[name]
            else:
                raise TypeError(f"a value for {name} is needed")
            processor = compiled.binds[name]
            bound.append(processor(value) if processor is not None else value)
        return bound

    async def _run(self, compiled: _Compiled, bound: Sequence[Any]) -> list[Any]:
        connection = self._connection or await self._open()
        if self.is_sqlite:
            # Executed and read to the end in one trip to aiosqlite's thread: a statement
            # left half-read while another task's runs would hold the connection's read
            # transaction open, and every read would go on seeing that old snapshot.
            return list(await connection.execute_fetchall(compiled.sql, bound))
        return await connection.execute(compiled.sql, bound)

    async def _open(self) -> Any:
        async with self._opening:
            if self._connection is None:
                self._connection = await (_open_sqlite if self.is_sqlite else _open_pg)(self)
            return self._connection


async def _open_sqlite(reads: DirectReads) -> Any:
    import aiosqlite

    from bot.db import SQLITE_BUSY_TIMEOUT_MS  # bot.db imports this module

    connection = await aiosqlite.connect(reads.url.database, isolation_level=None)
    # Only reads go here: a write by mistake fails instead of bypassing the write lock.
    await connection.execute("PRAGMA query_only=ON")
    await connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return connection


async def _open_pg(reads: DirectReads) -> Any:
    connections = _PgConnections(reads)
    connections.give(await connections._take())  # fail early: a wrong URL
    return connections


class _PgConnections:
    """asyncpg connections for single selects. Not asyncpg's pool: its acquire and
    release (with a reset query on every return, needless here: no session state is
    ever changed) cost twice the select.

    First come, first served: a returned connection goes to the longest waiting read,
    so a read is never starved by others that keep taking connections back at once.
    """

    def __init__(self, reads: DirectReads) -> None:
        self.dsn = reads.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.size = reads.pool_size
        self.dialect: Any = reads.dialect
        self._idle: list[Any] = []
        self._open = 0  # open or being opened
        # Each is handed a connection, or None: "open one, in the slot I pass on".
        self._waiting: deque[asyncio.Future[Any]] = deque()

    async def connect(self) -> Any:
        import asyncpg

        connection = await asyncpg.connect(
            self.dsn,
            # Only reads go here: a write by mistake fails.
            server_settings={
                "application_name": "unionbot reads",
                "default_transaction_read_only": "on",
            },
        )
        # JSON decoded as SQLAlchemy's connections decode it (its dialect's own set-up).
        wrapped = SimpleNamespace(_connection=connection)
        await self.dialect.setup_asyncpg_json_codec(wrapped)
        await self.dialect.setup_asyncpg_jsonb_codec(wrapped)
        return connection

    async def execute(self, sql: str, bound: Sequence[Any]) -> list[Any]:
        connection = await self._take()
        try:
            return list(await connection.fetch(sql, *bound))
        except BaseException:
            # Cut short, refused or disconnected: a read error is rare, and a connection
            # in an unknown state must not serve the next one.
            connection.terminate()
            raise
        finally:
            self.give(connection)

    async def _take(self) -> Any:
        if self._idle:  # never while reads wait: a returned connection goes to them
            return self._idle.pop()
        if self._open < self.size:
            self._open += 1
            return await self._open_in_slot()
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            connection = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._hand(waiter.result())  # handed over just as this read gave up
            raise
        return connection if connection is not None else await self._open_in_slot()

    async def _open_in_slot(self) -> Any:
        try:
            return await self.connect()
        except BaseException:
            self._hand(None)
            raise

    def give(self, connection: Any) -> None:
        # The server went away: the slot passes on, and the next read opens anew.
        self._hand(None if connection.is_closed() else connection)

    def _hand(self, connection: Any) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled read is skipped
                waiter.set_result(connection)
                return
        if connection is None:
            self._open -= 1
        else:
            self._idle.append(connection)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            self._open -= 1
            await connection.close()


def _processed(row: Sequence[Any], processors: tuple[Processor, ...]) -> tuple[Any, ...]:
    return tuple(
        value if processor is None else processor(value)
        for value, processor in zip(row, processors, strict=True)
    )
