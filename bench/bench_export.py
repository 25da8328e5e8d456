"""A members export (会员名册) of 100,000 members, streamed: rows per second, the memory
it takes, and how long the event loop was held up meanwhile (the bot must stay
responsive while staff export).

    python -m bench.bench_export [--members 100000] [--database URL] [--keep FILE]

The members are created in bulk with direct inserts (each with an encrypted resident id
and mobile, as the bot stores them), spread over 2,000 enterprises and three streets;
then `ExportService.write("members", ...)` writes the masked register, decrypting every
id and mobile. Memory: the peak of Python's allocations during the export (tracemalloc,
a second run, since tracing slows Python down) and the process's peak resident size
during the first (VmHWM, reset before it where Linux allows).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

from bot.db import Database
from bot.exports import ExportService
from bot.migrate import upgrade_async
from bot.pii import LookupHasher, PiiCipher, generate_key, parse_key
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.validation import ric_check_char
from models import Application, Enterprise, Member, Street, UnionOrg

MIB = 1024 * 1024
BATCH = 1_000
CLI = Actor.cli("bench")


def resident_id(seq: int) -> str:
    birth = date(1960, 1, 1) + timedelta(days=seq % 14_000)
    body = f"110102{birth:%Y%m%d}{seq % 1000:03d}"
    return body + ric_check_char(body)


async def add_members(
    db: Database, cipher: PiiCipher, hasher: LookupHasher, street_code: str, count: int, *,
    enterprises: int = 50, start: int = 0, employer: str = "测试科技有限公司",
) -> None:  # fmt: skip
    """`count` approved, active members of one street (numbers `start`…), in bulk: an
    application and a member each, spread over `enterprises` registered enterprises whose
    counts are then recomputed as the bot computes them."""
    async with db.transaction() as session:
        street_id, union_id = (
            await session.execute(
                select(Street.id, UnionOrg.id)
                .join(UnionOrg, (UnionOrg.street_id == Street.id) & (UnionOrg.kind == "joint"))
                .where(Street.code == street_code)
            )
        ).one()
        firms = []
        for index in range(enterprises):
            name = f"{employer}{street_code}{start + index:06d}"
            firms.append(
                await session.scalar(
                    insert(Enterprise).returning(Enterprise.id),
                    {"name": name, "name_key": name, "street_id": street_id,
                     "provisional": False, "employees": 100 + index},
                )
            )  # fmt: skip
    now = datetime.now(UTC)
    for first in range(start, start + count, BATCH):
        seqs = range(first, min(first + BATCH, start + count))
        rows = await asyncio.to_thread(_rows, cipher, hasher, street_code, seqs, now)
        async with db.transaction() as session:
            ids = list(
                await session.scalars(
                    insert(Application).returning(Application.id, sort_by_parameter_order=True),
                    [
                        {**row, "street_id": street_id, "enterprise_id": firms[s % len(firms)]}
                        for s, row in zip(seqs, rows, strict=True)
                    ],
                )
            )
            await session.execute(
                insert(Member),
                [
                    {"number": f"{street_code}-2026-{s:06d}", "application_id": app_id,
                     "ric_hash": row["ric_hash"], "enterprise_id": firms[s % len(firms)],
                     "union_org_id": union_id, "street_id": street_id, "status": "active",
                     "joined_at": now - timedelta(minutes=s)}
                    for s, app_id, row in zip(seqs, ids, rows, strict=True)
                ],
            )  # fmt: skip
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE enterprise SET member_count = (SELECT count(DISTINCT m.ric_hash) "
                "FROM member m WHERE m.enterprise_id = enterprise.id AND m.status = 'active' "
                "AND m.kept_since IS NULL) WHERE street_id = :street"
            ),
            {"street": street_id},
        )


def _rows(
    cipher: PiiCipher, hasher: LookupHasher, code: str, seqs: range, now: datetime
) -> list[dict[str, object]]:
    rows = []
    for s in seqs:
        ric = resident_id(s)
        rows.append({
            "number": f"A{code}-{s:07d}", "status": "approved", "name": "张三",
            "ric_cipher": cipher.encrypt(ric, context="ric"),
            "ric_hash": hasher.digest(f"{code}{s}", context="ric"),
            "mobile_cipher": cipher.encrypt(f"+86138{s:08d}", context="mobile"),
            "gender": "male" if s % 2 else "female", "birth_date": date(1990, 5, 17),
            "employer_text": "测试科技有限公司", "notice_version": "2026-11",
            "consent_at": now, "submitted_at": now, "decided_at": now,
            "decided_by_name": "审核员", "channel": "qr",
        })  # fmt: skip
    return rows


def _reset_peak() -> bool:
    """Reset the process's peak resident size (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


async def _export(service: ExportService, path: Path) -> tuple[int, float, float]:
    """(rows, seconds, the longest the event loop was held up, in seconds)."""
    lag = 0.0
    running = True

    async def ticker() -> None:
        nonlocal lag
        loop = asyncio.get_running_loop()
        while running:
            before = loop.time()
            await asyncio.sleep(0.005)
            lag = max(lag, loop.time() - before - 0.005)

    tick = asyncio.create_task(ticker())
    start = time.perf_counter()
    rows = await service.write("members", path, actor=CLI)
    seconds = time.perf_counter() - start
    running = False
    await tick
    return rows, seconds, lag


async def main(members: int, database: str | None, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'export.db'}"
        await upgrade_async(url)
        db = Database(url)
        cipher = PiiCipher({"k1": parse_key(generate_key())}, "k1")
        hasher = LookupHasher(parse_key(generate_key()))
        admin = AdminService(db)
        streets = ("DS", "XJ", "JR")
        for code, name in zip(streets, ("德胜街道", "新街口街道", "金融街街道"), strict=True):
            await admin.add_street(code, name, CLI)
        start = time.perf_counter()
        share = members // len(streets)
        for index, code in enumerate(streets):
            count = members - share * (len(streets) - 1) if index == 0 else share
            await add_members(db, cipher, hasher, code, count, enterprises=2_000 // len(streets),
                              start=index * members)  # fmt: skip
        print(f"created {members:,} members in {time.perf_counter() - start:.1f} s "
              f"({'SQLite' if db.is_sqlite else 'PostgreSQL'})")  # fmt: skip

        service = ExportService(db, cipher, 25)
        path = keep or Path(folder) / "members.xlsx"
        rss_before = _status("VmRSS")
        reset = _reset_peak()
        rows, seconds, lag = await _export(service, path)
        lifetime_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak_rss = _status("VmHWM") if reset else lifetime_peak
        size = path.stat().st_size

        tracemalloc.start()
        await _export(service, path)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await db.dispose()

        print(f"members export: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s; "
              f"file {size / MIB:.1f} MiB")  # fmt: skip
        print(f"  peak of Python allocations during the export (tracemalloc): "
              f"{traced_peak / MIB:.1f} MiB")  # fmt: skip
        print(f"  resident size: {rss_before / MIB:.0f} MiB before, peak "
              f"{peak_rss / MIB:.0f} MiB during"
              + ("" if reset else " (process lifetime peak: clear_refs unavailable)"))  # fmt: skip
        print(f"  longest event-loop stall during the export: {lag * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database", help="an empty database URL (default: a SQLite file)")
    parser.add_argument("--keep", type=Path, help="keep the export in this file")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.members, arguments.database, arguments.keep))
