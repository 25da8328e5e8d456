"""Form steps per second, end to end through the emulator: unionbot beside the same form
on aiogram's stock FSM with MemoryStorage (bench/baseline_bot.py: no durability) and beside
a bare aiogram echo bot. Targets: unionbot at least 0.8x the baseline and 0.5x the echo bot.

Each bot runs in its own process (`unionbot run`, the production entry point, or a plain
aiogram bot polling with aiogram's defaults), like a bot talking to Telegram over the
network; this process hosts the emulators (one per bot, kept for the whole run) and the
simulated workers. Each worker sends a message and waits for the answer, like a person,
and starts a new person's form when one is done; `--workers` do so at once. For unionbot
and the baseline the updates are the real form steps (/start with a reception point's
code, the consent button, name, id number, mobile, employer, job, up to the summary); for
the echo bot, the same number of texts echoed back.

The bots take turns in alternated rounds (A B C, C B A, A B C, ...) so that load from
elsewhere on a shared machine hits all three; a round starts the bot's process, waits for
one form to go through, and counts the steps answered within a timed window after a
warm-up under full load. Printed per round and bot: updates a second, p50 and p99 step
latency (from sending to the answer arriving), the bot process's CPU time per update;
then per bot the median over the rounds with the spread (min-max), and the ratios of the
medians.

    python -m bench.bench_updates [--workers 60] [--rounds 3] [--seconds 20]
                                  [--warm-up 5] [--database URL]

--database takes an empty PostgreSQL database (postgresql+asyncpg://...) for unionbot;
the default is a SQLite file in a temporary folder. The database is set up once and
serves all of unionbot's rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.emulator import Emulator
from bot.local import DEMO_TOKEN, DEMO_USERNAME
from bot.people import find_button
from bot.pii import generate_key
from bot.validation import ric_check_char

ECHO_TOKEN = "7000000002:bare-aiogram-echo-bot"
BASELINE_TOKEN = "7000000003:aiogram-memory-storage-form-bot"
FIRST_USER = 300_000
TIMEOUT = 60.0  # a step slower than this is a failure, not a figure
# The outbox's limits far above Telegram's (30 a second overall, 1 a second per chat, 20 a
# minute per group): the benchmarks measure the bot's own work, not Telegram's limits.
RAISED_LIMITS = {
    "global_per_second": 100_000.0,
    "private_per_second": 1000.0,
    "group_per_minute": 100_000.0,
}


def resident_id(n: int) -> str:
    body = f"110102{1970 + n % 30}0101{n % 1000:03d}"
    return body + ric_check_char(body)


def form_steps(n: int) -> list[tuple[str, str]]:
    """(text the worker sends, text the bot's answer contains)."""
    return [
        ("张三", "身份证号"),
        (resident_id(n), "手机号"),
        (f"+86138{n % 100_000_000:08d}", "工作单位"),
        ("北京德胜数码科技有限公司", "岗位"),
        ("工程师", "请核对"),
    ]


# A form as one person goes through it: yields each step's latency in seconds.
Form = Callable[[Emulator, int], AsyncIterator[float]]


async def timed_say(emu: Emulator, user_id: int, text: str, expect: str) -> float:
    mark = emu.mark()
    started = time.perf_counter()
    emu.send_text(user_id, text)
    await emu.wait_for(user_id, expect, since=mark, timeout=TIMEOUT)
    return time.perf_counter() - started


def point_form(code: str) -> Form:
    """unionbot's form (and the baseline's): the QR deep link, the consent button, five
    answers up to the summary."""

    async def form(emu: Emulator, user_id: int) -> AsyncIterator[float]:
        mark = emu.mark()
        started = time.perf_counter()
        emu.send_text(user_id, f"/start {code}")
        notice = await emu.wait_for(user_id, "个人信息处理说明", since=mark, timeout=TIMEOUT)
        yield time.perf_counter() - started
        mark = emu.mark()
        started = time.perf_counter()
        emu.press_button(user_id, user_id, notice["message_id"], find_button(notice, "同意处理"))
        await emu.wait_for(user_id, "请输入您的姓名", since=mark, timeout=TIMEOUT)
        yield time.perf_counter() - started
        for text, expect in form_steps(user_id):
            yield await timed_say(emu, user_id, text, expect)

    return form


async def echo_form(emu: Emulator, user_id: int) -> AsyncIterator[float]:
    for text in ["/start", "同意"] + [text for text, _ in form_steps(user_id)]:
        yield await timed_say(emu, user_id, text, text)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    rate: float  # updates a second
    latencies: list[float]  # seconds, of the steps answered within the window
    cpu_per_update: float  # seconds of the bot process's CPU time

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)


