"""Telegram's flood limits for the bot as a whole.

Telegram counts per bot: about 30 messages a second overall, one a second into one chat,
20 a minute into one group; beyond that it answers 429 "retry after N". Every call that
sends into a chat reserves a slot here first and waits for it (bot.transport), whether it
comes from the outbox sender or from a handler's direct reply, so the limits hold however
many code paths and processes send.

The limit is a sliding window (at most N sends in any window of P seconds), the rule the
limits are documented in: bursts up to N are allowed, then one send each time the oldest
leaves the window. The windows are widened a little (SAFETY) so that the jitter between
our clock and Telegram's arrival times never adds up to one send too many.

LocalPacer keeps the windows in memory (one process: SQLite). SharedPacer keeps them in
the database, reserved under a row lock, in the database's clock (several processes,
possibly on several hosts: PostgreSQL).
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.config import OutboxSettings
from bot.db import Database
from models import SendWindow

GLOBAL = 0  # the window of all chats together
SAFETY = 1.03  # windows are this much longer than Telegram's ...
SLACK = 0.02  # ... plus this many seconds


@dataclass(frozen=True)
class Window:
    key: int
    limit: int
    period: float


@dataclass(frozen=True)
class Limits:
    global_per_second: float
    private_per_second: float
    group_per_minute: float

    @classmethod
    def of(cls, settings: OutboxSettings) -> Limits:
        return cls(
            settings.global_per_second, settings.private_per_second, settings.group_per_minute
        )

    def windows(self, chat_id: int) -> tuple[Window, Window]:
        """The chat's own window, then the overall one."""
        if chat_id < 0:
            own = Window(chat_id, max(1, int(self.group_per_minute)), 60.0)
        else:
            own = Window(chat_id, 1, 1.0 / self.private_per_second)
        overall = Window(GLOBAL, max(1, int(self.global_per_second)), 1.0)
        return own, overall


def widened(window: Window) -> float:
    return window.period * SAFETY + SLACK


def next_slot(times: list[float], window: Window, now: float) -> float:
    """The earliest moment >= now, and >= the last reservation (reservations are in
    order), at which one more send keeps `window`."""
    slot = max(now, times[-1]) if times else now
    if len(times) >= window.limit:
        slot = max(slot, times[-window.limit] + widened(window))
    return slot


def trimmed(times: list[float], window: Window, now: float) -> list[float]:
    """Only the times that can still matter: inside the window, or reserved ahead."""
    keep_from = bisect.bisect_right(times, now - widened(window))
    return times[keep_from:][-window.limit :]


class Pacer(Protocol):
    async def reserve(self, chat_id: int) -> float:
        """Take the next slot for a send into `chat_id`; seconds to wait until it."""

    async def wait_times(self, chat_ids: list[int]) -> dict[int, float]:
        """For each chat, seconds until its own window has room, taking nothing (the
        overall window is not counted: the outbox sender queues on that one)."""


class LocalPacer:
    def __init__(self, limits: Limits, clock: Any = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._times: dict[int, deque[float]] = {}
        self._reserved = 0

    async def reserve(self, chat_id: int) -> float:
        now = self.clock()
        windows = self.limits.windows(chat_id)
        slot = max(next_slot(list(self._times.get(w.key, ())), w, now) for w in windows)
        for window in windows:
            times = self._times.setdefault(window.key, deque())
            times.append(slot)
            while len(times) > window.limit:
                times.popleft()
        self._reserved += 1
        if self._reserved % 1024 == 0:
            self._forget_quiet_chats(now)
        return slot - now

    async def wait_times(self, chat_ids: list[int]) -> dict[int, float]:
        now = self.clock()
        return {
            chat_id: next_slot(list(self._times.get(own.key, ())), own, now) - now
            for chat_id in chat_ids
            for own in self.limits.windows(chat_id)[:1]
        }

    def _forget_quiet_chats(self, now: float) -> None:
        """Chats whose window has passed hold nothing that matters (bounded memory)."""
        horizon = max(widened(w) for w in (*self.limits.windows(-1), *self.limits.windows(1)))
        quiet = [k for k, t in self._times.items() if k != GLOBAL and t and t[-1] < now - horizon]
        for key in quiet:
            del self._times[key]

    def __len__(self) -> int:
        return len(self._times)


class SharedPacer:
    """The windows in the send_window table, reserved under row locks in one short
    transaction: the chat's row and the overall row, locked in key order."""

    def __init__(self, db: Database, limits: Limits) -> None:
        self.db = db
        self.limits = limits

    async def reserve(self, chat_id: int) -> float:
        windows = self.limits.windows(chat_id)
        keys = sorted(w.key for w in windows)
        async with self.db.transaction(urgent=True) as session:
            # An upsert that changes nothing locks the rows (made if missing) and returns
            # them; FOR UPDATE semantics on both engines, in key order.
            rows = (
                await session.execute(
                    _lock_rows(self.db.is_sqlite),
                    [{"chat_id": key} for key in keys],
                )
            ).all()
            now = await self._now(session)
            times = {row.chat_id: _parse(row.times) for row in rows}
            slot = max(next_slot(times.get(w.key, []), w, now) for w in windows)
            await session.execute(
                _store_times(),
                [
                    {"key": w.key, "times": _format(trimmed([*times.get(w.key, []), slot], w, now))}
                    for w in windows
                ],
            )
        return slot - now

    async def wait_times(self, chat_ids: list[int]) -> dict[int, float]:
        if not chat_ids:
            return {}
        async with self.db.read() as session:
            rows = await session.execute(
                select(SendWindow.chat_id, SendWindow.times).where(
                    SendWindow.chat_id.in_(sorted(set(chat_ids)))
                )
            )
            times = {row.chat_id: _parse(row.times) for row in rows}
            now = await self._now(session)
        return {
            chat_id: next_slot(times.get(own.key, []), own, now) - now
            for chat_id in chat_ids
            for own in self.limits.windows(chat_id)[:1]
        }

    async def _now(self, session: Any) -> float:
        if self.db.is_sqlite:  # one machine: its clock
            return time.time()
        return float(await session.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))


@cache
def _lock_rows(sqlite: bool) -> Any:
    table = SendWindow.__table__
    insert = sqlite_insert if sqlite else pg_insert
    statement = insert(table).values(chat_id=bindparam("chat_id"), times="")
    return statement.on_conflict_do_update(
        index_elements=["chat_id"], set_={"chat_id": statement.excluded.chat_id}
    ).returning(table.c.chat_id, table.c.times)


@cache
def _store_times() -> Any:
    table = SendWindow.__table__
    return update(table).where(table.c.chat_id == bindparam("key")).values(times=bindparam("times"))


def _parse(value: str | None) -> list[float]:
    return [float(part) for part in value.split(",")] if value else []


def _format(times: list[float]) -> str:
    return ",".join(f"{t:.4f}" for t in times)


def make_pacer(db: Database, settings: OutboxSettings) -> LocalPacer | SharedPacer:
    """One process on SQLite keeps the windows in memory; PostgreSQL shares them."""
    limits = Limits.of(settings)
    return LocalPacer(limits) if db.is_sqlite else SharedPacer(db, limits)
