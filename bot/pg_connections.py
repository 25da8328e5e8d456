"""A few asyncpg connections kept open for short statements on the hot paths (the update
path's single selects, the flood-limit reservations), beside SQLAlchemy's pool.

Not asyncpg's pool: its acquire and release (with a reset query on every return,
needless here: no session state is ever left changed) cost twice a short select. Not
SQLAlchemy's pool either: its pre-ping on every checkout is one more round trip, and the
ORM session around a statement costs more CPU than the statement.

First come, first served: a returned connection goes to the longest waiting caller, so
a caller is never starved by others that keep taking connections back at once. A
connection on which a statement failed or was cut short is closed, not reused: its state
is unknown.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

from sqlalchemy.engine import URL, Dialect


class PgConnections:
    def __init__(
        self,
        url: URL,
        size: int,
        application_name: str,
        *,
        read_only: bool = False,
        dialect: Dialect | None = None,
    ) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.size = size
        self.settings = {"application_name": application_name}
        if read_only:  # a write by mistake fails
            self.settings["default_transaction_read_only"] = "on"
        self.dialect: Any = dialect
        self._idle: list[Any] = []
        self._open = 0  # open or being opened
        # Each is handed a connection, or None: "open one, in the slot I pass on".
        self._waiting: deque[asyncio.Future[Any]] = deque()

    async def connect(self) -> Any:
        import asyncpg

        connection = await asyncpg.connect(self.dsn, server_settings=self.settings)
        if self.dialect is not None:
            # JSON decoded as SQLAlchemy's connections decode it (its dialect's own set-up).
            wrapped = SimpleNamespace(_connection=connection)
            await self.dialect.setup_asyncpg_json_codec(wrapped)
            await self.dialect.setup_asyncpg_jsonb_codec(wrapped)
        return connection

    async def check(self) -> None:
        """Open one connection now (a wrong URL fails here, not at the first use)."""
        self.give(await self._take())

    async def execute(self, sql: str, bound: Any) -> list[Any]:
        async with self.connection() as connection:
            return list(await connection.fetch(sql, *bound))

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection for a few statements; closed instead of returned if any failed."""
        connection = await self._take()
        try:
            yield connection
        except BaseException:
            connection.terminate()
            raise
        finally:
            self.give(connection)

    async def _take(self) -> Any:
        if self._idle:  # never while others wait: a returned connection goes to them
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
                self._hand(waiter.result())  # handed over just as this caller gave up
            raise
        return connection if connection is not None else await self._open_in_slot()

    async def _open_in_slot(self) -> Any:
        try:
            return await self.connect()
        except BaseException:
            self._hand(None)
            raise

    def give(self, connection: Any) -> None:
        # Closed (the server went away, or a failure): the slot passes on, and the next
        # caller opens anew.
        self._hand(None if connection.is_closed() else connection)

    def _hand(self, connection: Any) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a cancelled caller is skipped
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
