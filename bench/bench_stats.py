"""Every statistic the chat, the exports and the dashboard read, timed on a city-sized
database (target: each at most 300 ms on SQLite).

    python -m bench.bench_stats [--engine sqlite|postgresql] [--scale 1.0] [--keep FILE]
        [--repeat 5] [--indexes] [--compare] [--explore] [--database URL]

The city (bench/city.py) at scale 1.0: 330 streets, 200,000 enterprises, 2,000,000
applications over three years, 1,000,000 members, founding cases and the four ones'
rows; generated in the database, into a schema migrated to head. `--keep FILE` keeps
the SQLite file and reuses it when it already holds a city of that scale (generation
is the slow part). PostgreSQL: a throwaway cluster from the server binaries on this
machine (tests/pgcluster.py), or `--database` (an empty database, asyncpg URL).

Each statistic is `StatsService` (bot/services/stats.py) or `CompletionService`
(bot/services/four_ones.py) as the bot calls it, for the district and for the street with
the most members, this month and this year: one warm-up, then `--repeat` runs; printed
are the median and the max in ms, PASS or MISS against 300 ms, and for a MISS its SQL
statements with their share of the time.

`--indexes` creates the recommended index set (INDEXES below) first; without it the
benchmark's indexes are dropped, so that a kept file is measured as migrated.
`--compare` times without, then with the set, in one run, with the ratio.
`--explore` then, for each MISS, times candidate indexes one at a time (before/after),
prints the query plans of the slow statements (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL) and times the rewritten queries in ALTERNATIVES.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.city import TABLES, Sizes, generate_postgresql, generate_sqlite
from bot import timefmt
from bot.db import Database
from bot.migrate import upgrade_async
from bot.services.four_ones import CompletionService
from bot.services.stats import Period, StatsService
from models.base import utcnow

TARGET_MS = 300.0
THRESHOLD = 25
PREFIX = "bench_ix_"

# The recommended set (--indexes): see the report for what each one buys.
INDEXES: dict[str, str] = {
    "member_joined": "member (joined_at)",
    "member_enterprise_status_joined": "member (enterprise_id, status, joined_at)",
    "application_submitted": "application (submitted_at)",
    "application_decided": "application (decided_at)",
    "application_street_submitted": "application (street_id, submitted_at)",
    "application_street_decided": "application (street_id, decided_at)",
}

# Candidates measured by --explore, one at a time (the recommended set among them).
CANDIDATES: dict[str, str] = {
    **INDEXES,
    "member_status_street": "member (status, street_id)",
    "member_street_joined": "member (street_id, joined_at)",
    "application_street_status": "application (street_id, status)",
    "enterprise_union_status_count": "enterprise (has_union, status, member_count)",
    "enterprise_street": "enterprise (street_id)",
    "enterprise_employees": "enterprise (employees)",
    "enterprise_member_count": "enterprise (member_count)",
    "member_street_status": "member (street_id, status)",
    "member_street": "member (street_id)",
    "application_point": "application (point_id)",
    "application_status": "application (status)",
    "application_status_street": "application (status, street_id)",
    "enterprise_street_registry": "enterprise (street_id, provisional, status, has_union)",
    "founding_case_stage": "founding_case (stage)",
}


# ---------------------------------------------------------------------------- the city


async def prepare(args: argparse.Namespace, folder: Path, url: str | None) -> str:
    """A migrated database holding a city of the scale asked for; its URL."""
    sizes = Sizes.at(args.scale)
    if url is None:
        path = args.keep or folder / "city.db"
        url = f"sqlite+aiosqlite:///{path}"
        if path.exists() and _sqlite_count(path, "application") == sizes.applications:
            print(f"reusing {path} (a city at scale {args.scale}), migrating it ...")
            start = time.perf_counter()
            await upgrade_async(url)
            print(f"migrated in {time.perf_counter() - start:.1f} s")
            return url
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        await upgrade_async(url)
        print(f"generating the city at scale {args.scale} (SQLite, {path}) ...")
        seconds = await asyncio.to_thread(generate_sqlite, str(path), args.scale)
    else:
        await upgrade_async(url)
        print(f"generating the city at scale {args.scale} (PostgreSQL) ...")
        connection = await _asyncpg(url)
        try:
            seconds = await generate_postgresql(connection, args.scale)
        finally:
            await connection.close()
    print(f"generated in {seconds:.1f} s")
    return url


def _sqlite_count(path: Path, table: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        connection.close()


async def _asyncpg(url: str) -> Any:
    import asyncpg
    from sqlalchemy.engine import make_url

    return await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))


@contextlib.asynccontextmanager
async def postgres(database: str | None) -> Any:
    """An empty PostgreSQL database: the one given, or one in a throwaway cluster."""
    if database:
        yield database
        return
    from tests.pgcluster import throwaway_cluster

    with throwaway_cluster() as cluster:
        admin = await _asyncpg(cluster.url)
        await admin.execute("CREATE DATABASE city")
        await admin.close()
        yield cluster.url.rsplit("/", 1)[0] + "/city"


# ---------------------------------------------------------------------------- SQL access


class Raw:
    """Plain SQL on the benchmark database, outside the bot's engine: DDL and plans."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._pg: Any = None

    async def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.sqlite:
            return await asyncio.to_thread(self._sqlite, sql, params)
        if self._pg is None:
            self._pg = await _asyncpg(self.url)
        return [tuple(row) for row in await self._pg.fetch(sql, *params)]

    def _sqlite(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.url.split("///", 1)[1], timeout=60)
        try:
            rows = connection.execute(sql, params).fetchall()
            connection.commit()
            return rows
        finally:
            connection.close()

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()

    async def bench_indexes(self) -> list[str]:
        if self.sqlite:
            rows = await self.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE ?",
                PREFIX + "%",
            )
        else:
            rows = await self.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE $1", PREFIX + "%"
            )
        return [row[0] for row in rows]

    async def create_index(self, name: str, on: str) -> float:
        start = time.perf_counter()
        await self.execute(f"CREATE INDEX IF NOT EXISTS {PREFIX}{name} ON {on}")
        return time.perf_counter() - start

    async def drop_index(self, name: str) -> None:
        full = name if name.startswith(PREFIX) else PREFIX + name
        await self.execute(f"DROP INDEX IF EXISTS {full}")

    async def drop_all(self) -> None:
        for name in await self.bench_indexes():
            await self.drop_index(name)

    async def plan(self, sql: str, params: tuple[Any, ...]) -> list[str]:
        if self.sqlite:
            rows = await self.execute("EXPLAIN QUERY PLAN " + sql, *params)
            return [f"{'  ' * _depth(rows, row)}{row[3]}" for row in rows]
        rows = await self.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
        return [row[0] for row in rows]


