"""Draining the outbox: within Telegram's limits, in order per chat, retried, never losing
a row and never dropping one in silence.

One process at a time is the sender (bot.instances: the sender lock), so the limits hold
for the bot as a whole. Each round takes, per chat, the row that should go next: the
oldest in a private chat (order matters: "approved" before the card); in a group, edits of
existing messages before new ones (staff should not look at stale buttons behind a queue
of new cards), several pending edits of one message collapsed into the newest (a view is
rendered at send time, so the newest says it all). A chat whose own window is full waits
for the next round, so that the choice is made when it can actually send; rounds take
about a second's worth of the overall rate, and every send waits for its slot (pacing).

Intent and result are recorded around each call: `sending_since` is committed before the
request goes out, the status and message id right after the answer. After a crash the
next sender finds the rows with an intent and no result: those are the only messages
that may have reached Telegram without the bot knowing, and they are sent again (edits
are harmless to repeat; a send may arrive twice). Nothing else is sent twice.

A row that fails for good (the person blocked the bot, the chat is gone, the card cannot
be drawn) is reported to the staff who can act on it: the street's review group for a
message to a worker, the federation group for a message to a group.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile
from sqlalchemy import bindparam, func, select, update

from bot.config import OutboxSettings
from bot.db import Database
from bot.outbox_views import Gone, OutboxViews, Outgoing
from bot.pacing import LocalPacer, SharedPacer, take_slot
from bot.render.fonts import MissingGlyphsError
from bot.services import outbox
from bot.transport import NOT_MODIFIED, from_outbox
from models import OutboxMessage
from models.base import utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
CHAT_HORIZON = 0.25  # a chat whose window opens later than this waits for a later round
CANDIDATES = 500  # pending rows looked at per round (the oldest; and group edits)
TABLE = OutboxMessage.__table__


@dataclass(frozen=True)
class Claimed:
    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class Round:
    """What one pass over the queue found."""

    claimed: list[Claimed] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    next_due: float | None = None  # seconds until the earliest row that is not yet due


class OutboxSender:
    def __init__(
        self,
        db: Database,
        bot: Bot,
        views: OutboxViews,
        settings: OutboxSettings,
        pacer: LocalPacer | SharedPacer,
        *,
        federation_chat_id: int | None = None,
    ) -> None:
        self.db = db
        self.bot = bot
        self.views = views
        self.settings = settings
        self.pacer = pacer
        self.federation_chat_id = federation_chat_id
        # About a second's worth of the overall rate is claimed (and paced) at a time, and
        # a new round starts when a quarter of it is free (a round reads the queue).
        self.capacity = max(1, math.ceil(settings.global_per_second))
        self._refill = max(1, self.capacity // 4)
        self._wake = asyncio.Event()
        self._in_flight: dict[int, int] = {}  # chat id -> row id being sent
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._intents = GroupCommit(db, _update_rows)
        self._results = GroupCommit(db, _update_rows)
        self._may_send: Callable[[], bool] = lambda: True

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, to send without waiting."""
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------
    async def run(self, may_send: Callable[[], bool] = lambda: True) -> None:
        """Send until cancelled or until `may_send()` turns false (the sender lock lost)."""
        self._may_send = may_send
        await self._recover()
        try:
            while may_send():
                try:
                    found = await self._round()
                except Exception:
                    log.exception("outbox sender round failed")
                    found = Round(next_due=self.settings.poll_interval)
                for row in found.claimed:
                    self._start(row)
                await self._pause(found)
        finally:
            await self.drain()

    async def _pause(self, found: Round) -> None:
        """Until a new row is committed, a delivery ends, or a row falls due."""
        timeout = self.settings.poll_interval
        if found.next_due is not None:
            timeout = min(timeout, max(0.01, found.next_due))
        self._wake.clear()
        self._done.clear()
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._done.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    async def drain_once(self) -> bool:
        """One round, waiting for its deliveries; True if anything was sent (tests)."""
        found = await self._round()
        for row in found.claimed:
            self._start(row)
        await self.drain()
        return bool(found.claimed)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, row: Claimed) -> None:
        self._in_flight[row.chat_id] = row.id
        task = asyncio.create_task(self._deliver(row), name=f"outbox-{row.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recover(self) -> None:
        """Rows with an intent and no result were in flight when the last sender stopped:
        they are sent again, and counted, because a send among them may arrive twice."""
        async with self.db.read() as session:
            rows = list(
                await session.execute(
                    select(TABLE.c.id, TABLE.c.kind).where(
                        TABLE.c.status == "pending", TABLE.c.sending_since.is_not(None)
                    )
                )
            )
        if rows:
            sends = [r.id for r in rows if r.kind not in outbox.EDIT_KINDS]
            log.warning(
                "%d outbox rows were in flight when the last sender stopped; sending them "
                "again (edits are harmless to repeat; %d sends may arrive twice)",
                len(rows), len(sends),
            )  # fmt: skip

    # --- choosing what goes next ----------------------------------------------------------
    async def _round(self) -> Round:
        room = self.capacity - len(self._in_flight)
        if room <= 0:
            return Round()
        now = utcnow()
        # Taken before reading: a delivery that ends while we read may have recorded its
        # outcome after our snapshot, so what we read of its chat is stale.
        busy = set(self._in_flight)
        sending = set(self._in_flight.values())
        is_due = TABLE.c.next_attempt_at <= bindparam("now", now, TABLE.c.next_attempt_at.type)
        columns = (TABLE.c.id, TABLE.c.chat_id, TABLE.c.target_message_id, is_due.label("due"))
        pending = TABLE.c.status == "pending"
        async with self.db.read() as session:
            oldest = await session.execute(
                select(*columns).where(pending).order_by(TABLE.c.id).limit(CANDIDATES)
            )
            # Edits of group messages go first, wherever they are in the queue.
            edits = await session.execute(
                select(*columns)
                .where(pending, TABLE.c.chat_id < 0, TABLE.c.target_message_id.is_not(None))
                .order_by(TABLE.c.id)
                .limit(CANDIDATES)
            )
            rows = sorted({row.id: row for row in [*oldest, *edits]}.values(), key=lambda r: r.id)
        found = Round()
        heads: dict[int, Any] = {}
        newest_edit: dict[tuple[int, int], Any] = {}
        for row in rows:
            if row.target_message_id is not None:
                key = (row.chat_id, row.target_message_id)
                older = newest_edit.get(key)
                if older is not None and older.id not in sending:
                    found.superseded.append(older.id)  # the newer edit says it all
                newest_edit[key] = row
        superseded = set(found.superseded)
        for row in rows:
            if row.id in superseded or row.chat_id in busy or row.chat_id in self._in_flight:
                continue
            head = heads.get(row.chat_id)
            if head is None or (
                row.chat_id < 0 and row.target_message_id is not None
                and head.target_message_id is None
            ):  # fmt: skip
                heads[row.chat_id] = row  # groups: the first edit goes before new cards
        due = [head for head in heads.values() if head.due]
        later = [head.id for head in heads.values() if not head.due]
        if later:  # retries waiting for their time: when the first of them falls due
            async with self.db.read() as session:
                first = await session.scalar(
                    select(func.min(TABLE.c.next_attempt_at)).where(TABLE.c.id.in_(later))
                )
            if first is not None:
                found.next_due = max(0.0, (first - now).total_seconds())
        if not due:
            await self._supersede(found.superseded)
            return found
        # A new message into a group leaves part of its minute to edits and replies.
        new = frozenset(h.chat_id for h in due if h.chat_id < 0 and h.target_message_id is None)
        waits = await self.pacer.wait_times([h.chat_id for h in due], new)
        ready = []
        for head in due:
            wait = waits.get(head.chat_id, 0.0)
            if wait <= CHAT_HORIZON:
                ready.append(head)
            else:
                found.next_due = wait if found.next_due is None else min(found.next_due, wait)
        ready.sort(key=lambda h: (h.target_message_id is None, h.id))  # edits first
        chosen = [h.id for h in ready[:room]]
        if chosen or found.superseded:
            found.claimed = await self._load(chosen)
            await self._supersede(found.superseded)
        return found

    async def _load(self, ids: list[int]) -> list[Claimed]:
        if not ids:
            return []
        async with self.db.read() as session:
            rows = await session.execute(
                select(
                    TABLE.c.id, TABLE.c.chat_id, TABLE.c.kind, TABLE.c.payload, TABLE.c.attempts
                ).where(TABLE.c.id.in_(ids), TABLE.c.status == "pending")
            )
            loaded = {r.id: Claimed(r.id, r.chat_id, r.kind, dict(r.payload), r.attempts)
                      for r in rows}  # fmt: skip
        return [loaded[i] for i in ids if i in loaded]

    async def _supersede(self, ids: list[int]) -> None:
        if ids:
            await self._results.submit([(row_id, {"status": "superseded"}) for row_id in ids])

    # --- one delivery ---------------------------------------------------------------------
    async def _deliver(self, row: Claimed) -> None:
        try:
            try:
                outcome = await self._attempt(row)
            except Exception:  # a bug; the row stays pending and is tried again
                log.exception("outbox %s (%s) crashed", row.id, row.kind)
                outcome = self._retry_values(row, _backoff(row.attempts), "crash", count=True)
            if outcome is not None:
                await self._record(row, outcome)
        finally:
            # Only now: until the result is recorded, the row must not be taken again.
            self._in_flight.pop(row.chat_id, None)
            if self.capacity - len(self._in_flight) >= self._refill:
                self._done.set()

    async def _attempt(self, row: Claimed) -> dict[str, Any] | None:
        """The call and what to record; None: not attempted (this process may no longer
        send), the row stays as it was."""
        try:
            outgoing = await self.views.render(row.chat_id, row.kind, row.payload)
        except Gone:
            return {"status": "failed", "last_error": "gone", "_report": False}
        except MissingGlyphsError as error:
            return self._fail_values(row, f"cannot draw {len(error.chars)} characters")
        if not self._may_send():
            return None
        # The intent first: between the slot and the request nothing may take time (a
        # send late for its slot could overfill a window). A crash while waiting for
        # the slot counts the row among those that may have been sent: harmless.
        await self._intents.submit([(row.id, {"sending_since": utcnow()})])
        await take_slot(self.pacer, row.chat_id)
        if not self._may_send():
            return None
        token = from_outbox.set(True)
        try:
            message_id = await self._send(row, outgoing)
        except TelegramRetryAfter as error:
            return self._retry_values(row, float(error.retry_after), "429 retry_after",
                                      count=False)  # fmt: skip
        except (TelegramNetworkError, TelegramServerError) as error:
            return self._retry_values(row, _backoff(row.attempts), type(error).__name__,
                                      count=True)  # fmt: skip
        except TelegramBadRequest as error:
            if NOT_MODIFIED in error.message.lower():
                return self._sent_values(row, None)
            return self._fail_values(row, f"bad request: {error.message}")
        except (TelegramForbiddenError, TelegramNotFound) as error:
            return self._fail_values(row, type(error).__name__)
        finally:
            from_outbox.reset(token)
        return self._sent_values(row, message_id)

    async def _send(self, row: Claimed, outgoing: Outgoing) -> int | None:
        if outgoing.method is not None:
            result = await self.bot(outgoing.method)
            return getattr(result, "message_id", None)
        if outgoing.photo is not None:
            message = await self.bot.send_photo(
                row.chat_id,
                BufferedInputFile(outgoing.photo, filename="member-card.png"),
                caption=outgoing.text,
                reply_markup=outgoing.reply_markup,
            )
            return message.message_id
        if outgoing.document is not None:
            name, content = outgoing.document
            message = await self.bot.send_document(
                row.chat_id,
                BufferedInputFile(content, filename=name),
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

    # --- outcomes -------------------------------------------------------------------------
    def _sent_values(self, row: Claimed, message_id: int | None) -> dict[str, Any]:
        return {
            "status": "sent", "sent_at": utcnow(), "sent_message_id": message_id,
            "attempts": row.attempts + 1,
        }  # fmt: skip

    def _retry_values(self, row: Claimed, delay: float, reason: str, *, count: bool) -> dict:
        attempts = row.attempts + (1 if count else 0)
        if attempts >= self.settings.max_attempts:
            return self._fail_values(row, reason)
        # Logs name the row, never its content: it may concern a person.
        log.warning("outbox %s (%s) to retry in %.1fs: %s", row.id, row.kind, delay, reason)
        return {
            "attempts": attempts, "last_error": reason, "sending_since": None,
            "next_attempt_at": utcnow() + timedelta(seconds=delay),
        }  # fmt: skip

    def _fail_values(self, row: Claimed, reason: str) -> dict[str, Any]:
        log.error("outbox %s (%s) failed for good: %s", row.id, row.kind, reason)
        return {"status": "failed", "attempts": row.attempts + 1, "last_error": reason[:500]}

    async def _record(self, row: Claimed, values: dict[str, Any]) -> None:
        """Write the outcome; while the database refuses, keep trying (the row must not
        be sent again for want of a record)."""
        report = values.pop("_report", True) and values.get("status") == "failed"
        delay = 0.5
        while True:
            try:
                await self._results.submit([(row.id, values)])
                break
            except Exception as error:
                log.error("outbox %s: recording the outcome failed (%s); retrying in %.0fs",
                          row.id, type(error).__name__, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if report and row.kind not in outbox.REPORT_KINDS:
            try:
                async with self.db.transaction() as session:
                    await outbox.report_failure(
                        session, row.chat_id, row.kind, row.payload,
                        str(values.get("last_error")), self.federation_chat_id,
                    )  # fmt: skip
            except Exception:
                log.exception("outbox %s: could not report its failure to staff", row.id)


async def _update_rows(session: Any, items: list[tuple[int, dict[str, Any]]]) -> None:
    """One UPDATE per set of columns, executed for all the rows that set them."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in items:
        groups.setdefault(tuple(sorted(values)), []).append({"_id": row_id, **values})
    for columns, params in groups.items():
        statement = (
            update(TABLE)
            .where(TABLE.c.id == bindparam("_id"))
            # Typed: a bare bindparam would skip the column type (SQLite keeps datetimes
            # as text, and compares them as text).
            .values({c: bindparam(c, type_=TABLE.c[c].type) for c in columns})
        )
        await session.execute(statement, params)


class GroupCommit:
    """Writes submitted at about the same time share one transaction; `submit` returns
    once its items are committed."""

    def __init__(self, db: Database, write: Callable[[Any, list[Any]], Awaitable[None]]) -> None:
        self.db = db
        self.write = write
        self._queue: list[tuple[list[Any], asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, items: list[Any]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((items, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit())
        await done

    async def _commit(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                async with self.db.transaction(urgent=True) as session:
                    await self.write(session, [item for items, _ in batch for item in items])
            except Exception as error:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


def _backoff(attempts: int) -> float:
    return min(MAX_BACKOFF, 2.0**attempts)
