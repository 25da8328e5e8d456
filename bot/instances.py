"""The bot processes running on one database: each registers itself and holds a lock
that says it is alive; roles (receiving updates, sending the outbox) are locks too.

- receiver: polling takes it exclusively (exactly one poller per token); webhook workers
  take it shared, so several may run together on PostgreSQL, but never with a poller.
- sender: exclusive. One process at a time drains the outbox, so Telegram's limits are
  kept for the bot as a whole; when it dies, another takes over.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from bot.db import Database
from bot.locks import Locks
from models import BotInstance
from models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstanceInfo:
    id: str
    host: str
    pid: int
    mode: str
    started_at: datetime

    def describe(self) -> str:
        since = self.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        return f"{self.mode} on host {self.host}, pid {self.pid}, since {since}"


class AnotherInstanceRunning(RuntimeError):
    """The role is held by another process (str(): who, for the administrator)."""


class Instance:
    """This process, as the other processes see it."""

    def __init__(self, db: Database, locks: Locks, bot_id: int, mode: str) -> None:
        self.db = db
        self.locks = locks
        self.bot_id = bot_id
        self.mode = mode
        self.id = uuid.uuid4().hex
        self.receiver_lock = f"receiver:{bot_id}"
        self.sender_lock = f"sender:{bot_id}"
        self.failed = False  # it lost its locks and stopped (the exit status says so)

    async def register(self) -> None:
        if not await self.locks.try_acquire(_alive_lock(self.id)):
            raise RuntimeError("could not take this process's own lock")
        async with self.db.transaction() as session:
            session.add(
                BotInstance(
                    id=self.id, bot_id=self.bot_id, host=socket.gethostname()[:255],
                    pid=os.getpid(), mode=self.mode, started_at=utcnow(),
                )
            )  # fmt: skip

    async def unregister(self) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(BotInstance).where(BotInstance.id == self.id))
        await self.locks.close()

    async def take_receiver(self, *, standby: bool) -> None:
        """Become the (or a) receiver of updates. Polling excludes every other receiver;
        webhook workers share the role on PostgreSQL. Without `standby`, a held role is
        an error naming who holds it; with it, wait until it is free."""
        shared = self.mode == "webhook" and not self.db.is_sqlite
        if await self.locks.try_acquire(self.receiver_lock, shared=shared):
            return
        holders = ", ".join(i.describe() for i in await self.others()) or "unknown"
        if not standby:
            raise AnotherInstanceRunning(
                f"another unionbot process is receiving this bot's updates ({holders}); "
                "stop it first, or start this one with --standby to take over when it stops"
            )
        log.info("standing by: another process receives the updates (%s)", holders)
        await self.locks.acquire(self.receiver_lock, shared=shared)
        log.info("the other process is gone: this one receives the updates now")

    async def is_alive(self, instance_id: str | None) -> bool:
        if instance_id is None:
            return False
        if instance_id == self.id:
            return True
        return await self.locks.held_elsewhere(_alive_lock(instance_id))

    async def others(self) -> list[InstanceInfo]:
        """The other live processes of this bot; rows of dead ones are removed."""
        async with self.db.read() as session:
            rows = list(
                await session.scalars(
                    select(BotInstance).where(
                        BotInstance.bot_id == self.bot_id, BotInstance.id != self.id
                    )
                )
            )
        alive, dead = [], []
        for row in rows:
            info = InstanceInfo(row.id, row.host, row.pid, row.mode, row.started_at)
            (alive if await self.is_alive(row.id) else dead).append(info)
        if dead:
            async with self.db.transaction() as session:
                await session.execute(
                    delete(BotInstance).where(BotInstance.id.in_([d.id for d in dead]))
                )
        return alive


def _alive_lock(instance_id: str) -> str:
    return f"instance:{instance_id}"
