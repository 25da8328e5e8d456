"""Received updates: stored before they are acknowledged, processed once.

Polling stores a batch before the next getUpdates confirms it; webhook mode stores the
update before answering 200. The (bot, update_id) key makes re-deliveries no-ops
(invariant 5), and updates whose processing was cut short are resumed at start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import delete, select, update

from bot.db import Database
from models import InboxUpdate
from models.base import utcnow

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(hours=48)  # re-deliveries are recognised for at least this long


class Inbox:
    def __init__(self, db: Database, bot_id: int) -> None:
        self.db = db
        self.bot_id = bot_id

    async def store(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Persist the updates not seen before and return them, in order."""
        if not updates:
            return []
        ids = [int(u["update_id"]) for u in updates]
        async with self.db.transaction() as session:
            seen = set(
                await session.scalars(
                    select(InboxUpdate.update_id).where(
                        InboxUpdate.bot_id == self.bot_id, InboxUpdate.update_id.in_(ids)
                    )
                )
            )
            fresh = []
            for body in updates:
                update_id = int(body["update_id"])
                if update_id in seen:
                    continue
                seen.add(update_id)
                fresh.append(body)
                session.add(
                    InboxUpdate(bot_id=self.bot_id, update_id=update_id, body=json.dumps(body))
                )
        return fresh

    async def pending(self) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            bodies = await session.scalars(
                select(InboxUpdate.body)
                .where(InboxUpdate.bot_id == self.bot_id, InboxUpdate.done.is_(False))
                .order_by(InboxUpdate.update_id)
            )
            return [json.loads(body) for body in bodies]

    async def mark_done(self, update_id: int) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.bot_id == self.bot_id, InboxUpdate.update_id == update_id)
                .values(done=True, body="")  # the body may hold personal data: drop it
            )

    async def purge(self) -> int:
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(InboxUpdate).where(
                    InboxUpdate.done.is_(True), InboxUpdate.received_at < utcnow() - KEEP_FOR
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


class UpdateProcessor:
    """Feeds stored updates to the dispatcher, a bounded number at a time."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, inbox: Inbox, concurrency: int = 64):
        self.dispatcher = dispatcher
        self.bot = bot
        self.inbox = inbox
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, updates: list[dict[str, Any]]) -> None:
        """Store, then schedule. Returns once the updates are durable."""
        for body in await self.inbox.store(updates):
            self._spawn(body)

    async def resume(self) -> int:
        bodies = await self.inbox.pending()
        for body in bodies:
            self._spawn(body)
        return len(bodies)

    def _spawn(self, body: dict[str, Any]) -> None:
        task = asyncio.create_task(self._process(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, body: dict[str, Any]) -> None:
        async with self._slots:
            update_id = int(body["update_id"])
            try:
                parsed = Update.model_validate(body, context={"bot": self.bot})
                await self.dispatcher.feed_update(self.bot, parsed)
            except Exception:
                log.exception("update %s failed", update_id)
            await self.inbox.mark_done(update_id)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
