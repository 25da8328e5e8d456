"""Database engine and transactions.

SQLite is the embedded default: WAL, a busy timeout, foreign keys, and write transactions
that BEGIN IMMEDIATE so two writers never deadlock on a lock upgrade. In one process the
writers also queue on an asyncio lock, which is cheaper than SQLite's sleeping busy handler.
PostgreSQL needs none of this.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.changes import Changes
from bot.direct_reads import DirectReads

if TYPE_CHECKING:
    from bot.pg_connections import PgConnections

SQLITE_BUSY_TIMEOUT_MS = 30_000


def dialect_insert(session: AsyncSession) -> Any:
    """The INSERT construct of the session's dialect (for ON CONFLICT, on both engines)."""
    return sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5) -> None:
        self.url = make_url(url)
        self.pool_size = pool_size
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.writer = self._make_engine(echo=echo, immediate=True)
        self.reader = (
            self._make_engine(echo=echo, immediate=False) if self.is_sqlite else self.writer
        )
        self._write_sessions = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)
        self._write_lock = WriteLock() if self.is_sqlite else None
        self._commit_hooks: dict[str, list[Callable[[], None]]] = {}
        self.changes = Changes(self)  # caches of what staff change (bot/changes.py)
        self._own_connections: list[PgConnections] = []
        in_memory = self.is_sqlite and self.url.database in (None, "", ":memory:")
        # An in-memory database is one connection's own: nothing else can read it.
        self._direct = (
            None
            if in_memory
            else DirectReads(self.url, self.reader.dialect, pool_size=max(2, pool_size // 4))
        )

    def pg_connections(self, application_name: str, size: int) -> PgConnections:
        """Connections of their own for short statements on a hot path (PostgreSQL only;
        bot/pg_connections.py), closed with the database."""
        from bot.pg_connections import PgConnections

        connections = PgConnections(self.url, size, application_name)
        self._own_connections.append(connections)
        return connections

    def on_commit(self, topic: str, hook: Callable[[], None]) -> None:
        """Call `hook` after any transaction that flagged `topic` (see `flag`) commits."""
        self._commit_hooks.setdefault(topic, []).append(hook)

    @staticmethod
    def flag(session: AsyncSession, topic: str) -> None:
        session.info.setdefault("topics", set()).add(topic)

    async def _stamp(self, session: AsyncSession) -> None:
        topics = session.info.get("topics")
        if topics:
            await self.changes.stamp(session, topics)

    def _after_commit(self, session: AsyncSession) -> None:
        for topic in session.info.pop("topics", ()):
            for hook in self._commit_hooks.get(topic, ()):
                hook()

    def _make_engine(self, *, echo: bool, immediate: bool) -> AsyncEngine:
        # hide_parameters: SQL errors must not carry personal data into logs.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if not self.is_sqlite:
            kwargs.update(pool_pre_ping=True, pool_size=self.pool_size, max_overflow=5)
            return create_async_engine(self.url, **kwargs)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_async_engine(self.url, **kwargs)
        _configure_sqlite(engine, immediate=immediate)
        return engine

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A write transaction: commits on success, rolls back on any error.

        `urgent` transactions go ahead of the others waiting in this process (storing
        received updates, which holds up getUpdates, is one).
        """
        if self._write_lock is None:
            async with self._write_sessions() as session:
                async with session.begin():
                    yield session
                    await self._stamp(session)
                self._after_commit(session)
            return
        async with self._write_lock.hold(urgent=urgent), self._write_sessions() as session:
            async with session.begin():
                yield session
                await self._stamp(session)
            self._after_commit(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot; never blocks writers on SQLite (WAL)."""
        async with self._read_sessions() as session, session.begin():
            yield session

    async def fetch_all(self, statement: Select[Any], **values: Any) -> list[tuple[Any, ...]]:
        """The rows of one select, its bindparams given by name: the update path's cheap
        read (bot/direct_reads.py); several statements that must agree use `read()`."""
        if self._direct is None:
            async with self.read() as session:
                return [tuple(row) for row in await session.execute(statement, values)]
        return await self._direct.all(statement, **values)

    async def fetch_one(self, statement: Select[Any], **values: Any) -> tuple[Any, ...] | None:
        """The one row of a select (None if there is none); see `fetch_all`."""
        rows = await self.fetch_all(statement, **values)
        if len(rows) > 1:
            raise ValueError("more than one row for a one-row read")
        return rows[0] if rows else None

    async def dispose(self) -> None:
        await self.changes.close()
        if self._direct is not None:
            await self._direct.close()
        for connections in self._own_connections:
            await connections.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


class WriteLock:
    """A FIFO lock whose urgent waiters go before the ordinary ones."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        if self._held or self._urgent or self._ordinary:
            waiter = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._ordinary).append(waiter)
            try:
                await waiter  # ownership is handed over by the releasing holder
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # we were handed the lock but will not use it
                else:
                    (self._urgent if urgent else self._ordinary).remove(waiter)
                raise
        else:
            self._held = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in (self._urgent, self._ordinary):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # still held: ownership passes on
                    return
        self._held = False


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted content is overwritten, not left in free pages of the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
