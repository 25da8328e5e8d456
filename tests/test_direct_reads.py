"""Database.fetch_one / fetch_all: single selects on the driver's connection, as the ORM
would give them, on both engines."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import bindparam, func, literal_column, select, text

from bot.db import Database
from models.audit import AuditEntry
from models.org import ReceptionPoint, Street

BY_CODE = (
    select(ReceptionPoint.name, ReceptionPoint.active, Street.name)
    .join(Street, Street.id == ReceptionPoint.street_id)
    .where(ReceptionPoint.code == bindparam("code"), ReceptionPoint.kind == "community")
)


async def _point(database: Database, code: str, *, active: bool = True) -> None:
    async with database.transaction() as session:
        street = await session.scalar(select(Street).where(Street.code == "DS"))
        if street is None:
            street = Street(code="DS", name="德胜街道")
            session.add(street)
            await session.flush()
        session.add(
            ReceptionPoint(
                street_id=street.id, code=code, name=f"点{code}", kind="community", active=active
            )
        )


async def test_a_select_reads_what_the_orm_reads(database: Database) -> None:
    await _point(database, "P1")
    await _point(database, "P2", active=False)
    assert await database.fetch_one(BY_CODE, code="P1") == ("点P1", True, "德胜街道")
    # The column types' own processing: a boolean, not SQLite's 0.
    row = await database.fetch_one(BY_CODE, code="P2")
    assert row is not None and row[1] is False
    assert await database.fetch_one(BY_CODE, code="nowhere") is None
    every = select(ReceptionPoint.code).order_by(ReceptionPoint.code)
    assert await database.fetch_all(every) == [("P1",), ("P2",)]


async def test_a_read_sees_what_was_committed_just_before(database: Database) -> None:
    count = select(func.count()).select_from(ReceptionPoint)
    for n in range(1, 6):
        await _point(database, f"C{n}")
        assert await database.fetch_one(count) == (n,)  # no snapshot left open between reads


async def test_datetimes_come_back_as_the_orm_gives_them(database: Database) -> None:
    at = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)
    async with database.transaction() as session:
        session.add(
            AuditEntry(
                at=at, actor_name="test", action="a.b", subject_type="x", subject_id="1",
                after={"k": "v"},
            )
        )  # fmt: skip
    statement = select(AuditEntry.at, AuditEntry.after).where(
        AuditEntry.action == bindparam("action")
    )
    fetched = await database.fetch_one(statement, action="a.b")
    async with database.read() as session:
        orm = tuple((await session.execute(statement, {"action": "a.b"})).one())
    assert fetched == orm == (at, {"k": "v"})
    assert fetched[0].tzinfo is not None


async def test_many_reads_at_once(database: Database) -> None:
    for n in range(10):
        await _point(database, f"M{n}")
    rows = await asyncio.gather(
        *(database.fetch_one(BY_CODE, code=f"M{n % 10}") for n in range(200))
    )
    assert [row[0] for row in rows if row] == [f"点M{n % 10}" for n in range(200)]


async def test_wrong_parameters_are_refused_clearly(database: Database) -> None:
    with pytest.raises(TypeError, match="a value for code"):
        await database.fetch_one(BY_CODE)
    with pytest.raises(TypeError, match="no parameter named kode"):
        await database.fetch_one(BY_CODE, code="P1", kode="P1")
    in_list = select(ReceptionPoint.id).where(
        ReceptionPoint.code.in_(bindparam("codes", expanding=True))
    )
    with pytest.raises(TypeError, match="IN with a list"):
        await database.fetch_all(in_list, codes=["a"])
    await _point(database, "D1")
    await _point(database, "D2")
    with pytest.raises(ValueError, match="more than one row"):
        await database.fetch_one(select(ReceptionPoint.code))


async def test_the_direct_connection_only_reads(database: Database) -> None:
    """A write slipped into the read path fails instead of bypassing the write lock."""
    await _point(database, "R1")
    delete = "DELETE FROM reception_point"
    direct = database._direct
    assert direct is not None
    await direct.all(select(ReceptionPoint.id))  # opened
    if database.is_sqlite:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await direct._connection.execute(delete)
    else:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await direct._connection.execute(delete, ())
    assert await database.fetch_one(select(func.count()).select_from(ReceptionPoint)) == (1,)


async def test_a_lost_connection_fails_that_read_and_the_next_opens_anew(
    database: Database,
) -> None:
    count = select(func.count()).select_from(Street)
    assert await database.fetch_one(count) == (0,)
    if database.is_sqlite:  # nothing on the other side can go away: closing is the case
        await database._direct.close()
    else:
        async with database.transaction() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'unionbot reads'"
                )
            )
        lost = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
        with pytest.raises(lost):
            await database.fetch_one(count)
    assert await database.fetch_one(count) == (0,)


async def test_overlapping_reads_never_keep_an_old_snapshot(database: Database) -> None:
    """Reads running at once on the one SQLite connection must not hold its read
    transaction open between them: a write committed meanwhile would stay unseen by
    every later read for as long as the reads kept overlapping (a form's next answer
    checked against the state before the last one)."""
    for n in range(20):
        await _point(database, f"O{n}")
    every = select(ReceptionPoint.code)
    count = select(func.count()).select_from(ReceptionPoint)
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            await database.fetch_all(every)

    readers = [asyncio.create_task(keep_reading()) for _ in range(8)]
    try:
        await asyncio.sleep(0.05)
        for n in range(1, 11):
            await _point(database, f"N{n}")
            assert await database.fetch_one(count) == (20 + n,)
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_a_read_given_up_while_waiting_costs_no_connection(database: Database) -> None:
    """Reads cancelled (a timeout, a shutdown) while all connections are busy leave the
    pool whole: the reads after them still get every connection."""
    slow = select(func.pg_sleep(0.3)) if not database.is_sqlite else None
    count = select(func.count()).select_from(Street)
    if slow is not None:
        busy = [asyncio.create_task(database.fetch_one(slow)) for _ in range(4)]
    else:  # one connection, one thread: a long recursive select keeps it busy
        busy = [asyncio.create_task(database.fetch_one(select(literal_column(_SQLITE_BUSY))))]
    await asyncio.sleep(0.05)
    given_up = [asyncio.create_task(database.fetch_one(count)) for _ in range(5)]
    await asyncio.sleep(0.05)
    for task in given_up:
        task.cancel()
    await asyncio.gather(*busy)
    assert await asyncio.gather(*(database.fetch_one(count) for _ in range(20))) == [(0,)] * 20
    direct = database._direct
    assert direct is not None
    if not database.is_sqlite:
        pool = direct._connection
        assert pool._open == len(pool._idle) <= direct.pool_size
        assert not pool._waiting


_SQLITE_BUSY = (
    "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) "
    "SELECT count(*) FROM n)"
)
