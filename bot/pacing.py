"""Telegram's flood limits for the bot as a whole.

Telegram counts per bot: about 30 messages a second overall, one a second into one chat,
20 a minute into one group; beyond that it answers 429 "retry after N". Every call that
sends into a chat reserves a slot here first and waits for it (bot.transport), whether it
comes from the outbox sender or from a handler's direct reply, so the limits hold however
many code paths and processes send.

The limit is a sliding window (at most N sends in any window of P seconds), the rule the
limits are documented in: bursts up to N are allowed, then one send each time the oldest
leaves the window. Each window is SLACK longer than Telegram's, and a send that would go
more than LATE after its slot (a busy event loop, a slow reservation) takes a new slot
instead: the send times Telegram sees never drift far enough from the plan to put one
send too many into a window.

LocalPacer keeps the windows in memory (one process: SQLite). SharedPacer keeps them in
the database, reserved under a row lock, in the database's clock (several processes,
possibly on several hosts: PostgreSQL).
"""

from __future__ import annotations

import asyncio
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
SLACK = 0.02  # seconds each window is longer than Telegram's
LATE = 0.01  # seconds a send may go after its slot; later, it takes a new one
MAX_TRIES = 4  # new slots taken for one send before it goes anyway
MAX_LEAD = 0.1  # seconds: a shared reservation never plans further ahead than this


@dataclass(frozen=True)
class Rule:
    """At most `limit` sends in any window of `period` seconds."""

    limit: int
    period: float

    @property
    def widened(self) -> float:
        return self.period + SLACK


@dataclass(frozen=True)
class Window:
    """The sends counted together (into one chat, or into any chat) and their rules."""

    key: int
    rules: tuple[Rule, ...]

    @property
    def keep(self) -> int:
        return max(rule.limit for rule in self.rules)

    @property
    def span(self) -> float:
        return max(rule.widened for rule in self.rules)


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
        """The chat's own window, then the overall one. Every chat gets one message per
        1/private_per_second seconds (Telegram: about one a second in any chat); a group
        also at most group_per_minute a minute."""
        rules = [Rule(1, 1.0 / self.private_per_second)]
        if chat_id < 0:
            rules.append(Rule(max(1, int(self.group_per_minute)), 60.0))
        overall = Window(GLOBAL, (Rule(max(1, int(self.global_per_second)), 1.0),))
        return Window(chat_id, tuple(rules)), overall


def next_slot(times: list[float], window: Window, now: float) -> float:
    """The earliest moment >= now, and >= the last reservation (reservations are kept in
    order), at which one more send keeps every rule of `window`."""
    slot = max(now, times[-1]) if times else now
    for rule in window.rules:
        if len(times) >= rule.limit:
            slot = max(slot, times[-rule.limit] + rule.widened)
    return slot


def trimmed(times: list[float], window: Window, now: float) -> list[float]:
    """Only the times that can still matter: inside the window, or reserved ahead."""
    keep_from = bisect.bisect_right(times, now - window.span)
    return times[keep_from:][-window.keep :]


@dataclass(frozen=True)
class Slot:
    """When the send may go, in time.monotonic(): not before `latest` (the slot, if the
    reservation's clock reading was as late as possible), and it is late after
    `earliest` + LATE (the slot, if that reading was as early as possible)."""

    earliest: float
    latest: float


async def take_slot(pacer: Pacer, chat_id: int) -> None:
    """Reserve a slot for a send into `chat_id` and wait for it; on waking too late (the
    event loop was busy), reserve again rather than send off-plan."""
    for _attempt in range(MAX_TRIES):
        slot = await pacer.reserve(chat_id)
        wait = slot.latest - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if time.monotonic() - slot.earliest <= LATE:
            return


class Pacer(Protocol):
    async def reserve(self, chat_id: int) -> Slot:
        """Take the next slot for a send into `chat_id`."""

    async def wait_times(self, chat_ids: list[int]) -> dict[int, float]:
        """For each chat, seconds until its own window has room, taking nothing (the
        overall window is not counted: the outbox sender queues on that one)."""


class LocalPacer:
    def __init__(self, limits: Limits, clock: Any = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._times: dict[int, deque[float]] = {}
        self._reserved = 0

    async def reserve(self, chat_id: int) -> Slot:
        now = self.clock()
        windows = self.limits.windows(chat_id)
        slot = max(next_slot(list(self._times.get(w.key, ())), w, now) for w in windows)
        for window in windows:
            times = self._times.setdefault(window.key, deque())
            times.append(slot)
            while len(times) > window.keep:
                times.popleft()
        self._reserved += 1
        if self._reserved % 1024 == 0:
            self._forget_quiet_chats(now)
        return Slot(slot, slot)  # in self.clock's time: time.monotonic() but in tests

    async def wait_times(self, chat_ids: list[int]) -> dict[int, float]:
        now = self.clock()
        return {
            chat_id: next_slot(list(self._times.get(own.key, ())), own, now) - now
            for chat_id in chat_ids
            for own in self.limits.windows(chat_id)[:1]
        }

    def _forget_quiet_chats(self, now: float) -> None:
        """A chat whose window has passed holds nothing that matters (bounded memory)."""
        spans = {sign: self.limits.windows(sign)[0].span for sign in (-1, 1)}
        quiet = [
            key
            for key, times in self._times.items()
            if key != GLOBAL and times and times[-1] < now - spans[-1 if key < 0 else 1]
        ]
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
        # How long the rest of a reservation takes once the clock is read (a running
        # average): a slot is never set earlier than that from now, so that it is still
        # ahead when the reservation returns.
        self._lead = 0.005

    async def reserve(self, chat_id: int) -> Slot:
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
            before = time.monotonic()
            now = await self._now(session)
            read_at = time.monotonic()  # the database's clock was read in between
            times = {row.chat_id: _parse(row.times) for row in rows}
            slot = max(next_slot(times.get(w.key, []), w, now + self._lead) for w in windows)
            await session.execute(
                _store_times(),
                [
                    {"key": w.key, "times": _format(trimmed([*times.get(w.key, []), slot], w, now))}
                    for w in windows
                ],
            )
        taken = time.monotonic() - read_at
        self._lead = min(MAX_LEAD, 0.8 * self._lead + 0.2 * taken * 1.5)
        return Slot(before + (slot - now), read_at + (slot - now))

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