def _depth(rows: list[tuple[Any, ...]], row: tuple[Any, ...]) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


# ---------------------------------------------------------------------------- timing


@dataclass
class Statement:
    sql: str
    params: tuple[Any, ...]
    ms: list[float] = field(default_factory=list)


class Recorder:
    """The SQL statements a statistic runs, with the time of each (execute and fetch)."""

    def __init__(self, db: Database) -> None:
        self.active: list[Statement] | None = None
        self._started = 0.0
        engine = db.reader.sync_engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if self.active is not None and sql.lstrip().upper().startswith(("SELECT", "WITH")):
            ms = (time.perf_counter() - self._started) * 1000
            self.active.append(Statement(sql, tuple(params or ()), [ms]))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Statement]]:
        self.active = []
        try:
            yield self.active
        finally:
            self.active = None


@dataclass
class Timing:
    name: str
    runs: list[float]  # ms
    statements: list[Statement]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def worst(self) -> float:
        return max(self.runs)

    @property
    def passed(self) -> bool:
        return self.median <= TARGET_MS


Call = Callable[[], Awaitable[object]]


def statistics_to_time(db: Database, street: int, today: date) -> list[tuple[str, Call]]:
    stats = StatsService(db, THRESHOLD)
    four = CompletionService(db)
    month, year = Period.this_month(today), Period.this_year(today)
    calls: list[tuple[str, Call]] = []
    for scope, sid in (("district", None), ("street", street)):
        for label, period in (("month", month), ("year", year)):
            calls.append((f"overview {scope} {label}",
                          lambda s=sid, p=period: stats.overview(s, p)))  # fmt: skip
    for label, period in (("month", month), ("year", year)):
        calls.append((f"by_street {label}", lambda p=period: stats.by_street(p)))
    for scope, sid in (("district", None), ("street", street)):
        for label, period in (("month", month), ("year", year)):
            calls.append((f"by_point {scope} {label}",
                          lambda s=sid, p=period: stats.by_point(s, p)))  # fmt: skip
    for scope, sid in (("district", None), ("street", street)):
        calls += [
            (f"monthly_new_members {scope}",
             lambda s=sid: stats.monthly_new_members(s, 12, today)),
            (f"next_to_found {scope}", lambda s=sid: stats.next_to_found(s)),
            (f"gaps {scope}", lambda s=sid: stats.gaps(s)),
            (f"cases_by_stage {scope}", lambda s=sid: stats.cases_by_stage(s)),
        ]  # fmt: skip
    calls += [
        ("four_ones by_street", four.by_street),
        ("four_ones by_point street", lambda: four.by_point(street)),
    ]
    return calls


