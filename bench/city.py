"""A city-sized database for the statistics benchmark (bench/bench_stats.py), generated in
the database itself: INSERT ... SELECT over a numbers table, so that no row passes through
Python (2,000,000 applications in well under a minute on SQLite).

At scale 1.0: 330 streets (each with 3 reception points and a joint union), 200,000
enterprises (80 % from the registry with 5-2,000 employees, ~35 % of those with a union;
20 % provisional, typed by workers), 2,000,000 applications over the last 3 years (55 %
approved, 30 % rejected, 13 % waiting, 2 % withdrawn; decided 1 hour to 7 days after
submission; 80 % at a reception point), 1,000,000 members (the first approved
applications; ~3 % keeping their membership, ~2 % ended; those at ~1,100 enterprises with
an enterprise union founded through the bot are in it), ~4,300 founding cases across the
stages, and activities, sign-ups, benefit claims and service cards for the four ones.

Pseudo-random choices are hashes of the row number ((i * P + Q) mod 1,000,003), the same
on both engines, so that two runs and two engines hold the same city. The personal-data
columns hold fixed dummy values (the statistics never read them).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models import tally_triggers

MOD = 1_000_003
PRIMES = (
    7919, 104729, 1299709, 15485863, 32452843, 49979687, 67867967, 86028121, 104395301,
    122949823, 141650939, 160481183, 179424673, 198491317, 217645177, 236887691, 256203161,
)  # fmt: skip
YEAR = 365 * 86_400
STREETS = 330
POINTS_PER_STREET = 3
ENTERPRISE_UNION_EVERY = 50  # of the registry enterprises with a union (id % 50 == 0)
EU_BASE = 1_000_000  # ids of the enterprise unions: EU_BASE + enterprise id


def h(k: int, column: str = "i") -> str:
    """A pseudo-random integer in [0, 1,000,003) from the row number `column`."""
    return f"((CAST({column} AS BIGINT) * {PRIMES[k] % MOD} + {k * 7_777 + 13}) % {MOD})"


@dataclass(frozen=True)
class Sizes:
    enterprises: int
    applications: int
    members: int
    activities: int
    benefits: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        return cls(
            enterprises=max(100, round(200_000 * scale)),
            applications=max(1_000, round(2_000_000 * scale)),
            members=max(400, round(1_000_000 * scale)),
            activities=max(5, round(200 * scale)),
            benefits=max(3, round(50 * scale)),
        )


class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str) -> None:
        self.name = name

    def ts(self, epoch: str) -> str:
        """A UTC moment from seconds since 1970, as SQLAlchemy stores it."""
        if self.name == "sqlite":
            return f"strftime('%Y-%m-%d %H:%M:%S.000000', {epoch}, 'unixepoch')"
        return f"to_timestamp({epoch})"

    def date(self, iso: str) -> str:
        return f"'{iso}'" if self.name == "sqlite" else f"DATE '{iso}'"

    @property
    def blob(self) -> str:
        return "X'00'" if self.name == "sqlite" else "'\\x00'::bytea"

    @property
    def json(self) -> str:
        return "'{}'" if self.name == "sqlite" else "CAST('{}' AS JSON)"

    def numbers(self, n: int) -> list[str]:
        if self.name == "sqlite":
            return [
                "CREATE TEMP TABLE nums (i INTEGER PRIMARY KEY)",
                "INSERT INTO nums WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                f"FROM c WHERE i < {n}) SELECT i FROM c",
            ]
        return [f"CREATE TEMP TABLE nums AS SELECT i::bigint AS i FROM generate_series(1, {n}) i"]


def statements(d: Dialect, sizes: Sizes, now: int) -> list[tuple[str, str]]:
    """(label, SQL) in order."""
    E, A, M = sizes.enterprises, sizes.applications, sizes.members
    ts = d.ts
    out: list[tuple[str, str]] = [("numbers", s) for s in d.numbers(max(A, E))]
    out.append(
        (
            "street",
            f"""
        INSERT INTO street (id, code, name)
        SELECT i, 'S' || i, '街道' || i FROM nums WHERE i <= {STREETS}""",
        )
    )
    out.append(
        (
            "reception_point",
            f"""
        INSERT INTO reception_point (id, street_id, code, name, kind, active)
        SELECT i, (i - 1) / {POINTS_PER_STREET} + 1, 'P' || i, '接待点' || i,
               CASE i % 3 WHEN 0 THEN 'station' WHEN 1 THEN 'building' ELSE 'community' END,
               TRUE
        FROM nums WHERE i <= {STREETS * POINTS_PER_STREET}""",
        )
    )
    out.append(
        (
            "union_org",
            f"""
        INSERT INTO union_org (id, kind, name, street_id, created_at)
        SELECT i, 'joint', '联合工会' || i, i, {ts(str(now - 5 * YEAR))}
        FROM nums WHERE i <= {STREETS}""",
        )
    )
    out.append(
        (
            "enterprise",
            f"""
        INSERT INTO enterprise (id, name, name_key, uscc, street_id, provisional, member_count,
                                created_at, employees, has_union, status, updated_at)
        SELECT i, '企业' || i, 'qy' || i, CASE WHEN prov THEN NULL ELSE '91' || i END,
               1 + {h(2)} % {STREETS}, prov, 0, {ts(f"{now - 4 * YEAR} + {h(3)} * 90")},
               CASE WHEN prov THEN NULL ELSE 5 + ({h(4)} % 1000) * ({h(4)} % 1000) / 501 END,
               CASE WHEN NOT prov AND {h(5)} % 100 < 35 THEN TRUE ELSE FALSE END,
               CASE {h(6)} % 100 WHEN 0 THEN 'closed' WHEN 1 THEN 'moved_out'
                    WHEN 2 THEN 'closed' ELSE 'active' END,
               {ts(str(now - YEAR))}
        FROM (SELECT i, ({h(1)} % 5 = 0) AS prov FROM nums WHERE i <= {E}) x""",
        )
    )
    out.append(
        (
            "union_org",
            f"""
        INSERT INTO union_org (id, kind, name, street_id, enterprise_id, created_at)
        SELECT {EU_BASE} + id, 'enterprise', '企业工会' || id, street_id, id,
               {ts(str(now - 2 * YEAR))}
        FROM enterprise WHERE has_union = TRUE AND id % {ENTERPRISE_UNION_EVERY} = 0""",
        )
    )
    # Skewed towards low enterprise ids (a product of two uniforms): a few enterprises
    # with dozens of members, most with a handful.
    age = f"(({h(7)} * 1000 + {h(8)} % 1000) % {3 * YEAR - 8 * 86_400})"
    delay = f"(3600 + ({h(9)} % 600000) * ({h(10)} % 100) / 100)"
    submitted = f"({now} - x.age - x.delay)"
    decided = f"CASE WHEN x.s < 85 THEN {ts(f'{now} - x.age')} END"
    out.append(
        (
            "application",
            f"""
        INSERT INTO application (
            id, number, status, telegram_user_id, language, name, ric_cipher, ric_hash,
            mobile_cipher, gender, birth_date, employer_text, enterprise_id, street_id,
            point_id, notice_version, consent_at, submitted_at, channel, employer_has_union,
            decided_at, decided_by_name, reject_reason)
        SELECT x.i, 'A' || x.i,
               CASE WHEN x.s < 55 THEN 'approved' WHEN x.s < 85 THEN 'rejected'
                    WHEN x.s < 98 THEN 'submitted' ELSE 'withdrawn' END,
               1000000000 + x.i, 'zh', '张三', {d.blob}, 'r' || x.i, {d.blob},
               CASE WHEN x.i % 2 = 0 THEN 'female' ELSE 'male' END, {d.date("1990-05-17")},
               '单位', x.ent, e.street_id,
               CASE WHEN x.p % 5 < 4 THEN (e.street_id - 1) * {POINTS_PER_STREET} + 1 + x.p % 3
               END,
               '2026-11', {ts(submitted)}, {ts(submitted)},
               CASE WHEN x.p % 5 < 4 THEN 'qr' ELSE 'online' END, FALSE,
               {decided}, CASE WHEN x.s < 85 THEN '审核员' END,
               CASE WHEN x.s >= 55 AND x.s < 85 THEN 'incomplete' END
        FROM (SELECT i, 1 + ({h(11)} % {E}) * ({h(12)} % 100) / 100 AS ent,
                     {h(13)} % 100 AS s, {h(14)} AS p, {age} AS age, {delay} AS delay
              FROM nums WHERE i <= {A}) x
        JOIN enterprise e ON e.id = x.ent""",
        )
    )
    out.append(
        (
            "member",
            f"""
        INSERT INTO member (id, number, application_id, telegram_user_id, ric_hash,
                            enterprise_id, union_org_id, street_id, status, joined_at,
                            ended_at, kept_since)
        SELECT a.id, 'M' || a.id, a.id, a.telegram_user_id, a.ric_hash, a.enterprise_id,
               COALESCE(u.id, a.street_id), a.street_id,
               CASE WHEN {h(15, "a.id")} % 100 < 2 THEN 'ended' ELSE 'active' END,
               a.decided_at,
               CASE WHEN {h(15, "a.id")} % 100 < 2 THEN a.decided_at END,
               CASE WHEN {h(15, "a.id")} % 100 BETWEEN 2 AND 4 THEN a.decided_at END
        FROM application a
        LEFT JOIN union_org u ON u.id = {EU_BASE} + a.enterprise_id
        WHERE a.status = 'approved'
        ORDER BY a.id LIMIT {M}""",
        )
    )
    out.append(
        (
            "enterprise.member_count",
            """
        UPDATE enterprise SET member_count = c.n
        FROM (SELECT enterprise_id, count(*) AS n FROM member
              WHERE status = 'active' AND kept_since IS NULL GROUP BY enterprise_id) c
        WHERE c.enterprise_id = enterprise.id""",
        )
    )
    out.append(
        (
            "founding_case",
            f"""
        INSERT INTO founding_case (enterprise_id, stage, paused, pause_reason, owner_name,
                                   facts, opened_at, stage_since, touched_at, version)
        SELECT id,
               CASE (id / 37) % 5 WHEN 0 THEN 'following' WHEN 1 THEN 'preparing'
                    WHEN 2 THEN 'assembly' WHEN 3 THEN 'approved' ELSE 'founded' END,
               (id % 10 = 3), CASE WHEN id % 10 = 3 THEN 'too_few' END, '工作人员', {d.json},
               {ts(f"{now} - 200 * 86400 - ({h(16, 'id')} % 200) * 86400")},
               {ts(f"{now} - ({h(16, 'id')} % 200) * 86400")},
               {ts(f"{now} - ({h(16, 'id')} % 100) * 86400")}, 1
        FROM enterprise WHERE provisional = FALSE AND id % 37 = 0""",
        )
    )
    out.append(
        (
            "activity",
            f"""
        INSERT INTO activity (id, street_id, title, place, description, starts_at, ends_at,
                              signup_deadline, capacity, confirmed, status, created_by_name,
                              created_at)
        SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE 1 + i % {STREETS} END, '活动' || i,
               '活动中心', '', {ts(f"{now} - i * 86400")}, {ts(f"{now} - i * 86400 + 7200")},
               {ts(f"{now} - i * 86400 - 86400")}, 1000000, 0, 'closed', '工作人员',
               {ts(f"{now} - i * 86400 - 7 * 86400")}
        FROM nums WHERE i <= {sizes.activities}""",
        )
    )
    out.append(
        (
            "activity_signup",
            f"""
        INSERT INTO activity_signup (activity_id, member_id, status, queued_at, confirmed_at,
                                     attended_at)
        SELECT 1 + id % {sizes.activities}, id, 'confirmed', joined_at, joined_at,
               CASE WHEN (id * 31) % 10 < 6 THEN joined_at END
        FROM member WHERE status = 'active' AND (CAST(id AS BIGINT) * 7919) % 101 < 15""",
        )
    )
    out.append(
        (
            "benefit",
            f"""
        INSERT INTO benefit (id, street_id, title, description, provider, quota, claimed,
                             valid_from, valid_to, first_only, created_at)
        SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE 1 + i % {STREETS} END, '普惠' || i, '',
               '服务商', 1000000, 0, {d.date("2024-01-01")}, {d.date("2027-12-31")}, FALSE,
               {ts(str(now - 2 * YEAR))}
        FROM nums WHERE i <= {sizes.benefits}""",
        )
    )
    out.append(
        (
            "benefit_claim",
            f"""
        INSERT INTO benefit_claim (benefit_id, member_id, claimed_at, redeemed_at)
        SELECT 1 + id % {sizes.benefits}, id, joined_at,
               CASE WHEN (id * 17) % 10 < 7 THEN joined_at END
        FROM member WHERE status = 'active' AND (CAST(id AS BIGINT) * 104729) % 103 < 10""",
        )
    )
    out.append(
        (
            "service_card_request",
            """
        INSERT INTO service_card_request (member_id, street_id, status, requested_at,
                                          collected_at)
        SELECT id, street_id, CASE WHEN (id * 13) % 10 < 5 THEN 'collected' ELSE 'requested'
                                   END,
               joined_at, CASE WHEN (id * 13) % 10 < 5 THEN joined_at END
        FROM member WHERE status = 'active' AND (CAST(id AS BIGINT) * 1299709) % 107 < 20""",
        )
    )
    out.append(("numbers", "DROP TABLE nums"))
    return out


TABLES = (
    "street", "reception_point", "union_org", "enterprise", "application", "member",
    "founding_case", "activity", "activity_signup", "benefit", "benefit_claim",
    "service_card_request",
)  # fmt: skip


def _with_tallies(dialect: str, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The load with the tallies' triggers dropped (a row at a time would slow it down
    several times), then the tallies counted from the rows and the triggers back."""
    drop = [("drop tally triggers", sql) for sql in tally_triggers.drop_statements(dialect)]
    count = [("count the tallies", sql) for sql in tally_triggers.rebuild_statements(dialect)]
    create = [("tally triggers", sql) for sql in tally_triggers.create_statements(dialect)]
    return drop + rows + count + create


