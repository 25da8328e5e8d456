"""Application-step updates per second, end to end through the emulator, beside a bare
aiogram echo bot on the same emulator (the ratio is the figure to report; target >= 0.5).

Each simulated worker sends a message and waits for the bot's answer, like a person; many
workers do so at once. For unionbot the messages are the real form steps (name, id number,
mobile, employer, job); for the echo bot, the same texts echoed back.

    python -m bench.bench_updates [--workers 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.emulator import Emulator
from bot.local import DEMO_TOKEN, DEMO_USERNAME, local_settings, running_bot
from bot.migrate import upgrade_async
from bot.people import Worker, find_button
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.validation import ric_check_char

ECHO_TOKEN = "7000000002:bare-aiogram-echo-bot"
FIRST_USER = 300_000
WARM_UP = 5


def resident_id(n: int) -> str:
    body = f"110102{1970 + n % 30}0101{n % 1000:03d}"
    return body + ric_check_char(body)


def steps(n: int) -> list[tuple[str, str]]:
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


async def run_unionbot(workers: int) -> list[float]:
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        async with Emulator() as emu:
            emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
            settings = local_settings(emu.base_url, Path(folder) / "bench.db")
            await upgrade_async(settings.database.url)
            from bot.db import Database

            db = Database(settings.database.url)
            admin = AdminService(db)
            await admin.add_street("DS", "德胜街道", Actor.cli("bench"))
            code = await admin.add_point("DS", "新街口社区", "community", Actor.cli("bench"))
            await db.dispose()
            async with running_bot(settings):
                people = []
                for n in range(workers + WARM_UP):
                    emu.add_user(FIRST_USER + n, f"职工{n}")
                    people.append(Worker(emu, FIRST_USER + n, f"职工{n}"))

                async def one(n: int, worker: Worker) -> list[float]:
                    notice = await worker.open_form(code)
                    mark = emu.mark()
                    emu.press_button(
                        worker.user_id,
                        worker.user_id,
                        notice["message_id"],
                        find_button(notice, "同意处理"),
                    )
                    await emu.wait_for(worker.user_id, "姓名", since=mark, timeout=60)
                    return [await timed_say(emu, worker.user_id, t, e) for t, e in steps(n)]

                # Warm-up: first use of each code path (pydantic builds models lazily).
                await asyncio.gather(*(one(n, w) for n, w in enumerate(people[:WARM_UP])))
                measured = list(enumerate(people))[WARM_UP:]
                started = time.perf_counter()
                for result in await asyncio.gather(*(one(n, w) for n, w in measured)):
                    latencies += result
                elapsed = time.perf_counter() - started
    return [elapsed, *latencies]


async def run_echo(workers: int) -> list[float]:
    latencies: list[float] = []
    async with Emulator() as emu:
        emu.add_bot(ECHO_TOKEN, "echo_bot", "Echo")
        bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
        dispatcher = Dispatcher()

        @dispatcher.message(F.text)
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
        await asyncio.sleep(0.2)
        for n in range(workers + WARM_UP):
            emu.add_user(FIRST_USER + n, f"职工{n}")

        async def one(n: int) -> list[float]:
            user = FIRST_USER + n
            await timed_say(emu, user, "/start", "/start")
            await timed_say(emu, user, "同意", "同意")
            return [await timed_say(emu, user, t, t) for t, _ in steps(n)]

        await asyncio.gather(*(one(n) for n in range(WARM_UP)))
        started = time.perf_counter()
        for result in await asyncio.gather(*(one(n) for n in range(WARM_UP, workers + WARM_UP))):
            latencies += result
        elapsed = time.perf_counter() - started
        await dispatcher.stop_polling()
        await polling
        await bot.session.close()
    return [elapsed, *latencies]


def report(name: str, result: list[float], workers: int) -> float:
    elapsed, latencies = result[0], sorted(result[1:])
    # Both runs exchange the same number of updates: 7 per worker (open, consent, 5 steps).
    rate = workers * 7 / elapsed
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"{name:10s} {rate:7.1f} updates/s   step latency p50 "
        f"{statistics.median(latencies) * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms"
    )
    return rate


async def main(workers: int) -> None:
    print(f"{workers} workers at once, 7 updates each, through the local Bot API emulator")
    echo = report("echo bot", await run_echo(workers), workers)
    union = report("unionbot", await run_unionbot(workers), workers)
    print(f"ratio unionbot / echo: {union / echo:.2f}   (target >= 0.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=40)
    asyncio.run(main(parser.parse_args().workers))
