"""Named locks shared by the bot processes of one database, released when a process dies.

PostgreSQL: session-level advisory locks on one connection kept for the purpose; the
server drops them the moment the process (and so its connection) is gone. SQLite (one
machine): flock(2) on files in a folder next to the database file, which the kernel
drops when the process exits. Both can be taken shared or exclusive.

If the lock connection to PostgreSQL breaks, the locks are gone and another process may
take them: `lost` is set, and the process must stop doing what they protected.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from bot.db import Database

log = logging.getLogger(__name__)

WATCH_INTERVAL = 5.0


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Locks:
    """The locks of one process. Use `open_locks(db)`."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()
        self._held: dict[str, bool] = {}  # name -> shared

    async def try_acquire(self, name: str, *, shared: bool = False) -> bool:
        if name in self._held:
            return True
        if await self._try(name, shared):
            self._held[name] = shared
            return True
        return False

    async def acquire(self, name: str, *, shared: bool = False, poll: float = 1.0) -> None:
        """Wait until the lock is ours (another process's release cannot wake us: poll)."""
        while not await self.try_acquire(name, shared=shared):  # noqa: ASYNC110
            await asyncio.sleep(poll)

    async def release(self, name: str) -> None:
        shared = self._held.pop(name, None)
        if shared is not None:
            await self._release(name, shared)

    def holds(self, name: str) -> bool:
        return name in self._held and not self.lost.is_set()

    async def held_elsewhere(self, name: str) -> bool:
        """True if another process holds `name` (exclusively or shared)."""
        if name in self._held:
            return False
        if await self._try(name, False):
            await self._release(name, False)
            return False
        return True

    async def close(self) -> None:
        for name in list(self._held):
            await self.release(name)

    async def _try(self, name: str, shared: bool) -> bool:
        raise NotImplementedError

    async def _release(self, name: str, shared: bool) -> None:
        raise NotImplementedError


class FileLocks(Locks):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._files: dict[str, int] = {}

    async def _try(self, name: str, shared: bool) -> bool:
        path = self.folder / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._files[name] = fd
        return True

    async def _release(self, name: str, shared: bool = False) -> None:
        fd = self._files.pop(name, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def close(self) -> None:
        await super().close()
        for name in list(self._files):
            await self._release(name)


class AdvisoryLocks(Locks):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self._connection: Any = None  # SQLAlchemy AsyncConnection, kept open
        self._driver: Any = None  # its asyncpg connection
        self._busy = asyncio.Lock()  # one statement at a time on the connection
        self._watch: asyncio.Task[None] | None = None

    async def _connect(self) -> Any:
        if self._driver is None:
            self._connection = await self.db.writer.connect()
            raw = await self._connection.get_raw_connection()
            self._driver = raw.driver_connection
            self._watch = asyncio.create_task(self._watch_connection(), name="lock-watch")
        return self._driver

    async def _try(self, name: str, shared: bool) -> bool:
        function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        async with self._busy:
            driver = await self._connect()
            return bool(await driver.fetchval(f"SELECT {function}($1)", lock_key(name)))

    async def _release(self, name: str, shared: bool) -> None:
        function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
        async with self._busy:
            if self._driver is None or self.lost.is_set():
                return
            with contextlib.suppress(Exception):
                await self._driver.fetchval(f"SELECT {function}($1)", lock_key(name))

    async def _watch_connection(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                async with self._busy:
                    await self._driver.fetchval("SELECT 1")
            except Exception as error:
                log.error("lost the database connection that holds the process locks: %s",
                          type(error).__name__)  # fmt: skip
                self.lost.set()
                return

    async def close(self) -> None:
        await super().close()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._connection = self._driver = None


def open_locks(db: Database) -> Locks:
    if not db.is_sqlite:
        return AdvisoryLocks(db)
    database = db.url.database
    if not database or database == ":memory:":
        raise ValueError("process locks need a SQLite file, not an in-memory database")
    path = Path(database).expanduser()
    return FileLocks(path.with_name(path.name + ".locks"))