async def time_one(recorder: Recorder, name: str, call: Call, repeat: int) -> Timing:
    await call()  # warm-up
    runs: list[float] = []
    kept: list[Statement] = []
    for index in range(repeat):
        with recorder.recording() as statements:
            start = time.perf_counter()
            await call()
            runs.append((time.perf_counter() - start) * 1000)
        if index == 0:
            kept = statements
        else:
            for mine, other in zip(kept, statements, strict=False):
                mine.ms += other.ms
    return Timing(name, runs, kept)


async def time_all(
    recorder: Recorder, calls: list[tuple[str, Call]], repeat: int, only: set[str] | None = None
) -> dict[str, Timing]:
    return {
        name: await time_one(recorder, name, call, repeat)
        for name, call in calls
        if only is None or name in only
    }


def print_table(title: str, timings: dict[str, Timing], other: dict[str, Timing] | None = None
                ) -> None:  # fmt: skip
    print(f"\n{title}")
    head = f"  {'statistic':32} {'median ms':>10} {'max ms':>9}  target"
    if other:
        head += f"  {'before ms':>10} {'speed-up':>8}"
    print(head)
    for name, t in timings.items():
        line = f"  {name:32} {t.median:10.1f} {t.worst:9.1f}  {'PASS' if t.passed else 'MISS'}"
        if other and name in other:
            line += f"  {other[name].median:10.1f} {other[name].median / t.median:7.1f}x"
        print(line)
    misses = [t for t in timings.values() if not t.passed]
    print(f"  {len(timings) - len(misses)} of {len(timings)} within {TARGET_MS:.0f} ms")


def short(sql: str, width: int = 150) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def print_breakdown(timing: Timing) -> None:
    print(f"  {timing.name}: {timing.median:.0f} ms")
    for s in sorted(timing.statements, key=lambda s: -statistics.median(s.ms)):
        ms = statistics.median(s.ms)
        if ms >= 5:
            print(f"    {ms:8.1f} ms  {short(s.sql)}")


def slow_statements(timings: dict[str, Timing], floor_ms: float) -> list[tuple[str, Statement]]:
    """(statistic, statement) over floor_ms, each distinct SQL text once."""
    seen: set[str] = set()
    out = []
    for t in timings.values():
        for s in t.statements:
            if statistics.median(s.ms) >= floor_ms and s.sql not in seen:
                seen.add(s.sql)
                out.append((t.name, s))
    return out


# ---------------------------------------------------------------------------- exploring


async def timed_sql(raw: Raw, sql: str, params: tuple[Any, ...], repeat: int) -> float:
    """The median ms of `repeat` runs of one statement after a warm-up, on a plain
    connection."""
    await raw.execute(sql, *params)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        await raw.execute(sql, *params)
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


