"""Approvals per second as the bot makes them, with the outbox sender draining at the same
time (target: at least 300 approvals/s on SQLite).

One approval is what a street reviewer's press of 通过 on a review card does, with the
arguments handlers/review.py passes: `ReviewService.approve(application id,
Actor(reviewer's user id, name), CardRef(review group, the card's message id))`, where the
card is the one the sender really posted into the group when the application came in. It
is one transaction: the enterprise's lock, the conditional status update with the
reviewer check, the member number, the member row, the enterprise recount and
confirmation, the threshold check (an alert to the federation group when an enterprise
reaches 25), the audit row and three outbox rows: "approved" and the member card to the
worker, and the edit of the pressed card.

Alongside, as in `unionbot run`, the real outbox sender (bot/sender.py, built by
bot.app.build_app with its views and flood limiter) runs in the same process and event
loop, delivering those rows to the project's Bot API emulator, which runs in a process of
its own like Telegram across the network. Per row the sender renders the message (the
member card as a PNG, in a worker thread), commits its intent, sends and commits the
result; those writes compete with the approvals for the write lock (on SQLite the
process's lock, where the sender's writes go first; on PostgreSQL rows, and the shared
limiter's reservations). The limiter's limits are raised far above Telegram's (30 a second
overall, 1 a second per chat, 20 a minute per group) so that the sender drains as fast as
it can: this measures the database, not Telegram; paced at Telegram's 30 a second the
sender would compete less.

`--concurrency` reviewers press at once, each their next card. A round per variant:
`--warm-up` approvals not timed, then `--n` timed (the window runs from the end of the
warm-up to the last approval). Printed per round: approvals/s, p50 and p99 latency of one
approval, the outbox rows the sender delivered within the window, the rows still pending
at its end and how long the sender took to deliver them (after the window, untimed; every
round starts with an empty outbox). Then per variant the median over the rounds with the
spread (min-max), and whether the target is met.

Variants, in alternated order (A B, B A, ...), to switch parts off in the same run:
production (card reference and sender), no-sender, no-card, bare (neither: the old
benchmark's approvals), no-tallies and bare-no-tallies (production and bare without the
statistics' triggers, which are dropped before those rounds and created again after).

    python -m bench.bench_approvals [--n 400] [--concurrency 8] [--warm-up 100]
        [--rounds 3] [--variants production,bare] [--database URL]

--database takes an empty PostgreSQL database (postgresql+asyncpg://...); the default is
a SQLite file in a temporary folder. Set-up (not timed) submits every application of the
run through the intake service and lets the sender post their review cards.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from bench.bench_updates import RAISED_LIMITS, percentile, start_process, stop_process
from bot.app import App, build_app
from bot.local import DEMO_TOKEN, DEMO_USERNAME, local_settings
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.services.intake import Draft, IntakeService
from bot.services.review import CardRef, ReviewService
from bot.validation import ric_check_char
from models import OutboxMessage, tally_triggers
from models.base import utcnow

TARGET = 300.0  # approvals a second, on SQLite
REVIEW_GROUP = -100500
FEDERATION_GROUP = -100900
FEDERATION_STAFF = 901
FIRST_REVIEWER = 501
FIRST_WORKER = 10_000
THRESHOLD = 25
ENTERPRISES = 20
DRAIN_TIMEOUT = 600.0  # seconds; an outbox that does not drain is a failure, not a figure


@dataclass(frozen=True)
class Variant:
    card: bool  # approve with the card's reference (its edit is queued)
    sender: bool  # the sender drains while approvals run
    tallies: bool = True  # the statistics' triggers count each approval


VARIANTS = {
    "production": Variant(card=True, sender=True),
    "no-sender": Variant(card=True, sender=False),
    "no-card": Variant(card=False, sender=True),
    "bare": Variant(card=False, sender=False),
    "no-tallies": Variant(card=True, sender=True, tallies=False),
    "bare-no-tallies": Variant(card=False, sender=False, tallies=False),
}


async def set_tallies(app: App, on: bool) -> None:
    """Drop the statistics' triggers, or recount the tallies and create them again (both
    untimed, between rounds)."""
    async with app.db.transaction() as session:
        dialect = session.bind.dialect.name
        statements = tally_triggers.drop_statements(dialect)
        if on:
            statements += tally_triggers.rebuild_statements(dialect)
            statements += tally_triggers.create_statements(dialect)
        for statement in statements:
            await session.execute(text(statement))


@dataclass
class Round:
    rate: float  # approvals a second within the window
    latencies: list[float]  # seconds, of the approvals that ended within the window
    delivered: int  # outbox rows the sender delivered within the window
    behind: dict[str, int]  # rows pending at the window's end, by kind
    drained_in: float  # seconds the sender then took to deliver them


def resident_id(seq: int) -> str:
    """A valid id number, unique for every `seq` (the birth date moves every 1,000)."""
    body = f"110102{birth_date(seq):%Y%m%d}{seq % 1000:03d}"
    return body + ric_check_char(body)


def birth_date(seq: int) -> date:
    return date(1970, 1, 1) + timedelta(days=seq // 1000)


def draft(street_id: int, seq: int) -> Draft:
    return Draft(
        street_id=street_id,
        point_id=None,
        consent_at=utcnow(),
        notice_version="2026-11",
        name=f"职工{seq}",
        resident_id=resident_id(seq),
        gender="male" if seq % 2 else "female",  # the id's 17th digit
        birth_date=birth_date(seq),
        mobile=f"+86138{seq:08d}",
        employer=f"企业{seq % ENTERPRISES}有限公司",
        job=None,
        language="zh",
    )


class Sender:
    """The app's outbox sender, running (`start`) or not (`stop`), as the sender role
    runs it (bot/runner.py), without the lock only one process may hold."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._task: asyncio.Task[None] | None = None
        self._running = False

    def start(self) -> None:
        if self._task is None:
            self._running = True
            self._task = asyncio.create_task(self.app.sender.run(lambda: self._running))

    async def stop(self) -> None:
        if self._task is not None:
            self._running = False
            self.app.sender.wake()
            await self._task
            self._task = None


