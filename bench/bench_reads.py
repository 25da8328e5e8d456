"""What one read costs: `Database.fetch_one()` (the update path's single-statement read)
and a `Database.read()` session with one select, against the same select on a plain
driver connection (aiosqlite, or asyncpg on PostgreSQL), in CPU time of this process per
read (target: at most 2x), in rounds that alternate the order.

    python -m bench.bench_reads [--reads 2000] [--rounds 5] [--database URL]

The select is a reception point by its code, as the form's first step reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import bindparam, select

from bot.db import Database
from bot.migrate import upgrade_async
from models.org import ReceptionPoint, Street

SQL = "SELECT id, name FROM reception_point WHERE code = $1"


async def _seed(db: Database) -> None:
    async with db.transaction() as session:
        street = Street(name="德胜街道", code="DS")
        session.add(street)
        await session.flush()
        session.add(
            ReceptionPoint(street_id=street.id, name="德胜大厦", code="DS-01", kind="building")
        )


async def _timed(reads: int, one: Callable[[], Awaitable[object]]) -> float:
    """CPU seconds of this process per read."""
    for _ in range(50):
        await one()
    start = time.process_time()
    for _ in range(reads):
        await one()
    return (time.process_time() - start) / reads


async def main(reads: int, rounds: int, database: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'reads.db'}"
        await upgrade_async(url)
        db = Database(url)
        await _seed(db)
        statement = select(ReceptionPoint.id, ReceptionPoint.name).where(
            ReceptionPoint.code == bindparam("code")
        )

        async def session_read() -> object:
            async with db.read() as session:
                return (await session.execute(statement, {"code": "DS-01"})).one()

        async def fetch() -> object:
            return await db.fetch_one(statement, code="DS-01")

        plain, close = await _plain(db, url)
        try:
            contenders = [
                ("Database.fetch_one()", fetch),
                ("Database.read()", session_read),
                ("plain connection", plain),
            ]
            figures: dict[str, list[float]] = {name: [] for name, _ in contenders}
            for round_ in range(rounds):
                for name, one in contenders if round_ % 2 == 0 else contenders[::-1]:
                    figures[name].append(await _timed(reads, one))
        finally:
            await close()
            await db.dispose()
    engine = "SQLite" if db.is_sqlite else "PostgreSQL"
    print(f"reads ({engine}): {reads} single-select reads a round, {rounds} rounds, CPU per read")
    for name, values in figures.items():
        print(
            f"  {name:20} median {statistics.median(values) * 1e3:.3f} ms"
            f"  (rounds {min(values) * 1e3:.3f}-{max(values) * 1e3:.3f})"
        )
    plain_cost = statistics.median(figures["plain connection"])
    for name in ("Database.fetch_one()", "Database.read()"):
        ratio = statistics.median(figures[name]) / plain_cost
        print(f"  {name} / plain: {ratio:.2f}x" + ("   (target <= 2x)" if "fetch" in name else ""))


async def _plain(
    db: Database, url: str
) -> tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[None]]]:
    """The same select on the driver's own connection: one prepared statement, no pool."""
    if db.is_sqlite:
        import aiosqlite

        connection = await aiosqlite.connect(db.url.database)
        sql = SQL.replace("$1", "?")

        async def one() -> object:
            async with connection.execute(sql, ("DS-01",)) as cursor:
                return await cursor.fetchone()

        return one, connection.close
    import asyncpg

    connection = await asyncpg.connect(db.url.set(drivername="postgresql").render_as_string(False))

    async def one_pg() -> object:
        return await connection.fetchrow(SQL, "DS-01")

    return one_pg, connection.close


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a new SQLite file)")
    args = parser.parse_args()
    asyncio.run(main(args.reads, args.rounds, args.database))