async def explore(
    raw: Raw, before: dict[str, Timing], repeat: int, floor_ms: float, candidates: bool
) -> None:
    misses = {name: t for name, t in before.items() if not t.passed}
    if not misses:
        print("\nno MISS: nothing to explore")
        return
    print("\nwhere the time goes in each MISS (statements of at least 5 ms, median):")
    for timing in misses.values():
        print_breakdown(timing)
    slow = slow_statements(misses, floor_ms)
    if not candidates:
        return
    print(f"\ncandidate indexes, one at a time, on the {len(slow)} distinct statements of "
          f"the MISSes over {floor_ms:.0f} ms (plain connection, median of {repeat} after a "
          f"warm-up; S1... are listed below):")  # fmt: skip
    for number, (name, s) in enumerate(slow, 1):
        print(f"  S{number} [{name}] {short(s.sql, 220)}")
    baseline = {id(s): await timed_sql(raw, s.sql, s.params, repeat) for _, s in slow}
    print("  baseline: " + ", ".join(
        f"S{n} {baseline[id(s)]:.0f}" for n, (_, s) in enumerate(slow, 1)))  # fmt: skip
    for key, on in CANDIDATES.items():
        table = on.split()[0]
        concerned = [(n, s) for n, (_, s) in enumerate(slow, 1)
                     if table in re.findall(r"\b[a-z_]+\b", s.sql)]  # fmt: skip
        if not concerned:
            continue
        built = await raw.create_index(key, on)
        changes = []
        for number, s in concerned:
            b = baseline[id(s)]
            a = await timed_sql(raw, s.sql, s.params, repeat)
            mark = " <-" if a < 0.8 * b else ""
            changes.append(f"S{number} {b:.0f}->{a:.0f}{mark}")
        await raw.drop_index(key)
        print(f"  {on} (built {built:.1f} s): " + ", ".join(changes))


async def print_plans(raw: Raw, timings: dict[str, Timing], floor_ms: float) -> None:
    slow = slow_statements(timings, floor_ms)
    kind = "EXPLAIN QUERY PLAN" if raw.sqlite else "EXPLAIN (ANALYZE, BUFFERS)"
    print(f"\nplans of the statements still over {floor_ms:.0f} ms ({kind}):")
    for name, s in slow:
        print(f"\n  [{name}] {statistics.median(s.ms):.0f} ms")
        print(f"  {short(s.sql, 2000)}")
        for line in await raw.plan(s.sql, s.params):
            print(f"      {line}")


FOUR_DONE = """(SELECT member_id, max(c) AS c, max(b) AS b, max(a) AS a FROM (
    SELECT member_id, 1 AS c, 0 AS b, 0 AS a FROM service_card_request
     WHERE collected_at IS NOT NULL
    UNION ALL SELECT member_id, 0, 1, 0 FROM benefit_claim WHERE redeemed_at IS NOT NULL
    UNION ALL SELECT member_id, 0, 0, 1 FROM activity_signup WHERE attended_at IS NOT NULL
  ) d GROUP BY member_id) p JOIN member m ON m.id = p.member_id AND m.status = 'active'"""
NEXT = """SELECT e.id, e.name, s.name, e.member_count,
  (SELECT min(m.joined_at) FROM member m WHERE m.enterprise_id = e.id AND m.status = 'active')
FROM enterprise e LEFT JOIN street s ON s.id = e.street_id
WHERE e.has_union = FALSE AND e.status = 'active' AND e.member_count > 0 {street}
ORDER BY e.member_count DESC, e.id LIMIT 10"""
SHARE = """SELECT sum(member_count), sum(employees) FROM enterprise
WHERE provisional = FALSE AND status = 'active' AND employees > 0 AND member_count > 0 {street}"""
TALLY = """CREATE TABLE bench_tally AS
SELECT m.street_id, a.point_id, m.status, (m.kept_since IS NOT NULL) AS kept,
       (u.kind = 'enterprise') AS moved, count(*) AS n
FROM member m JOIN application a ON a.id = m.application_id
JOIN union_org u ON u.id = m.union_org_id GROUP BY 1, 2, 3, 4, 5"""