def generate_sqlite(path: str, scale: float, say: Callable[[str], None] = print) -> float:
    """Fill a migrated, empty SQLite file; returns the seconds it took."""
    start = time.perf_counter()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # A throwaway file: no rollback journal while loading (WAL is restored after).
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        connection.execute("PRAGMA temp_store=MEMORY")
        connection.execute("BEGIN")
        for label, sql in _with_tallies(
            "sqlite", statements(Dialect("sqlite"), Sizes.at(scale), int(time.time()))
        ):
            step = time.perf_counter()
            connection.execute(sql)
            say(f"  {label:24} {time.perf_counter() - step:6.1f} s")
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return time.perf_counter() - start


async def generate_postgresql(
    connection: Any, scale: float, say: Callable[[str], None] = print
) -> float:
    """Fill a migrated, empty PostgreSQL database (an asyncpg connection), then ANALYZE as
    autovacuum would; returns the seconds it took."""
    start = time.perf_counter()
    async with connection.transaction():
        rows = statements(Dialect("postgresql"), Sizes.at(scale), int(time.time()))
        for label, sql in _with_tallies("postgresql", rows):
            step = time.perf_counter()
            await connection.execute(sql)
            say(f"  {label:24} {time.perf_counter() - step:6.1f} s")
    step = time.perf_counter()
    await connection.execute("VACUUM ANALYZE")
    say(f"  {'VACUUM ANALYZE':24} {time.perf_counter() - step:6.1f} s")
    return time.perf_counter() - start
