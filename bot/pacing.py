"""Telegram's flood limits for the bot as a whole.

Telegram counts per bot: about 30 messages a second overall, one a second into one chat,
20 a minute into one group; beyond that it answers 429 "retry after N". Every call that
sends into a chat reserves a slot here first and waits for it (bot.transport), whether it
comes from the outbox sender or from a handler's direct reply, so the limits hold however
many code paths and processes send.

The limit is a sliding window (at most N sends in any window of P seconds), the rule the
limits are documented in. Into one chat bursts are allowed (a group gets its 20 cards of a
minute one a second, not one every three seconds). Overall, sends are spread evenly at
OVERALL_SHARE of the rate: a burst of 30 requests leaves the process over a few hundred
milliseconds of serialisation, so its arrival times bunch and the next burst, planned a
window later, meets the tail of the last one at Telegram; evenly spaced sends never queue,
and 31 of them span 30 spacings: 1.036 s at 96.5 %, 36 ms of room for a send LATE
(15 ms) plus the way to Telegram (up to 22 ms measured to the emulator under load; at
97 % the room was 31 ms and a run drew one 429).

Each window is SLACK longer than Telegram's, and a send that would go more than LATE
after its slot (a busy event loop, a slow reservation) takes a new slot instead: the send
times Telegram sees never drift far enough from the plan to put one send too many into
a window.

In a group, new messages leave EDIT_RESERVE of the minute's sends free: the edit of a
card staff just pressed, or the answer to a command, goes within a second even while new
cards fill the group's minute (the outbox sender asks `wait_times(..., new=...)`).

LocalPacer keeps the windows in memory (one process: SQLite). SharedPacer keeps them in
the database, reserved under a row lock, in the database's clock (several processes,
possibly on several hosts: PostgreSQL).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from bot.config import OutboxSettings
from bot.db import Database
from bot.send_windows import Locked, format_times, make_store

GLOBAL = 0  # the window of all chats together
SLACK = 0.05  # seconds each window is longer than Telegram's
OVERALL_SHARE = 0.965  # of the overall rate, spread evenly
EDIT_RESERVE = 0.25  # of a group's minute, kept free of new messages
LATE = 0.015  # seconds a send may go after its slot; later, it takes a new one
MAX_TRIES = 4  # new slots taken for one send before it goes anyway
AHEAD = 2  # reservations a process holds ahead at a time
KEEP_EXTRA = 4
MAX_HOLD = 0.25  # seconds the turn is held waiting for a slot; longer, it is passed on
MAX_LEAD = 0.1  # seconds: a shared reservation never plans further ahead than this


@dataclass(frozen=True)
class Rule:
    """At most `limit` sends in any window of `period` seconds."""

    limit: int
    period: float
    slack: float = SLACK

    @property
    def widened(self) -> float:
        return self.period + self.slack


@dataclass(frozen=True)
class Window:
    """The sends counted together (into one chat, or into any chat) and their rules."""

    key: int
    rules: tuple[Rule, ...]

    @property
    def keep(self) -> int:
        """Times kept: what the rules look back on, and a few more, so that giving back
        a reservation (there is one ahead per process) leaves the earlier ones known."""
        return max(rule.limit for rule in self.rules) + KEEP_EXTRA

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

    def windows(self, chat_id: int, *, new: bool = False) -> tuple[Window, Window]:
        """The chat's own window, then the overall one."""
        return Window(chat_id, _chat_rules(self, chat_id < 0, new)), _overall(self)


@cache
def _chat_rules(limits: Limits, group: bool, new: bool) -> tuple[Rule, ...]:
    """Every chat gets one message per 1/private_per_second seconds (Telegram: about one
    a second in any chat); a group also at most group_per_minute a minute, of which a new
    message (`new`) may use only what EDIT_RESERVE leaves."""
    rules = [Rule(1, 1.0 / limits.private_per_second)]
    if group:
        per_minute = max(1, int(limits.group_per_minute))
        if new:
            per_minute = max(1, per_minute - math.ceil(per_minute * EDIT_RESERVE))
        rules.append(Rule(per_minute, 60.0))
    return tuple(rules)