async def outbox_counts(app: App) -> dict[str, int]:
    """Rows pending by kind; failed rows under "failed" (there should be none)."""
    table = OutboxMessage.__table__
    async with app.db.read() as session:
        rows = await session.execute(
            select(table.c.status, table.c.kind, func.count())
            .where(table.c.status.in_(["pending", "failed"]))
            .group_by(table.c.status, table.c.kind)
        )
        counts: dict[str, int] = {}
        for status, kind, count in rows:
            key = kind if status == "pending" else "failed"
            counts[key] = counts.get(key, 0) + count
        return counts


async def delivered_between(app: App, start: datetime, end: datetime) -> int:
    table = OutboxMessage.__table__
    async with app.db.read() as session:
        return await session.scalar(
            select(func.count()).where(
                table.c.status == "sent", table.c.sent_at >= start, table.c.sent_at <= end
            )
        )


async def drain(app: App, sender: Sender) -> float:
    """Run the sender until nothing is pending; the seconds it took."""
    sender.start()
    started = time.perf_counter()
    while True:
        counts = await outbox_counts(app)
        if counts.pop("failed", 0):
            raise SystemExit("bench: outbox rows failed; see the log")
        if not counts:
            return time.perf_counter() - started
        if time.perf_counter() - started > DRAIN_TIMEOUT:
            raise SystemExit(f"bench: the outbox did not drain: {counts}")
        await asyncio.sleep(0.05)


async def set_up(app: App, applications: int, concurrency: int) -> list[tuple[int, int]]:
    """The street, its review group and reviewers; `applications` submitted through the
    intake service and their review cards posted by the sender. (application id, the
    card's message id) in submission order."""
    admin = AdminService(app.db)
    cli = Actor.cli("bench")
    await admin.add_street("DS", "德胜街道", cli)
    await admin.set_review_chat("DS", REVIEW_GROUP, cli)
    for k in range(concurrency):
        await admin.add_staff(FIRST_REVIEWER + k, f"审核员{k + 1}", "street", "DS", cli)
    street_id = (await admin.streets())[0].id
    intake: IntakeService = app.dispatcher["intake"]
    sender = Sender(app)
    sender.start()
    for seq in range(ENTERPRISES):  # each enterprise made once, before submissions race
        await intake.submit(FIRST_WORKER + seq, draft(street_id, seq))
    numbers = iter(range(ENTERPRISES, applications))

    async def submitter() -> None:
        for seq in numbers:
            await intake.submit(FIRST_WORKER + seq, draft(street_id, seq))

    await asyncio.gather(*(submitter() for _ in range(concurrency)))
    await drain(app, sender)
    await sender.stop()
    table = OutboxMessage.__table__
    async with app.db.read() as session:
        rows = await session.execute(
            select(table.c.payload, table.c.sent_message_id).where(
                table.c.kind == "review_card", table.c.status == "sent"
            )
        )
        cards = sorted((payload["application_id"], message_id) for payload, message_id in rows)
    if len(cards) != applications:
        raise SystemExit(f"bench: {len(cards)} review cards posted of {applications}")
    return cards


