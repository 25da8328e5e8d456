"""Telegram's flood limits, end to end: the real bot (`unionbot run` in its own process)
drains a burst of approvals into the emulator with Telegram's flood control switched on
(1 message a second per chat, 20 a minute per group, 30 a second overall; beyond them a
429 with retry_after), while staff work in a saturated review group.

What happens:
- the review group gets a queue of new review cards (more than its 20 a minute);
- a second street (no review group) approves a burst at once: each approval is a message
  and a member card to the worker, each submission a "received" notice;
- while the group's minute is full of new cards, staff approve cards already posted (the
  card edits must not wait behind new cards) and ask /whoami (a handler's direct reply).

Figures: 429s received (target 0); the overall rate while the burst lasts against the
configured 30/s (target >= 95 %); the most sends in any 1-second window (never above 30),
into one chat in any second (1) and into the group in any minute (20); the longest gap
in the group's queue; how long card edits and /whoami waited; the bot's CPU per message.

    python -m bench.bench_limiter [--approvals 600] [--cards 25] [--database URL] [--calls F]

--database takes an empty PostgreSQL database (postgresql+asyncpg://...) to run the bot on
PostgreSQL (its shared limiter); the default is a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import math
import os
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.db import Database
from bot.emulator import Emulator, FloodLimits
from bot.emulator.faults import FLOOD_METHODS
from bot.emulator.html import parse_html
from bot.emulator.records import ApiCall
from bot.local import local_settings
from bot.pacing import EDIT_RESERVE
from bot.people import find_button
from bot.pii import LookupHasher, PiiCipher, parse_key
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.services.intake import Draft, IntakeService
from bot.services.review import ReviewService
from models import Application, OutboxMessage
from tests.conftest import make_resident_id
from tests.live import FEDERATION_GROUP, REVIEW_GROUP, STAFF_IDS, make_emulator_people, seed
from tests.processes import BotProcess, config_sections, write_config
from tests.test_reliability import eventually, make_draft

BURST_STAFF = 880_001
GLOBAL, GROUP_PER_MINUTE = 30, 20
EDITS = 5  # cards staff approve while the group's minute is full


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def most_in_window(times: list[float], span: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


def _draft(street_id: int, seq: int) -> Draft:
    """make_draft with a resident id unique beyond 1,000 people (the birth date varies)."""
    birth = date(1980, 1, 1) + timedelta(days=seq // 1000)
    return replace(make_draft(street_id, None, seq % 1000), birth_date=birth,
                   resident_id=make_resident_id(seq % 1000, birth), name=f"职工{seq}",
                   mobile=f"+86139{seq:08d}")  # fmt: skip


class Burst:
    """Applications and approvals made straight through the services, as staff working in
    another process would make them."""

    def __init__(self, url: str, sections: dict) -> None:
        security = sections["security"]
        self.db = Database(url)
        cipher = PiiCipher({"k1": parse_key(security["data_key"])}, "k1")
        self.intake = IntakeService(
            self.db, cipher, LookupHasher(parse_key(security["lookup_key"]))
        )
        self.review = ReviewService(self.db, federation_chat_id=FEDERATION_GROUP, threshold=10_000)

    async def submit(self, street_id: int, users: list[int], first_seq: int) -> list[int]:
        for i, user_id in enumerate(users):
            await self.intake.submit(user_id, _draft(street_id, first_seq + i))
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Application.id).where(Application.street_id == street_id)
                .order_by(Application.id)
            )  # fmt: skip
            return list(rows)

    async def approve(self, ids: list[int], staff: Actor) -> None:
        for application_id in ids:
            await self.review.approve(application_id, staff, None)


async def main(approvals: int, cards: int, database: str | None, calls_file: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with Emulator() as emu:
            emu.set_flood_limits(FloodLimits(1, GROUP_PER_MINUTE, GLOBAL))
            make_emulator_people(emu)
            url = database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            settings = local_settings(
                emu.base_url, url, federation_chat_id=FEDERATION_GROUP, threshold=10_000
            )  # the defaults: Telegram's limits
            await seed(settings)
            street_ids = await _second_street(url)
            sections = config_sections(settings)
            config = write_config(Path(folder) / "config.toml", sections)
            group_workers = list(range(610_001, 610_001 + cards))
            burst_workers = list(range(620_001, 620_001 + approvals))
            for user_id in group_workers + burst_workers:
                emu.add_user(user_id, f"职工{user_id}")
                emu.open_private_chat(user_id)
            # Queued before the bot starts: the rate is the limiter's, not the producer's.
            await _produce(url, sections, street_ids, group_workers, burst_workers)
            mark = len(emu.sent_log)
            # What is left from setting up is never freed: without this, the collector's
            # pauses in this process (the emulator) bunch the bot's evenly spaced sends
            # into bursts on arrival, and the emulator, like Telegram, answers 429.
            gc.freeze()
            bot = BotProcess("bench", config, Path(folder) / "bot.log").start()
            try:
                await bot.wait_for_log("this process sends the outbox", 60)
                await _run(emu, bot, url, mark, group_workers, burst_workers)
            finally:
                bot.stop()
                if calls_file is not None:  # also when the run failed: to see why
                    body = json.dumps([c.as_dict() for c in emu.sent_log[mark:]], default=str)
                    await asyncio.to_thread(Path(calls_file).write_text, body)
                    await asyncio.to_thread(Path(calls_file + ".log").write_text, bot.output())


async def _second_street(url: str) -> dict[str, int]:
    db = Database(url)
    admin = AdminService(db)
    cli = Actor.cli("bench")
    await admin.add_street("XC", "西长安街街道", cli)
    await admin.add_staff(BURST_STAFF, "审核员", "street", "XC", cli)
    streets = {s.code: s.id for s in await admin.streets()}
    await db.dispose()
    return streets


async def _run(
    emu: Emulator, bot: BotProcess, url: str, mark: int, group_workers: list[int],
    burst_workers: list[int],
) -> None:  # fmt: skip
    cards, approvals = len(group_workers), len(burst_workers)
    cpu_before, started = cpu_seconds(bot.pid), time.monotonic()

    # When the group's minute is full of new cards, staff approve posted cards and ask
    # /whoami: both must go before the new cards still waiting.
    def group_sends() -> list[ApiCall]:
        return [c for c in emu.sent_log[mark:] if c.ok and c.chat_id == REVIEW_GROUP
                and c.method.lower() in FLOOD_METHODS]  # fmt: skip

    burst_chats = set(burst_workers)
    drained = asyncio.create_task(_burst_drained(emu, bot, mark, burst_chats, 3 * approvals))
    new_per_minute = GROUP_PER_MINUTE - math.ceil(GROUP_PER_MINUTE * EDIT_RESERVE)
    await eventually(lambda: len(group_sends()) >= new_per_minute, 120, "the group's new cards")
    posted = [c for c in group_sends() if c.method == "sendMessage"][:EDITS]
    pressed: dict[int, float] = {}
    for call in posted:
        message_id = _message_id_of(emu, call)
        card = emu.message(REVIEW_GROUP, message_id)
        emu.press_button(STAFF_IDS[0], REVIEW_GROUP, message_id, find_button(card, "通过"))
        pressed[message_id] = time.monotonic()
    asked = time.monotonic()
    emu.send_text(STAFF_IDS[1], "/whoami", chat_id=REVIEW_GROUP)

    edits_of = lambda: {  # noqa: E731
        int(c.params["message_id"]): c.answered for c in group_sends()
        if c.method == "editMessageText" and int(c.params["message_id"]) in pressed
    }  # fmt: skip
    await eventually(lambda: len(edits_of()) == len(pressed), 180, "the card edits")
    await eventually(lambda: _reply_after(emu, asked) is not None, 180, "the /whoami reply")
    total = cards * 2 + approvals * 3 + len(pressed) + 1
    await eventually(lambda: len(_sends(emu, mark)) >= total, 300, "the whole burst")
    await _drained(url)
    elapsed = time.monotonic() - started
    burst_done, burst_cpu = await drained
    cpu = burst_cpu - cpu_before

    sends = _sends(emu, mark)
    calls = emu.sent_log[mark:]
    refused = [c for c in calls if c.status == 429]
    in_burst = [c.at for c in sends if c.chat_id in burst_chats]
    first, last = min(in_burst), max(in_burst)
    during = [c for c in sends if first <= c.at <= last]
    rate = (len(during) - 1) / (last - first)
    by_chat: dict[object, list[float]] = {}
    for call in sends:
        by_chat.setdefault(call.chat_id, []).append(call.at)
    group_times = sorted(by_chat.get(REVIEW_GROUP, []))
    gaps = [b - a for a, b in itertools.pairwise(group_times)]
    edit_waits = [edits_of()[m] - pressed[m] for m in pressed]
    whoami = (_reply_after(emu, asked) or asked) - asked

    print(
        f"limiter: {len(sends)} messages ({approvals} approvals, {cards} new review cards, "
        f"{len(pressed)} card edits, 1 /whoami) in {elapsed:.1f}s, flood control on"
    )
    print(
        f"  429 received: {len(refused)} "
        f"({sum(1 for c in refused if c.chat_id == REVIEW_GROUP)} in the group)   (target 0)"
    )
    print(
        f"  overall rate while the burst lasted: {rate:.1f}/s = {rate / GLOBAL:.0%} of the "
        f"configured {GLOBAL}/s   (target >= 95 %)"
    )
    print(
        f"  most sends in any 1 s: {most_in_window([c.at for c in sends], 1.0)} "
        f"(limit {GLOBAL}); into one chat in any 1 s: "
        f"{max(most_in_window(t, 1.0) for t in by_chat.values())} (limit 1); "
        f"into the group in any 60 s: {most_in_window(group_times, 60.0)} "
        f"(limit {GROUP_PER_MINUTE})"
    )
    print(
        f"  group queue: longest gap between sends {max(gaps):.1f}s while "
        f"{len(group_times)} waited (Telegram's {GROUP_PER_MINUTE} a minute)"
    )
    print(
        f"  {len(edit_waits)} card edits pressed at once while new cards filled the group's "
        f"minute: went after {', '.join(f'{w:.1f}' for w in sorted(edit_waits))}s "
        f"(median {statistics.median(edit_waits):.1f}s; one a second into a chat, and the "
        f"group's 20 a minute); /whoami answered in {whoami:.1f}s"
    )
    print(
        f"  bot CPU while the burst drained: {cpu:.1f}s in {burst_done - started:.1f}s, "
        f"{cpu / len(during) * 1000:.1f} ms per message (a member card rendered for each "
        f"approval)"
    )


async def _produce(url: str, sections: dict, streets: dict[str, int],
                   group_workers: list[int], burst_workers: list[int]) -> None:  # fmt: skip
    """The review group's queue (more new cards than its minute allows), then the other
    street's burst, submitted and approved at once."""
    burst = Burst(url, sections)
    try:
        await burst.submit(streets["DS"], group_workers, 1)
        ids = await burst.submit(streets["XC"], burst_workers, 10_000)
        await burst.approve(ids, Actor(BURST_STAFF, "审核员"))
    finally:
        await burst.db.dispose()


