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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    from bot.pg_connections import PgConnections

    # Only reads go here: a write by mistake fails.
    connections = PgConnections(
        reads.url, reads.pool_size, "unionbot reads", read_only=True, dialect=reads.dialect
    )
    await connections.check()  # fail early: a wrong URL
    return connections


def _processed(row: Sequence[Any], processors: tuple[Processor, ...]) -> tuple[Any, ...]:
    return tuple(
        value if processor is None else processor(value)
        for value, processor in zip(row, processors, strict=True)
    )