# Proposed rewrites of the queries that stay slow, timed on a plain connection: (what,
# SQL on SQLite, SQL on PostgreSQL); :names are the parameters.
ALTERNATIVES: list[tuple[str, str, str]] = [
    ("next_to_found district: first join as a correlated min() for the 10 rows only",
     NEXT.format(street=""), NEXT.format(street="")),
    ("next_to_found street: the same", NEXT.format(street="AND e.street_id = :street"),
     NEXT.format(street="AND e.street_id = :street")),
    ("_member_share district: enterprise.member_count instead of grouping members",
     SHARE.format(street=""), SHARE.format(street="")),
    ("_member_share street: the same", SHARE.format(street="AND street_id = :street"),
     SHARE.format(street="AND street_id = :street")),
    ("_four_ones district: from the three small tables, not 3 EXISTS per member",
     f"SELECT sum(c * b * a), sum(c), sum(b), sum(a) FROM {FOUR_DONE}",
     f"SELECT sum(c * b * a), sum(c), sum(b), sum(a) FROM {FOUR_DONE}"),
    ("four_ones by_street / by_street all_four: the same, grouped by street",
     f"SELECT m.street_id, sum(c * b * a), sum(c), sum(b), sum(a) FROM {FOUR_DONE} "
     "GROUP BY m.street_id",
     f"SELECT m.street_id, sum(c * b * a), sum(c), sum(b), sum(a) FROM {FOUR_DONE} "
     "GROUP BY m.street_id"),
    ("by_point district: applications in the period by point (no member join)",
     "SELECT point_id, count(*), sum(CASE WHEN status = 'approved' THEN 1 ELSE 0 END) "
     "FROM application WHERE submitted_at >= :year_since AND submitted_at < :year_until "
     "GROUP BY point_id",
     "SELECT point_id, count(*), sum(CASE WHEN status = 'approved' THEN 1 ELSE 0 END) "
     "FROM application WHERE submitted_at >= :year_since AND submitted_at < :year_until "
     "GROUP BY point_id"),
    ("by_point district: active members by point, joined (what stays slow)",
     "SELECT a.point_id, count(*) FROM member m JOIN application a ON a.id = m.application_id "
     "WHERE m.status = 'active' GROUP BY a.point_id",
     "SELECT a.point_id, count(*) FROM member m JOIN application a ON a.id = m.application_id "
     "WHERE m.status = 'active' GROUP BY a.point_id"),
    ("review times district year: a histogram by minute (median/p90 from it in Python)",
     "SELECT CAST((strftime('%s', decided_at) - strftime('%s', submitted_at)) / 60 AS INTEGER)"
     " AS minutes, count(*) FROM application WHERE decided_at >= :year_since "
     "AND decided_at < :year_until AND status IN ('approved', 'rejected') GROUP BY minutes",
     "SELECT (extract(epoch FROM decided_at - submitted_at) / 60)::int AS minutes, count(*) "
     "FROM application WHERE decided_at >= :year_since AND decided_at < :year_until "
     "AND status IN ('approved', 'rejected') GROUP BY minutes"),
    ("summary table bench_tally (street, point, status, kept, moved): district member counts",
     "SELECT sum(CASE WHEN status = 'active' THEN n ELSE 0 END), sum(CASE WHEN status = "
     "'active' AND kept THEN n ELSE 0 END), sum(CASE WHEN status = 'active' AND moved THEN n "
     "ELSE 0 END), sum(CASE WHEN status <> 'active' THEN n ELSE 0 END) FROM bench_tally",
     "SELECT sum(CASE WHEN status = 'active' THEN n ELSE 0 END), sum(CASE WHEN status = "
     "'active' AND kept THEN n ELSE 0 END), sum(CASE WHEN status = 'active' AND moved THEN n "
     "ELSE 0 END), sum(CASE WHEN status <> 'active' THEN n ELSE 0 END) FROM bench_tally"),
    ("summary table bench_tally: active members by point (by_point, four_ones by_point)",
     "SELECT point_id, sum(n) FROM bench_tally WHERE status = 'active' GROUP BY point_id",
     "SELECT point_id, sum(n) FROM bench_tally WHERE status = 'active' GROUP BY point_id"),
]


async def time_alternatives(raw: Raw, repeat: int, params: dict[str, Any]) -> None:
    print("\nproposed rewrites, timed on a plain connection (median of runs, ms):")
    await raw.execute("DROP TABLE IF EXISTS bench_tally")
    start = time.perf_counter()
    await raw.execute(TALLY)
    print(f"  (bench_tally built from the rows in {time.perf_counter() - start:.1f} s; "
          f"{(await raw.execute('SELECT count(*) FROM bench_tally'))[0][0]} rows)")  # fmt: skip
    try:
        for what, sqlite_sql, pg_sql in ALTERNATIVES:
            sql = sqlite_sql if raw.sqlite else pg_sql
            values = tuple(params[k] for k in re.findall(r":(\w+)", sql))
            sql = re.sub(r":\w+", "?", sql) if raw.sqlite else _dollar(sql)
            runs = []
            await raw.execute(sql, *values)
            for _ in range(repeat):
                start = time.perf_counter()
                await raw.execute(sql, *values)
                runs.append((time.perf_counter() - start) * 1000)
            print(f"  {statistics.median(runs):8.1f} ms (max {max(runs):7.1f})  {what}")
    finally:
        await raw.execute("DROP TABLE IF EXISTS bench_tally")


