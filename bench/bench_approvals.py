"""Approval transactions per second on SQLite (target: at least 300/s).

Each approval is the full transaction: conditional status update, member number, joint
union, member row, enterprise recount, threshold check, audit row and three outbox rows.

    python -m bench.bench_approvals [--n 600] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bot.db import Database
from bot.migrate import upgrade_async
from bot.pii import LookupHasher, PiiCipher, generate_key, parse_key
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.services.intake import Draft, IntakeService
from bot.services.review import ReviewService
from bot.validation import ric_check_char
from models import Application
from models.base import utcnow


def resident_id(seq: int) -> str:
    body = f"110102{1960 + seq % 40}0101{seq % 1000:03d}"
    return body + ric_check_char(body)


async def main(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await upgrade_async(url)
        db = Database(url)
        admin = AdminService(db)
        cli = Actor.cli("bench")
        await admin.add_street("DS", "德胜街道", cli)
        await admin.set_review_chat("DS", -100500, cli)
        await admin.add_staff(501, "审核员", "street", "DS", cli)
        street_id = (await admin.streets())[0].id
        intake = IntakeService(
            db, PiiCipher({"k1": parse_key(generate_key())}, "k1"), LookupHasher(b"k" * 32)
        )
        review = ReviewService(db, federation_chat_id=-100900, threshold=25)
        for seq in range(n):
            await intake.submit(
                10_000 + seq,
                Draft(
                    street_id,
                    None,
                    utcnow(),
                    "2026-11",
                    "张三",
                    resident_id(seq),
                    "male",
                    date(1990, 1, 1),
                    f"+86138{seq:08d}",
                    f"企业{seq % 20}有限公司",
                    None,
                    "zh",
                ),
            )
        async with db.read() as session:
            ids = list(await session.scalars(select(Application.id).order_by(Application.id)))

        latencies: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for app_id in ids:
            queue.put_nowait(app_id)
        staff = Actor(501, "审核员")

        async def worker() -> None:
            while not queue.empty():
                app_id = queue.get_nowait()
                started = time.perf_counter()
                await review.approve(app_id, staff, None)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await db.dispose()

    latencies.sort()
    print(f"approvals: {n} with {concurrency} concurrent reviewers on SQLite (WAL)")
    print(f"  throughput: {n / elapsed:.0f} approvals/s   (target >= 300/s)")
    print(
        f"  latency p50: {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99: {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
