"""Resident memory of a real `unionbot run` process polling the local Bot API emulator.

Starts the bot (the production entry point, in its own process, as bench/bench_updates.py
does) and reads its resident set size (VmRSS in /proc) at three moments:
- idle: after start-up, once the bot polls and nobody has written yet (target: 200 MiB);
- after the warm-up forms: what serving forms loads (pinyin, the enterprise matcher, ...);
- after N forms more, each from a user not seen before: the growth per user, which is what
  per-user state (FSM cache, language cache, aiogram's per-chat locks) costs while it is
  kept. Each form goes from the QR deep link to the summary and stops there, as a person
  who never comes back would.

    python -m bench.bench_memory [--forms 1000] [--warm-up 50] [--workers 20]
                                 [--settle 5] [--database URL]

--database takes an empty PostgreSQL database (postgresql+asyncpg://...); the default is a
SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path

from bench.bench_updates import (
    FIRST_USER,
    point_form,
    setup_unionbot,
    start_process,
    stop_process,
    unionbot_env,
)
from bot.emulator import Emulator
from bot.local import DEMO_TOKEN, DEMO_USERNAME

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """The process's resident set size (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def wait_polling(emu: Emulator, process: asyncio.subprocess.Process, timeout: float) -> None:  # noqa: ASYNC109
    """Until the bot has asked for updates (start-up is done)."""
    deadline = time.monotonic() + timeout
    while emu.world.bot(DEMO_TOKEN).poll_generation == 0:  # no getUpdates yet
        if process.returncode is not None:
            raise RuntimeError(f"unionbot run exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError("unionbot run did not start polling")
        await asyncio.sleep(0.1)


async def forms(emu: Emulator, code: str, users: itertools.count, count: int, workers: int) -> None:
    """`count` forms, each from a new user, `workers` at a time."""
    form = point_form(code)
    left = iter(range(count))

    async def person_after_person() -> None:
        for _ in left:
            user_id = next(users)
            emu.add_user(user_id, f"职工{user_id}")
            async for _ in form(emu, user_id):
                pass

    await asyncio.gather(*(person_after_person() for _ in range(workers)))


async def main(
    forms_count: int, warm_up: int, workers: int, settle: float, database: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        code = await setup_unionbot(url)
        async with Emulator() as emu:
            emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
            engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
            print(f"unionbot run on {engine}, polling the local Bot API emulator")
            process = await start_process(["-m", "bot.cli", "run"], unionbot_env(emu, url))
            try:
                await wait_polling(emu, process, 60)
                await asyncio.sleep(settle)
                idle = rss_bytes(process.pid)
                print(f"  idle after start-up:        {idle / MIB:7.1f} MiB   (target <= 200)")
                users = itertools.count(FIRST_USER)
                await forms(emu, code, users, warm_up, workers)
                await asyncio.sleep(settle)
                warm = rss_bytes(process.pid)
                print(f"  after {warm_up:5d} warm-up forms:  {warm / MIB:7.1f} MiB")
                started = time.perf_counter()
                await forms(emu, code, users, forms_count, workers)
                took = time.perf_counter() - started
                await asyncio.sleep(settle)
                served = rss_bytes(process.pid)
                print(f"  after {forms_count:5d} forms more:    {served / MIB:7.1f} MiB   "
                      f"({took:.0f} s, each from a new user)")  # fmt: skip
                growth = (served - warm) / forms_count
                print(f"  growth per user:            {growth / 1024:7.2f} KiB   "
                      f"({growth * 10_000 / MIB:.1f} MiB per 10,000 users)")  # fmt: skip
            finally:
                await stop_process(process)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--forms", type=int, default=1000, help="forms measured (1000)")
    parser.add_argument("--warm-up", type=int, default=50, help="forms before that (50)")
    parser.add_argument("--workers", type=int, default=20, help="people at once (20)")
    parser.add_argument("--settle", type=float, default=5, help="seconds before each reading (5)")
    parser.add_argument("--database", help="an empty PostgreSQL database (asyncpg URL)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.forms, arguments.warm_up, arguments.workers, arguments.settle,
                     arguments.database))  # fmt: skip
