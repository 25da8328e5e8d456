"""Caches of what changes only when staff change it, dropped by the change itself.

Streets and reception points ("org") and the enterprise registry ("enterprises") are read
on nearly every update but change a few times a day. A transaction that changes them
flags its topic (`Database.flag`), and then:

- this process drops its copies when the transaction commits (`Database.on_commit`);
- the same transaction bumps the topic's row in `change_stamp` and, on PostgreSQL, sends
  a NOTIFY, which the server delivers only if the transaction commits: every process
  that LISTENs drops its copies moments later;
- on SQLite (one bot process, plus the command-line tools beside it) the bot reads
  `change_stamp` once a second instead: one small select a second, not one per update.

A process that does not watch (a command-line tool), or whose watch is broken (the
LISTEN connection lost, the poll failing), caches nothing: every read goes to the
database until the watch is back, and then everything cached before is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import ChangeStamp

if TYPE_CHECKING:
    from bot.db import Database

log = logging.getLogger(__name__)

ORG_TOPIC = "org"  # streets and reception points
ENTERPRISES_TOPIC = "enterprises"
SHARED_TOPICS = (ORG_TOPIC, ENTERPRISES_TOPIC)
CHANNEL = "unionbot_changes"
POLL_S = 1.0  # SQLite: how late another process's change may be seen
PING_S = 30.0  # PostgreSQL: how often a quiet LISTEN connection is checked
RETRY_S = 2.0

T = TypeVar("T")


class Changes:
    """Per-topic generations: a cache is valid while its topic's generation is the one it
    was loaded under. `generation` is None when the process cannot know of changes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._generations = dict.fromkeys(SHARED_TOPICS, 0)
        self._trusted = False
        self._task: asyncio.Task[None] | None = None
        for topic in SHARED_TOPICS:
            db.on_commit(topic, lambda topic=topic: self.dropped(topic))

    def generation(self, topic: str) -> int | None:
        return self._generations[topic] if self._trusted else None

    def dropped(self, topic: str) -> None:
        self._generations[topic] += 1

    async def stamp(self, session: AsyncSession, topics: Iterable[str]) -> None:
        """Inside the changing transaction: the stamps commit (or not) with the change."""
        for topic in sorted(set(topics) & set(SHARED_TOPICS)):  # one lock order
            await session.execute(_bump(self.db.is_sqlite), {"topic": topic})
            if not self.db.is_sqlite:
                await session.execute(
                    text("SELECT pg_notify(:channel, :topic)"),
                    {"channel": CHANNEL, "topic": topic},
                )

    async def watch(self) -> None:
        """Start watching; returns once the first watch is up (or has failed: then
        nothing is cached until it is up)."""
        if self._task is not None:
            return
        ready = asyncio.Event()
        watch = self._poll if self.db.is_sqlite else self._listen
        self._task = asyncio.create_task(watch(ready), name="unionbot-changes")
        await ready.wait()

    async def close(self) -> None:
        task, self._task = self._task, None
        self._trusted = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------ internals

    def _trust(self) -> None:
        if not self._trusted:
            for topic in SHARED_TOPICS:  # what happened while unwatched is unknown
                self.dropped(topic)
            self._trusted = True

    def _distrust(self, error: BaseException) -> None:
        if self._trusted:
            log.warning("not caching until changes are watched again: %r", error)
        self._trusted = False

    async def _poll(self, ready: asyncio.Event) -> None:
        seen: dict[str, int] | None = None
        while True:
            try:
                stamps = dict(await self.db.fetch_all(_stamps()))
            except Exception as error:  # a locked or missing file: try again
                self._distrust(error)
                seen = None
            else:
                if seen is not None:
                    for topic in SHARED_TOPICS:
                        if stamps.get(topic) != seen.get(topic):
                            self.dropped(topic)
                seen = stamps
                self._trust()
            ready.set()
            await asyncio.sleep(POLL_S)

    async def _listen(self, ready: asyncio.Event) -> None:
        import asyncpg

        dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(
                    dsn, server_settings={"application_name": "unionbot changes"}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                self._trust()
                ready.set()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), PING_S)
                    if not lost.is_set():
                        await connection.fetchval("SELECT 1", timeout=PING_S)
                raise ConnectionError("the LISTEN connection was closed")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                self._distrust(error)
            except TimeoutError as error:
                self._distrust(error)
            finally:
                if connection is not None:
                    connection.terminate()
            ready.set()
            await asyncio.sleep(RETRY_S)

    def _notified(self, _connection: Any, _pid: int, _channel: str, topic: str) -> None:
        if topic in self._generations:
            self.dropped(topic)


class Cached(Generic[T]):
    """One value loaded from the database and kept while its topic has not changed."""

    def __init__(self, changes: Changes, topic: str, load: Callable[[], Awaitable[T]]) -> None:
        self.changes = changes
        self.topic = topic
        self.load = load
        self._value: T | None = None
        self._generation: int | None = None

    async def get(self) -> T:
        generation = self.changes.generation(self.topic)  # before loading: a change
        if generation is None:  # committed during the load is not missed
            return await self.load()
        if self._generation != generation or self._value is None:
            self._value, self._generation = await self.load(), generation
        return self._value


@cache
def _stamps() -> Any:
    return select(ChangeStamp.topic, ChangeStamp.version)


@cache
def _bump(sqlite: bool) -> Any:
    table = ChangeStamp.__table__
    insert = (sqlite_insert if sqlite else pg_insert)(table).values(
        topic=bindparam("topic"), version=1
    )
    return insert.on_conflict_do_update(
        index_elements=["topic"], set_={"version": table.c.version + 1}
    )
