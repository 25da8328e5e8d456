"""Draining the outbox: rate-limited, ordered per chat, retried, never losing a row.

Rows are claimed with a lease (next_attempt_at moves into the future) in a short
transaction, sent outside any transaction, then marked. A process that dies mid-send
leaves the lease to expire, and the row is sent again after the restart (invariant 4).
Only the oldest pending row of each chat is eligible, so a chat's messages keep order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile
from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import aliased

from bot.config import OutboxSettings
from bot.db import Database
from bot.outbox_views import Gone, OutboxViews, Outgoing
from models import OutboxMessage
from models.base import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = 300.0


class SlidingWindow:
    """At most `limit` events in any `period` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = max(1, limit)
        self.period = period
        self.events: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.events and now - self.events[0] >= self.period:
            self.events.popleft()
        if len(self.events) < self.limit:
            return 0.0
        return self.events[0] + self.period - now

    def add(self, now: float) -> None:
        self.events.append(now)


class RateLimits:
    def __init__(self, settings: OutboxSettings) -> None:
        self.settings = settings
        self.overall = SlidingWindow(int(settings.global_per_second), 1.0)
        self.chats: dict[int, SlidingWindow] = {}

    def _window(self, chat_id: int) -> SlidingWindow:
        window = self.chats.get(chat_id)
        if window is None:
            if chat_id < 0:
                window = SlidingWindow(int(self.settings.group_per_minute), 60.0)
            else:
                window = SlidingWindow(1, 1.0 / self.settings.private_per_second)
            self.chats[chat_id] = window
        return window

    def wait_time(self, chat_id: int, now: float) -> float:
        return max(self.overall.wait_time(now), self._window(chat_id).wait_time(now))

    def add(self, chat_id: int, now: float) -> None:
        self.overall.add(now)
        self._window(chat_id).add(now)


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    kind: str
    payload: dict
    attempts: int


class OutboxSender:
    def __init__(
        self, db: Database, bot: Bot, views: OutboxViews, settings: OutboxSettings
    ) -> None:
        self.db = db
        self.bot = bot
        self.views = views
        self.settings = settings
        self.limits = RateLimits(settings)
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()  # chat ids with a send under way

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, to send without waiting."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sent_any = await self.drain_once()
            except Exception:
                log.exception("outbox sender round failed")
                sent_any = False
            if not sent_any:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)

    async def drain_once(self) -> bool:
        """Claim what may be sent now, send it concurrently; True if anything was sent."""
        rows = await self._claim()
        if not rows:
            return False
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return True

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        clock = time.monotonic()
        earlier = aliased(OutboxMessage)
        head_of_chat = ~exists().where(
            and_(
                earlier.chat_id == OutboxMessage.chat_id,
                earlier.status == "pending",
                earlier.id < OutboxMessage.id,
            )
        )
        # A cheap read first: most wake-ups find nothing, and a write transaction would
        # queue behind (and hold up) every other writer for nothing.
        async with self.db.read() as session:
            due = await session.scalar(
                select(OutboxMessage.id)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .limit(1)
            )
        if due is None:
            return []
        async with self.db.transaction() as session:
            candidates = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == "pending",
                        OutboxMessage.next_attempt_at <= now,
                        head_of_chat,
                    )
                    .order_by(OutboxMessage.id)
                    .limit(200)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            claimed = []
            for row in candidates:
                if row.chat_id in self._in_flight or self.limits.wait_time(row.chat_id, clock):
                    continue
                self.limits.add(row.chat_id, clock)
                self._in_flight.add(row.chat_id)
                row.next_attempt_at = now + LEASE
                claimed.append(
                    Claimed(row.id, row.chat_id, row.kind, dict(row.payload), row.attempts)
                )
        return claimed

    async def _deliver(self, row: Claimed) -> None:
        try:
            message_id = await self._send(row)
        except TelegramRetryAfter as error:
            await self._retry(row, float(error.retry_after), "429 retry_after", count=False)
        except (TelegramNetworkError, TelegramServerError) as error:
            await self._retry(row, _backoff(row.attempts), type(error).__name__, count=True)
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                await self._mark_sent(row, None)
            else:
                await self._fail(row, f"bad request: {error.message}")
        except (TelegramForbiddenError, Gone) as error:
            await self._fail(row, type(error).__name__)
        except Exception as error:
            log.exception("outbox %s (%s) crashed", row.id, row.kind)
            await self._retry(row, _backoff(row.attempts), type(error).__name__, count=True)
        else:
            await self._mark_sent(row, message_id)
        finally:
            self._in_flight.discard(row.chat_id)

    async def _send(self, row: Claimed) -> int | None:
        outgoing: Outgoing = await self.views.render(row.chat_id, row.kind, row.payload)
        if outgoing.photo is not None:
            message = await self.bot.send_photo(
                row.chat_id,
                BufferedInputFile(outgoing.photo, filename="member-card.png"),
                caption=outgoing.text,
                reply_markup=outgoing.reply_markup,
            )
            return message.message_id
        if outgoing.edit_message_id is not None:
            await self.bot.edit_message_text(
                text=outgoing.text,
                chat_id=row.chat_id,
                message_id=outgoing.edit_message_id,
                reply_markup=outgoing.reply_markup,
            )
            return outgoing.edit_message_id
        message = await self.bot.send_message(
            row.chat_id, outgoing.text, reply_markup=outgoing.reply_markup
        )
        return message.message_id

    async def _mark_sent(self, row: Claimed, message_id: int | None) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(
                    status="sent",
                    sent_at=utcnow(),
                    sent_message_id=message_id,
                    attempts=row.attempts + 1,
                )
            )

    async def _retry(self, row: Claimed, delay: float, reason: str, *, count: bool) -> None:
        attempts = row.attempts + (1 if count else 0)
        if attempts >= self.settings.max_attempts:
            await self._fail(row, reason)
            return
        # Logs name the row, never its content: it may concern a person.
        log.warning("outbox %s (%s) to retry in %.1fs: %s", row.id, row.kind, delay, reason)
        async with self.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(
                    attempts=attempts,
                    last_error=reason,
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                )
            )

    async def _fail(self, row: Claimed, reason: str) -> None:
        log.error("outbox %s (%s) failed for good: %s", row.id, row.kind, reason)
        async with self.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(status="failed", attempts=row.attempts + 1, last_error=reason[:500])
            )


def _backoff(attempts: int) -> float:
    return min(MAX_BACKOFF, 2.0**attempts)