@cache
def _overall(limits: Limits) -> Window:
    limit = max(1, int(limits.global_per_second))
    # Spread evenly, the spacing is the margin: 31 sends span 1/OVERALL_SHARE seconds.
    spread = Rule(1, 1.0 / (limits.global_per_second * OVERALL_SHARE), slack=0.0)
    return Window(GLOBAL, (Rule(limit, 1.0, slack=0.02), spread))


def next_slot(times: Sequence[float], window: Window, now: float) -> float:
    """The earliest moment >= now, and >= the last reservation (reservations are kept in
    order), at which one more send keeps every rule of `window`."""
    slot = max(now, times[-1]) if times else now
    for rule in window.rules:
        if len(times) >= rule.limit:
            slot = max(slot, times[-rule.limit] + rule.widened)
    return slot


def own_waits(
    limits: Limits,
    times: dict[int, list[float]],
    chat_ids: list[int],
    new: frozenset[int],
    now: float,
) -> dict[int, float]:
    """For each chat, seconds until its own window (as `times` holds it) has room; for
    the chats in `new`, room for a new message."""
    waits = {}
    for chat_id in chat_ids:
        own = limits.windows(chat_id, new=chat_id in new)[0]
        waits[chat_id] = next_slot(times.get(own.key, []), own, now) - now
    return waits


def trimmed(times: list[float], window: Window, now: float) -> list[float]:
    """Only the times that can still matter: inside the window, or reserved ahead."""
    keep_from = bisect.bisect_right(times, now - window.span)
    return times[keep_from:][-window.keep :]


@dataclass(frozen=True)
class Slot:
    """When the send may go, in time.monotonic(): not before `latest` (the slot, if the
    reservation's clock reading was as late as possible), and it is late after
    `earliest` + LATE (the slot, if that reading was as early as possible). `planned` is
    the slot in the pacer's own clock, as it is kept in the windows."""

    earliest: float
    latest: float
    planned: float


async def take_slot(pacer: Pacer, chat_id: int) -> None:
    """Wait until the chat's own window has room, then take the next slot overall and
    wait for it. A process holds at most AHEAD reservations at a time (`pacer.turn`):
    a send that wakes too late (the event loop was busy) gives its slot back and takes
    the next, which is then about now, instead of queueing behind a second's worth of
    reservations, and late wakers never bunch up; the second reservation hides the time
    a reservation takes (a database transaction on PostgreSQL). If another send took the
    chat's window meanwhile, the slot is given back and the turn passed on while this one
    waits."""
    while True:
        wait = (await pacer.wait_times([chat_id]))[chat_id]
        if wait > 0:
            await asyncio.sleep(wait)
        async with pacer.turn:
            slot: Slot | None = None
            for _attempt in range(MAX_TRIES):
                slot = await pacer.reserve(chat_id, replacing=slot)
                wait = slot.latest - time.monotonic()
                if wait > MAX_HOLD:
                    await pacer.release(chat_id, slot)
                    break
                if wait > 0:
                    await asyncio.sleep(wait)
                if time.monotonic() - slot.earliest <= LATE:
                    return
            else:
                return  # late every time: go anyway, the margins absorb one


class Pacer(Protocol):
    turn: asyncio.Semaphore

    async def reserve(self, chat_id: int, replacing: Slot | None = None) -> Slot:
        """Take the next slot for a send into `chat_id` (giving back `replacing`, a slot
        of the same chat that was missed)."""

    async def release(self, chat_id: int, slot: Slot) -> None:
        """Give back a slot that will not be used."""

    async def wait_times(
        self, chat_ids: list[int], new: frozenset[int] = frozenset()
    ) -> dict[int, float]:
        """For each chat, seconds until its own window has room, taking nothing (the
        overall window is not counted: the outbox sender queues on that one); for the
        chats in `new`, room for a new message."""


