"""Application-step updates per second, end to end through the emulator, beside a bare
aiogram echo bot on the same emulator (the ratio is the figure to report; target >= 0.5).

The bot under test runs in its own process (`unionbot run`, the production entry point,
or a bare aiogram echo bot), like a bot talking to Telegram over the network; this process
hosts the emulator and the simulated workers. Each worker sends a message and waits for
the answer, like a person; many do so at once. For unionbot the messages are the real form
steps (open, consent, name, id number, mobile, employer, job); for the echo bot, the same
number of texts echoed back.

    python -m bench.bench_updates [--workers 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.emulator import Emulator
from bot.local import DEMO_TOKEN, DEMO_USERNAME
from bot.people import Worker, find_button
from bot.pii import generate_key
from bot.validation import ric_check_char

ECHO_TOKEN = "7000000002:bare-aiogram-echo-bot"
FIRST_USER = 300_000
WARM_UP = 5
STEPS_PER_WORKER = 7


def resident_id(n: int) -> str:
    body = f"110102{1970 + n % 30}0101{n % 1000:03d}"
    return body + ric_check_char(body)


def form_steps(n: int) -> list[tuple[str, str]]:
    """(text the worker sends, text the bot's answer contains)."""
    return [
        ("张三", "身份证号"),
        (resident_id(n), "手机号"),
        (f"+86138{n:08d}", "工作单位"),
        ("北京德胜数码科技有限公司", "岗位"),
        ("工程师", "请核对"),
    ]


async def timed_say(emu: Emulator, user_id: int, text: str, expect: str | None) -> float:
    mark = emu.mark()
    started = time.perf_counter()
    emu.send_text(user_id, text)
    await emu.wait_for(user_id, expect, since=mark, timeout=60)
    return time.perf_counter() - started


async def start_process(
    *args: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def stop_process(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        process.kill()


async def measure(
    emu: Emulator, workers: int, one: Callable[[int], Awaitable[list[float]]]
) -> tuple[float, list[float]]:
    """Warm up, then run `workers` people at once; (elapsed, step latencies)."""
    await asyncio.gather(*(one(n) for n in range(WARM_UP)))
    started = time.perf_counter()
    results = await asyncio.gather(*(one(n) for n in range(WARM_UP, WARM_UP + workers)))
    elapsed = time.perf_counter() - started
    return elapsed, [latency for result in results for latency in result]


async def run_unionbot(workers: int) -> tuple[float, list[float]]:
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.services.admin import AdminService
    from bot.services.audit import Actor

    with tempfile.TemporaryDirectory() as folder:
        async with Emulator() as emu:
            emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await upgrade_async(url)
            db = Database(url)
            admin = AdminService(db)
            await admin.add_street("DS", "德胜街道", Actor.cli("bench"))
            code = await admin.add_point("DS", "新街口社区", "community", Actor.cli("bench"))
            await db.dispose()
            env = {
                "UNIONBOT__TELEGRAM__TOKEN": DEMO_TOKEN,
                "UNIONBOT__TELEGRAM__API_BASE": emu.base_url,
                "UNIONBOT__DATABASE__URL": url,
                "UNIONBOT__SECURITY__DATA_KEY": generate_key(),
                "UNIONBOT__SECURITY__LOOKUP_KEY": generate_key(),
                # The update path's cost, not Telegram's limits: paced at Telegram's 30
                # a second overall, replies would cap this at about 30 updates a second
                # (the echo bot is not paced at all).
                "UNIONBOT__OUTBOX__GLOBAL_PER_SECOND": "100000",
                "UNIONBOT__OUTBOX__PRIVATE_PER_SECOND": "1000",
            }
            process = await start_process("-m", "bot.cli", "run", env=env)
            for n in range(WARM_UP + workers):
                emu.add_user(FIRST_USER + n, f"职工{n}")

            async def one(n: int) -> list[float]:
                worker = Worker(emu, FIRST_USER + n, f"职工{n}")
                started = time.perf_counter()
                notice = await worker.open_form(code)
                latencies = [time.perf_counter() - started]
                mark = emu.mark()
                started = time.perf_counter()
                emu.press_button(worker.user_id, worker.user_id, notice["message_id"],
                                 find_button(notice, "同意处理"))  # fmt: skip
                await emu.wait_for(worker.user_id, "请输入您的姓名", since=mark, timeout=60)
                latencies.append(time.perf_counter() - started)
                for text, expect in form_steps(n):
                    latencies.append(await timed_say(emu, worker.user_id, text, expect))
                return latencies

            try:
                return await measure(emu, workers, one)
            finally:
                await stop_process(process)


async def run_echo(workers: int) -> tuple[float, list[float]]:
    async with Emulator() as emu:
        emu.add_bot(ECHO_TOKEN, "echo_bot", "Echo")
        process = await start_process("-m", "bench.bench_updates", "--echo-bot", emu.base_url)
        for n in range(WARM_UP + workers):
            emu.add_user(FIRST_USER + n, f"职工{n}")

        async def one(n: int) -> list[float]:
            user = FIRST_USER + n
            texts = ["/start", "同意"] + [text for text, _ in form_steps(n)]
            return [await timed_say(emu, user, text, text) for text in texts]

        try:
            return await measure(emu, workers, one)
        finally:
            await stop_process(process)


def echo_bot(api_base: str) -> None:
    """The baseline: a bare aiogram bot that answers every text with the same text."""
    from aiogram import Bot, Dispatcher, F
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    async def main() -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
        bot = Bot(ECHO_TOKEN, session=session)
        dispatcher = Dispatcher()

        @dispatcher.message(F.text)
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        await dispatcher.start_polling(bot)

    asyncio.run(main())


def report(name: str, result: tuple[float, list[float]], workers: int) -> float:
    elapsed, latencies = result[0], sorted(result[1])
    rate = workers * STEPS_PER_WORKER / elapsed
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(f"  {name:10s} {rate:7.1f} updates/s   step latency p50 "
          f"{statistics.median(latencies) * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms")  # fmt: skip
    return rate


async def main(workers: int, rounds: int) -> None:
    print(f"{workers} workers at once, {STEPS_PER_WORKER} updates each; the bot runs in its "
          "own process against the local Bot API emulator")  # fmt: skip
    # Alternate the two bots so that load from elsewhere on a shared machine hits both.
    ratios = []
    for number in range(1, rounds + 1):
        print(f"round {number}")
        echo = report("echo bot", await run_echo(workers), workers)
        union = report("unionbot", await run_unionbot(workers), workers)
        ratios.append(union / echo)
        print(f"  ratio unionbot / echo: {ratios[-1]:.2f}")
    print(f"median ratio over {rounds} rounds: {statistics.median(ratios):.2f}   (target >= 0.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--echo-bot", metavar="API_BASE", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.echo_bot:
        echo_bot(arguments.echo_bot)
    else:
        asyncio.run(main(arguments.workers, arguments.rounds))