@dataclass
class Subject:
    """One bot under test: its emulator, how to start its process, its form."""

    name: str
    emu: Emulator
    command: list[str]
    form: Form
    env: dict[str, str] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def start_process(command: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *command, env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def stop_process(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        process.kill()
        await process.wait()


async def run_round(
    subject: Subject, users: itertools.count, workers: int, warm_up: float, seconds: float
) -> Round:
    """Start the bot, put one form through (the bot is up), then keep `workers` people
    busy; count the steps answered between the end of the warm-up and the window's end."""
    emu = subject.emu

    def new_user() -> int:
        user_id = next(users)
        emu.add_user(user_id, f"职工{user_id}")
        return user_id

    process = await start_process(subject.command, subject.env)
    try:
        async for _ in subject.form(emu, new_user()):
            pass
        started = time.perf_counter()
        window_start, window_end = started + warm_up, started + warm_up + seconds
        counted: list[float] = []
        cpu_at_start: list[float] = []

        async def mark_cpu() -> None:
            await asyncio.sleep(warm_up)
            cpu_at_start.append(cpu_seconds(process.pid))

        async def person_after_person() -> None:
            while time.perf_counter() < window_end:
                steps = subject.form(emu, new_user())
                async for latency in steps:
                    answered = time.perf_counter()
                    if answered > window_end:
                        await steps.aclose()
                        return
                    if answered >= window_start:  # answered within the window
                        counted.append(latency)

        cpu_task = asyncio.create_task(mark_cpu())
        await asyncio.gather(*(person_after_person() for _ in range(workers)))
        await cpu_task
        cpu = cpu_seconds(process.pid) - cpu_at_start[0]
    finally:
        await stop_process(process)
    return Round(len(counted) / seconds, counted, cpu / max(1, len(counted)))


def line(name: str, rate: str, latencies: list[float], extra: str = "") -> str:
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    return f"  {name:9s} {rate}   step latency p50 {p50:6.1f} ms   p99 {p99:6.1f} ms{extra}"


async def setup_unionbot(url: str) -> str:
    """Migrate the database, add a street and a reception point; the point's code."""
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.services.admin import AdminService
    from bot.services.audit import Actor

    await upgrade_async(url)
    db = Database(url)
    try:
        admin = AdminService(db)
        await admin.add_street("DS", "德胜街道", Actor.cli("bench"))
        return await admin.add_point("DS", "新街口社区", "community", Actor.cli("bench"))
    finally:
        await db.dispose()


def unionbot_env(emu: Emulator, url: str) -> dict[str, str]:
    """`unionbot run`'s settings: the emulator, the database, fresh keys."""
    return {
        "UNIONBOT__TELEGRAM__TOKEN": DEMO_TOKEN,
        "UNIONBOT__TELEGRAM__API_BASE": emu.base_url,
        "UNIONBOT__DATABASE__URL": url,
        "UNIONBOT__SECURITY__DATA_KEY": generate_key(),
        "UNIONBOT__SECURITY__LOOKUP_KEY": generate_key(),
        # Paced at Telegram's 30 a second overall, replies would cap this at about 30
        # updates a second (the other two bots are not paced at all).
        **{f"UNIONBOT__OUTBOX__{key.upper()}": str(value) for key, value in RAISED_LIMITS.items()},
    }


async def main(
    workers: int, rounds: int, seconds: float, warm_up: float, database: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        code = await setup_unionbot(url)
        async with Emulator() as union_emu, Emulator() as base_emu, Emulator() as echo_emu:
            union_emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
            base_emu.add_bot(BASELINE_TOKEN, "baseline_form_bot", "Baseline")
            echo_emu.add_bot(ECHO_TOKEN, "echo_bot", "Echo")
            union_env = unionbot_env(union_emu, url)
            subjects = [
                Subject("unionbot", union_emu, ["-m", "bot.cli", "run"], point_form(code),
                        union_env),
                Subject("baseline", base_emu,
                        ["-m", "bench.baseline_bot", base_emu.base_url, BASELINE_TOKEN, code],
                        point_form(code)),
                Subject("echo bot", echo_emu,
                        ["-m", "bench.bench_updates", "--echo-bot", echo_emu.base_url],
                        echo_form),
            ]  # fmt: skip
            engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
            print(f"{workers} workers at once; per round and bot {warm_up:g} s warm-up, then "
                  f"{seconds:g} s counted; each bot in its own process against its own local "
                  f"Bot API emulator; unionbot on {engine}; baseline = aiogram FSM with "
                  "MemoryStorage, no durability")  # fmt: skip
            users = itertools.count(FIRST_USER)
            for number in range(1, rounds + 1):
                order = subjects if number % 2 else subjects[::-1]
                print(f"round {number} ({' '.join(s.name.split()[0] for s in order)})")
                for subject in order:
                    result = await run_round(subject, users, workers, warm_up, seconds)
                    subject.rounds.append(result)
                    rate = f"{result.rate:7.1f} updates/s"
                    cpu = f"   bot CPU {result.cpu_per_update * 1000:5.2f} ms/update"
                    print(line(subject.name, f"{rate:29s}", result.latencies, cpu))
            print(f"over {rounds} rounds: median updates/s (min-max); latency of all rounds' steps")
            medians = {}
            for subject in subjects:
                rates = [r.rate for r in subject.rounds]
                medians[subject.name] = statistics.median(rates)
                spread = f"{medians[subject.name]:7.1f} ({min(rates):.1f}-{max(rates):.1f})"
                spread = f"{spread:29s}"
                every = [latency for r in subject.rounds for latency in r.latencies]
                print(line(subject.name, spread, every))
            print("ratios of the medians")
            union = medians["unionbot"]
            print(f"  unionbot / baseline: {union / medians['baseline']:.2f}   (target >= 0.8)")
            print(f"  unionbot / echo bot: {union / medians['echo bot']:.2f}   (target >= 0.5)")


def echo_bot(api_base: str) -> None:
    """A bare aiogram bot that answers every text with the same text."""
    from aiogram import Bot, Dispatcher, F
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    async def run() -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
        bot = Bot(ECHO_TOKEN, session=session)
        dispatcher = Dispatcher()

        @dispatcher.message(F.text)
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        await dispatcher.start_polling(bot)

    asyncio.run(run())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=60, help="people at once (60)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three bots (3)")
    parser.add_argument("--seconds", type=float, default=20, help="counted window (20 s)")
    parser.add_argument("--warm-up", type=float, default=5, help="under load, not counted (5 s)")
    parser.add_argument("--database", help="an empty PostgreSQL database (asyncpg URL)")
    parser.add_argument("--echo-bot", metavar="API_BASE", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.echo_bot:
        echo_bot(arguments.echo_bot)
    else:
        asyncio.run(main(arguments.workers, arguments.rounds, arguments.seconds,
                         arguments.warm_up, arguments.database))  # fmt: skip
