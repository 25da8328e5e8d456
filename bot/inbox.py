"""Received updates: stored before they are acknowledged, processed once.

Polling stores a batch before the next getUpdates confirms it; webhook mode stores the
update before answering 200. The (bot, update_id) key makes re-deliveries no-ops
(invariant 5), and updates whose processing was cut short are resumed at start.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from functools import cache
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.fsm_storage import DatabaseStorage
from bot.pii import PiiCipher
from models import InboxUpdate
from models.base import utcnow

log = logging.getLogger(__name__)

Saver = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
KEEP_FOR = timedelta(hours=48)  # re-deliveries are recognised for at least this long
TURN_POLL = 0.02  # seconds between looks at another process's earlier update


class Inbox:
    def __init__(
        self,
        db: Database,
        bot_id: int,
        cipher: PiiCipher,
        save_state: Saver | None = None,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.bot_id = bot_id
        self.owner = owner  # this process (bot.instances), None in tools and tests
        # Updates carry what people typed (id numbers, mobiles): stored encrypted.
        self.cipher = cipher
        self.save_state = save_state
        self._finished: list[tuple[int, dict[str, Any], asyncio.Future[None]]] = []
        self._stores: list[tuple[list[dict[str, Any]], asyncio.Future[set[int]]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def store(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Persist the updates not seen before and return them, in order, once durable.

        INSERT ... ON CONFLICT DO NOTHING RETURNING gives back exactly the fresh ones, so
        a re-delivered update_id is recognised by the database itself. The insert shares a
        transaction with whatever else is waiting to be committed (see `_commit`).
        """
        if not updates:
            return []
        now = utcnow()
        rows = []
        for u in updates:
            chat, user = actor_key(u) or (None, None)
            rows.append(
                {
                    "bot_id": self.bot_id,
                    "update_id": int(u["update_id"]),
                    "body": self._seal(u),
                    "received_at": now,
                    "done": False,
                    "owner": self.owner,
                    "chat_key": chat,
                    "user_key": user,
                }
            )
        stored: asyncio.Future[set[int]] = asyncio.get_running_loop().create_future()
        self._stores.append((rows, stored))
        self._start_committer()
        fresh = await stored
        return [u for u in updates if int(u["update_id"]) in fresh]

    async def adopt(self, is_alive: Callable[[str | None], Awaitable[bool]]) -> list[dict]:
        """Take over the updates that nobody alive is handling (stored by this bot's
        previous process, or by a webhook worker that died), oldest first."""
        async with self.db.read() as session:
            owners = set(
                await session.scalars(
                    select(InboxUpdate.owner)
                    .where(InboxUpdate.bot_id == self.bot_id, InboxUpdate.done.is_(False))
                    .distinct()
                )
            )
        adopted: list[tuple[int, str]] = []
        for owner in owners:
            if owner == self.owner or await is_alive(owner):
                continue
            async with self.db.transaction() as session:
                previous = (
                    InboxUpdate.owner.is_(None) if owner is None else InboxUpdate.owner == owner
                )
                rows = await session.execute(
                    update(InboxUpdate)
                    .where(
                        InboxUpdate.bot_id == self.bot_id,
                        InboxUpdate.done.is_(False),
                        previous,
                    )
                    .values(owner=self.owner)
                    .returning(InboxUpdate.update_id, InboxUpdate.body)
                )
                adopted += [(row.update_id, row.body) for row in rows]
        return [self._open(body) for _, body in sorted(adopted)]

    async def earliest_open(self, key: Key, update_id: int) -> tuple[int, str | None] | None:
        """An update of the same conversation, stored before `update_id` and not yet
        handled: (its id, the process handling it)."""
        async with self.db.read() as session:
            row = (
                await session.execute(
                    _earliest_open_statement(), {"bot": self.bot_id, "chat": key[0],
                                                 "user": key[1], "before": update_id}
                )
            ).first()  # fmt: skip
        return (row.update_id, row.owner) if row is not None else None

    def _seal(self, update: dict[str, Any]) -> str:
        blob = self.cipher.encrypt(json.dumps(update), context="inbox")
        return base64.b64encode(blob).decode()

    def _open(self, body: str) -> dict[str, Any]:
        blob = base64.b64decode(body)
        return dict(json.loads(self.cipher.decrypt(blob, context="inbox")))

    async def mark_done(self, update_id: int, state: dict[str, Any] | None = None) -> None:
        """Mark the update handled, saving its FSM writes in the same transaction.

        Returns once the write is durable.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finished.append((update_id, state or {}, done))
        self._start_committer()
        await done

    def _start_committer(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit())

    async def _commit(self) -> None:
        """Group commit: updates arriving and updates finishing at about the same time
        share one transaction, so a busy bot writes a few times per second instead of
        twice per update, and storing a new update never waits behind a done-mark."""
        while self._stores or self._finished:
            stores, self._stores = self._stores, []
            finished, self._finished = self._finished, []
            try:
                async with self.db.transaction(urgent=bool(stores)) as session:
                    fresh = [await self._insert(session, rows) for rows, _ in stores]
                    await self._finish(session, finished)
            except Exception as error:
                for future in [f for _, f in stores] + [f for _, _, f in finished]:
                    future.set_exception(error)
            else:
                for (_, future), ids in zip(stores, fresh, strict=True):
                    future.set_result(ids)
                for _, _, future in finished:
                    future.set_result(None)

    async def _insert(self, session: AsyncSession, rows: list[dict[str, Any]]) -> set[int]:
        result = await session.execute(_insert_statement(self.db.is_sqlite), rows)
        return set(result.scalars())

    async def _finish(
        self, session: AsyncSession, finished: list[tuple[int, dict[str, Any], Any]]
    ) -> None:
        if not finished:
            return
        merged: dict[str, Any] = {}
        for _, state, _ in finished:
            merged.update(state)  # in order: a later update's state wins
        if merged and self.save_state is not None:
            await self.save_state(session, merged)
        ids = [item[0] for item in finished]
        await session.execute(_done_statement(), {"bot": self.bot_id, "ids": ids})

    async def purge(self) -> int:
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(InboxUpdate).where(
                    InboxUpdate.done.is_(True), InboxUpdate.received_at < utcnow() - KEEP_FOR
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Statements built once: they run for every update, and building one costs more than
# running it.
@cache
def _insert_statement(sqlite: bool) -> Any:
    table = InboxUpdate.__table__
    insert = sqlite_insert if sqlite else pg_insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
        .returning(table.c.update_id)
    )


@cache
def _earliest_open_statement() -> Any:
    table = InboxUpdate.__table__
    return (
        select(table.c.update_id, table.c.owner)
        .where(
            table.c.bot_id == bindparam("bot"),
            table.c.chat_key == bindparam("chat"),
            table.c.user_key == bindparam("user"),
            table.c.done.is_(False),
            table.c.update_id < bindparam("before"),
        )
        .order_by(table.c.update_id)
        .limit(1)
    )


@cache
def _done_statement() -> Any:
    table = InboxUpdate.__table__
    return (
        update(table)
        .where(table.c.bot_id == bindparam("bot"))
        .where(table.c.update_id.in_(bindparam("ids", expanding=True)))
        .values(done=True, body="")  # the body may hold personal data
    )


Key = tuple[int, int]


def actor_key(body: dict[str, Any]) -> Key | None:
    """(chat, user) of an update: the key of the person's conversation state. Updates
    with one key are handled one at a time and in order."""
    for kind in ("message", "edited_message", "callback_query", "my_chat_member"):
        event = body.get(kind)
        if not isinstance(event, dict):
            continue
        user = (event.get("from") or {}).get("id")
        chat = (event.get("chat") or (event.get("message") or {}).get("chat") or {}).get("id")
        if isinstance(user, int) or isinstance(chat, int):
            return (int(chat if chat is not None else user), int(user or 0))
    return None


class KeyedLocks:
    """One FIFO lock per key, kept only while someone holds or waits for it (a bot with
    100,000 users who never come back keeps nothing for them)."""

    def __init__(self) -> None:
        self._locks: dict[Key, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Key | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class UpdateProcessor:
    """Feeds stored updates to the dispatcher, a bounded number at a time.

    One person's updates (same chat and user) are handled strictly one after another, and
    the next one starts only once the previous one's state is committed: a worker who
    sends their name and their id number back to back gets the id checked as an id,
    whether or not the state is cached in this process.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        inbox: Inbox,
        storage: DatabaseStorage,
        concurrency: int = 64,
    ) -> None:
        self.dispatcher = dispatcher
        # Set when several processes receive updates (webhook workers): another process
        # may hold an earlier update of the same conversation. (bot.runner sets both.)
        self.is_alive: Callable[[str | None], Awaitable[bool]] | None = None
        self.cross_process = False
        self.storage = storage
        self.bot = bot
        self.inbox = inbox
        self._slots = asyncio.Semaphore(concurrency)
        self._order = KeyedLocks()
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(
        self, updates: list[dict[str, Any]], parsed: list[Update] | None = None
    ) -> None:
        """Store, then schedule. Returns once the updates are durable. `parsed` (the same
        updates as aiogram objects, when the transport already has them) saves parsing
        them twice."""
        known = {u.update_id: u for u in parsed or ()}
        for body in await self.inbox.store(updates):
            self._spawn(body, known.get(int(body["update_id"])))

    async def resume(self) -> int:
        """Handle the updates nobody alive is handling (at start, and now and then when
        several processes share the work); the number taken over."""
        bodies = await self.inbox.adopt(self._alive)
        for body in bodies:
            self._spawn(body)
        return len(bodies)

    async def _alive(self, owner: str | None) -> bool:
        return self.is_alive is not None and await self.is_alive(owner)

    async def _wait_turn(self, body: dict[str, Any], key: Key) -> None:
        """Wait until every earlier update of this conversation, wherever it is being
        handled, is done; take over those of a process that died."""
        update_id = int(body["update_id"])
        while (earlier := await self.inbox.earliest_open(key, update_id)) is not None:
            _, owner = earlier
            if owner != self.inbox.owner and not await self._alive(owner):
                await self.resume()
                continue
            await asyncio.sleep(TURN_POLL)

    def _spawn(self, body: dict[str, Any], parsed: Update | None = None) -> None:
        task = asyncio.create_task(self._process(body, parsed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, body: dict[str, Any], parsed: Update | None) -> None:
        key = actor_key(body)
        if self.cross_process and key is not None:
            await self._wait_turn(body, key)
        # The key lock first: tasks reach it in the order they were spawned (update order).
        async with self._order.hold(key), self._slots:
            update_id = int(body["update_id"])
            with self.storage.deferred() as dirty:
                try:
                    if parsed is None:
                        parsed = Update.model_validate(body, context={"bot": self.bot})
                    await self.dispatcher.feed_update(self.bot, parsed)
                except Exception:
                    log.exception("update %s failed", update_id)
            try:
                await self.inbox.mark_done(update_id, dirty)
            except Exception:
                self.storage.forget(dirty)
                raise

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