async def run_round(
    app: App,
    variant: Variant,
    cards: list[tuple[int, int]],
    concurrency: int,
    warm_up: int,
) -> Round:
    """Approve every card of `cards`: the first `warm_up` not timed, the rest timed."""
    review: ReviewService = app.dispatcher["review"]
    sender = Sender(app)
    if variant.sender:
        sender.start()
    jobs = iter(cards)
    done = 0
    window: list[float] = []  # perf_counter at the window's start
    window_utc: list[datetime] = []
    counted: list[float] = []
    last = 0.0
    if warm_up == 0:
        window.append(time.perf_counter())
        window_utc.append(utcnow())

    async def reviewer(k: int) -> None:
        nonlocal done, last
        actor = Actor(FIRST_REVIEWER + k, f"审核员{k + 1}")  # handlers.review.actor_of
        for application_id, message_id in jobs:
            card = CardRef(REVIEW_GROUP, message_id) if variant.card else None
            started = time.perf_counter()
            await review.approve(application_id, actor, card)
            last = time.perf_counter()
            done += 1
            if window:
                counted.append(last - started)
            elif done == warm_up:
                window.append(last)
                window_utc.append(utcnow())

    await asyncio.gather(*(reviewer(k) for k in range(concurrency)))
    end_utc = utcnow()
    behind = await outbox_counts(app)  # right at the end, the sender still running
    rate = len(counted) / (last - window[0])
    drained_in = await drain(app, sender)  # stopped only when nothing is in flight
    await sender.stop()
    behind.pop("failed", None)
    delivered = await delivered_between(app, window_utc[0], end_utc) if variant.sender else 0
    return Round(rate, counted, delivered, behind, drained_in)


def latency(values: list[float]) -> str:
    p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
    return f"p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"


def describe(result: Round, seconds: float) -> str:
    pending = sum(result.behind.values())
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(result.behind.items()))
    return (
        f"sender delivered {result.delivered} rows ({result.delivered / seconds:.0f}/s); "
        f"{pending} pending at the end ({kinds or 'none'}), delivered in {result.drained_in:.1f} s"
    )


async def main(
    n: int, concurrency: int, warm_up: int, rounds: int, names: list[str], database: str | None
) -> None:
    per_round = warm_up + n
    applications = per_round * rounds * len(names)
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        ready = Path(folder) / "emulator"
        emulator = await start_process(
            ["-m", "bench.bench_approvals", "--emulator", str(ready), str(applications),
             str(concurrency)], {},
        )  # fmt: skip
        try:
            api_base = await wait_ready(ready, emulator)
            settings = local_settings(
                api_base, url, federation_chat_id=FEDERATION_GROUP, threshold=THRESHOLD,
                outbox=RAISED_LIMITS,
            )  # fmt: skip
            app = await build_app(settings)
            try:
                started = time.perf_counter()
                cards = await set_up(app, applications, concurrency)
                print(
                    f"approvals on {engine}: {concurrency} reviewers at once; per round and "
                    f"variant {warm_up} approvals of warm-up, then {n} timed; set-up "
                    f"({applications} applications, their cards posted) took "
                    f"{time.perf_counter() - started:.0f} s"
                )
                results: dict[str, list[Round]] = {name: [] for name in names}
                batches = (cards[i : i + per_round] for i in itertools.count(0, per_round))
                for number in range(1, rounds + 1):
                    order = names if number % 2 else names[::-1]
                    print(f"round {number} ({' '.join(order)})")
                    for name in order:
                        await set_tallies(app, VARIANTS[name].tallies)
                        result = await run_round(
                            app, VARIANTS[name], next(batches), concurrency, warm_up
                        )
                        results[name].append(result)
                        seconds = len(result.latencies) / result.rate
                        print(f"  {name:10s} {result.rate:6.1f} approvals/s   "
                              f"{latency(result.latencies)}")  # fmt: skip
                        if VARIANTS[name].sender or result.behind:
                            print(f"  {'':10s} {describe(result, seconds)}")
            finally:
                await app.close()
        finally:
            await stop_process(emulator)
    summarise(results, rounds, engine)