def reservation(
    times: dict[int, list[float]],
    windows: Sequence[Window],
    now: float,
    lead: float,
    given_back: float | None,
) -> tuple[dict[int, list[float]], float]:
    """A shared reservation's decision, given the windows' stored times and the database's
    clock: the times to store and the slot (at least `lead` after now), `given_back`
    taken out first. PostgreSQL makes the same decision in send_window_reserve."""
    kept = {key: _without(ts, given_back) for key, ts in times.items()}
    slot = max(next_slot(kept.get(w.key, []), w, now + lead) for w in windows)
    return {w.key: trimmed([*kept.get(w.key, []), slot], w, now) for w in windows}, slot


def _without(times: list[float], planned: float | None) -> list[float]:
    if planned is None or planned not in times:
        return times
    kept = list(times)
    kept.remove(planned)
    return kept


class LocalPacer:
    def __init__(self, limits: Limits, clock: Any = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.turn = asyncio.Semaphore(AHEAD)
        self._times: dict[int, deque[float]] = {}
        self._reserved = 0

    async def reserve(self, chat_id: int, replacing: Slot | None = None) -> Slot:
        now = self.clock()
        windows = self.limits.windows(chat_id)
        if replacing is not None:
            await self.release(chat_id, replacing)
        # The deques as they are: next_slot reads only their ends (a copy was O(window)).
        slot = max(next_slot(self._times.get(w.key, ()), w, now) for w in windows)
        for window in windows:
            times = self._times.setdefault(window.key, deque())
            times.append(slot)
            while len(times) > window.keep:
                times.popleft()
        self._reserved += 1
        if self._reserved % 1024 == 0:
            self._forget_quiet_chats(now)
        return Slot(slot, slot, slot)  # in self.clock's time: time.monotonic() but in tests

    async def release(self, chat_id: int, slot: Slot) -> None:
        for window in self.limits.windows(chat_id):
            times = self._times.get(window.key)
            if times is not None and slot.planned in times:
                times.remove(slot.planned)

    async def wait_times(
        self, chat_ids: list[int], new: frozenset[int] = frozenset()
    ) -> dict[int, float]:
        now = self.clock()
        times = {chat: list(self._times[chat]) for chat in set(chat_ids) if chat in self._times}
        return own_waits(self.limits, times, chat_ids, new, now)

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
    """The windows in the send_window table (bot.send_windows), reserved under row locks
    in one short transaction: the chat's row and the overall row, locked in key order."""

    def __init__(self, db: Database, limits: Limits) -> None:
        self.limits = limits
        self.store = make_store(db, reservation)
        self.turn = asyncio.Semaphore(AHEAD)
        # How long the rest of a reservation takes once the clock is read (a running
        # average): a slot is never set earlier than that from now, so that it is still
        # ahead when the reservation returns.
        self._lead = 0.005

    async def reserve(self, chat_id: int, replacing: Slot | None = None) -> Slot:
        windows = self.limits.windows(chat_id)
        given_back = replacing.planned if replacing is not None else None
        # A slot given back was missed: the reservation took longer than planned.
        lead = self._lead if replacing is None else min(MAX_LEAD, 2 * self._lead + LATE)

        slot, locked = await self.store.reserve(windows, lead, given_back)
        taken = time.monotonic() - locked.after
        self._lead = min(MAX_LEAD, 0.8 * self._lead + 0.2 * taken * 1.5)
        ahead = slot - locked.now
        return Slot(locked.before + ahead, locked.after + ahead, float(format_times([slot])))

    async def release(self, chat_id: int, slot: Slot) -> None:
        def decide(locked: Locked) -> tuple[dict[int, list[float]], None]:
            return {key: _without(times, slot.planned) for key, times in locked.times.items()}, None

        await self.store.change(sorted(w.key for w in self.limits.windows(chat_id)), decide)

    async def wait_times(
        self, chat_ids: list[int], new: frozenset[int] = frozenset()
    ) -> dict[int, float]:
        if not chat_ids:
            return {}
        times, now = await self.store.read(sorted(set(chat_ids)))
        return own_waits(self.limits, times, chat_ids, new, now)


def make_pacer(db: Database, settings: OutboxSettings) -> LocalPacer | SharedPacer:
    """One process on SQLite keeps the windows in memory; PostgreSQL shares them."""
    limits = Limits.of(settings)
    return LocalPacer(limits) if db.is_sqlite else SharedPacer(db, limits)