async def _burst_drained(
    emu: Emulator, bot: BotProcess, mark: int, chats: set[int], count: int
) -> tuple[float, float]:
    """When the burst's last message went, and the bot's CPU time then."""
    await eventually(lambda: sum(1 for c in _sends(emu, mark) if c.chat_id in chats) >= count,
                300, "the burst")  # fmt: skip
    return time.monotonic(), cpu_seconds(bot.pid)


def _sends(emu: Emulator, mark: int) -> list[ApiCall]:
    return [c for c in emu.sent_log[mark:] if c.ok and c.method.lower() in FLOOD_METHODS]


def _message_id_of(emu: Emulator, call: ApiCall) -> int:
    """The group message a logged sendMessage made (the card with its number)."""
    text = str(call.params.get("text", ""))
    for message in emu.messages(REVIEW_GROUP):
        if message.get("text") and message["text"][:40] == parse_html(text)[0][:40]:
            return int(message["message_id"])
    raise SystemExit("bench: a posted card is missing from the group")


def _reply_after(emu: Emulator, since: float) -> float | None:
    """When the /whoami answer ("您的用户 ID：...") was ready."""
    for call in emu.sent_log:
        text = str(call.params.get("text", ""))
        if call.ok and call.chat_id == REVIEW_GROUP and call.at >= since and "用户 ID" in text:
            return call.answered
    return None


async def _drained(url: str) -> None:
    db = Database(url)
    try:
        for _ in range(600):
            async with db.read() as session:
                pending = await session.scalar(
                    select(OutboxMessage.id).where(OutboxMessage.status == "pending").limit(1)
                )
            if pending is None:
                return
            await asyncio.sleep(0.1)
        raise SystemExit("bench: the outbox did not drain")
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--approvals", type=int, default=600)
    parser.add_argument("--cards", type=int, default=25)
    parser.add_argument("--database", help="an empty PostgreSQL database (asyncpg URL)")
    parser.add_argument("--calls", help="write the Bot API calls made to this JSON file")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.approvals, args.cards, args.database, args.calls))
    except AssertionError as error:  # a wait that timed out: one line, not a traceback
        raise SystemExit(f"bench: {error}") from None