def summarise(results: dict[str, list[Round]], rounds: int, engine: str) -> None:
    print(f"over {rounds} rounds: median approvals/s (min-max); latency of all rounds' approvals")
    medians = {}
    for name, rounds_of in results.items():
        rates = [r.rate for r in rounds_of]
        medians[name] = statistics.median(rates)
        every = [value for r in rounds_of for value in r.latencies]
        spread = f"{medians[name]:6.1f} ({min(rates):.1f}-{max(rates):.1f})"
        behind = statistics.median(sum(r.behind.values()) for r in rounds_of)
        print(f"  {name:10s} {spread:22s} {latency(every)}   pending at the end (median) "
              f"{behind:.0f}")  # fmt: skip
    if "production" in medians and "bare" in medians:
        print(f"  production / bare: {medians['production'] / medians['bare']:.2f}")
    name = "production" if "production" in medians else next(iter(medians))
    verdict = "met" if medians[name] >= TARGET else "MISSED"
    note = "" if engine == "SQLite" else " (the target is set for SQLite)"
    print(f"  target >= {TARGET:.0f} approvals/s ({name}): {verdict}{note}")


async def wait_ready(ready: Path, process: asyncio.subprocess.Process) -> str:
    for _ in range(600):
        address = await asyncio.to_thread(read_if_there, ready)
        if address:
            return address
        if process.returncode is not None:
            raise SystemExit("bench: the emulator process stopped")
        await asyncio.sleep(0.05)
    raise SystemExit("bench: the emulator did not start")


def read_if_there(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def write_whole(path: Path, text: str) -> None:
    """Written aside and renamed: the reader never sees half an address."""
    part = path.with_suffix(".part")
    part.write_text(text)
    part.rename(path)


def serve_emulator(ready: Path, workers: int, reviewers: int) -> None:
    """The Bot API emulator with the bot, its review and federation groups, the reviewers
    and `workers` people who started the bot; writes its address to `ready` and serves
    until terminated."""
    from bot.emulator import Emulator

    async def run() -> None:
        emu = Emulator()
        emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
        staff = [FIRST_REVIEWER + k for k in range(reviewers)]
        for k, user_id in enumerate(staff):
            emu.add_user(user_id, f"审核员{k + 1}")
        emu.add_user(FEDERATION_STAFF, "区总工会")
        for seq in range(workers):
            emu.add_user(FIRST_WORKER + seq, f"职工{seq}")
            emu.open_private_chat(FIRST_WORKER + seq)
        emu.add_group(REVIEW_GROUP, "德胜街道工会审核群", staff, staff[:1])
        emu.add_group(FEDERATION_GROUP, "区总工会工作群", [FEDERATION_STAFF], [FEDERATION_STAFF])
        emu.add_bot_to_group(DEMO_TOKEN, REVIEW_GROUP, staff[0])
        emu.add_bot_to_group(DEMO_TOKEN, FEDERATION_GROUP, FEDERATION_STAFF)
        async with emu:
            await asyncio.to_thread(write_whole, ready, emu.base_url)
            await asyncio.Event().wait()  # until SIGTERM

    asyncio.run(run())


def variant_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"variants are {', '.join(VARIANTS)}")
    return names


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=400, help="timed approvals a round (400)")
    parser.add_argument("--concurrency", type=int, default=8, help="reviewers at once (8)")
    parser.add_argument("--warm-up", type=int, default=100, help="approvals not timed (100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the variants (3)")
    parser.add_argument("--variants", type=variant_names, default=["production", "bare"],
                        help=f"of {', '.join(VARIANTS)} (production,bare)")  # fmt: skip
    parser.add_argument("--database", help="an empty PostgreSQL database (asyncpg URL)")
    parser.add_argument("--emulator", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emulator:
        serve_emulator(Path(args.emulator[0]), int(args.emulator[1]), int(args.emulator[2]))
    else:
        asyncio.run(main(args.n, args.concurrency, args.warm_up, args.rounds, args.variants,
                         args.database))  # fmt: skip