def _dollar(sql: str) -> str:
    counter = iter(range(1, 100))
    return re.sub(r":\w+", lambda _m: f"${next(counter)}", sql)


# ---------------------------------------------------------------------------- main


async def run(args: argparse.Namespace, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = await prepare(args, Path(folder), url)
        raw = Raw(url)
        counts = {t: (await raw.execute(f"SELECT count(*) FROM {t}"))[0][0] for t in TABLES}
        print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        await raw.drop_all()
        db = Database(url)
        try:
            recorder = Recorder(db)
            street = (await raw.execute(
                "SELECT street_id FROM member WHERE status = 'active' GROUP BY street_id "
                "ORDER BY count(*) DESC, street_id LIMIT 1"))[0][0]  # fmt: skip
            today = timefmt.local(utcnow()).date()
            calls = statistics_to_time(db, street, today)
            engine = "SQLite" if raw.sqlite else "PostgreSQL"
            scope = f"{engine}, scale {args.scale}, street {street}, today {today}"
            if args.indexes and not args.compare:
                await _create_set(raw)
            timings = await time_all(recorder, calls, args.repeat)
            label = "with the recommended indexes" if args.indexes and not args.compare \
                else "as migrated (no extra index)"
            print_table(f"statistics ({scope}), {label}; {args.repeat} runs after a warm-up:",
                        timings)  # fmt: skip
            if args.explore:
                await explore(raw, timings, max(1, args.repeat // 2), args.plan_floor,
                              args.candidates)  # fmt: skip
            if args.compare:
                await _create_set(raw)
                after = await time_all(recorder, calls, args.repeat)
                print_table(f"statistics ({scope}), with the recommended indexes:", after,
                            timings)  # fmt: skip
                timings = after
            if args.explore:
                await print_plans(raw, timings, args.plan_floor)
                if any(not t.passed for t in timings.values()):
                    print("\nwhere the time goes in each remaining MISS:")
                    for t in timings.values():
                        if not t.passed:
                            print_breakdown(t)
                month = Period.this_month(today)
                year = Period.this_year(today)
                await time_alternatives(raw, args.repeat, {
                    "street": street, "month_since": _param(raw, month.since),
                    "month_until": _param(raw, month.until),
                    "year_since": _param(raw, year.since), "year_until": _param(raw, year.until),
                })  # fmt: skip
        finally:
            await db.dispose()
            await raw.close()


def _param(raw: Raw, moment: Any) -> Any:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if raw.sqlite else moment


async def _create_set(raw: Raw) -> None:
    start = time.perf_counter()
    for key, on in INDEXES.items():
        await raw.create_index(key, on)
    print(f"\ncreated the recommended {len(INDEXES)} indexes in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    if args.engine == "sqlite":
        await run(args, None)
        return
    async with postgres(args.database) as url:
        await run(args, url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: the full city")
    parser.add_argument("--keep", type=Path, help="SQLite: keep (and reuse) the city here")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs after a warm-up")
    parser.add_argument("--indexes", action="store_true", help="create the recommended set")
    parser.add_argument("--compare", action="store_true", help="time without, then with it")
    parser.add_argument("--explore", action="store_true",
                        help="candidate indexes, plans and rewrites for each MISS")  # fmt: skip
    parser.add_argument("--candidates", action="store_true",
                        help="--explore: each candidate index on the slow statements")  # fmt: skip
    parser.add_argument("--plan-floor", type=float, default=100.0,
                        help="--explore: plans of the statements over this many ms")  # fmt: skip
    parser.add_argument("--database", help="PostgreSQL: an empty database (asyncpg URL)")
    asyncio.run(main(parser.parse_args()))
