"""Checking and recounting the statistics' tallies (models/tally.py) against the rows.

The triggers keep the tallies in every transaction that writes the rows; `check` is the
proof that they did (the tests run it after every kind of change, and an operator can run
`unionbot tallies check` at any time), and `rebuild` recounts them in one transaction if a
check ever finds a difference (say, after a restore of some tables only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bot.db import Database
from models.tally_triggers import FLAGS, TALLIES, rebuild_statements, recount_sql


@dataclass(frozen=True)
class Difference:
    tally: str
    key: tuple[Any, ...]
    counted: int  # from the rows
    kept: int  # in the tally


class TallyService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def check(self) -> list[Difference]:
        """Every tally row, and every member's four-ones flag, that does not match a count
        of the rows (rows counted 0 and absent are equal). Empty when all is well."""
        differences = []
        async with self.db.read() as session:
            dialect = session.bind.dialect.name
            if dialect == "postgresql":  # one snapshot for the rows and the tallies
                await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            for tally in TALLIES:
                names = [name for name, _ in tally.keys]
                counted = _by_key(await session.execute(text(recount_sql(tally, dialect))))
                kept = _by_key(await session.execute(
                    text(f"SELECT {', '.join(names)}, n FROM {tally.table}")))  # fmt: skip
                for key in sorted(counted.keys() | kept.keys(), key=repr):
                    if counted.get(key, 0) != kept.get(key, 0):
                        differences.append(
                            Difference(tally.table, key, counted.get(key, 0), kept.get(key, 0))
                        )
            for flag in FLAGS:
                wrong = await session.scalar(text(
                    f"SELECT count(*) FROM member WHERE {flag.column} <> {flag.exists('member.id')}"
                ))  # fmt: skip
                if wrong:
                    differences.append(Difference(f"member.{flag.column}", (), 0, int(wrong)))
        return differences

    async def rebuild(self) -> None:
        """Set the flags from the rows and recount every tally, in one transaction."""
        async with self.db.transaction() as session:
            for statement in rebuild_statements(session.bind.dialect.name):
                await session.execute(text(statement))


def _by_key(rows: Any) -> dict[tuple[Any, ...], int]:
    counts: dict[tuple[Any, ...], int] = {}
    for *key, n in rows:
        counts[tuple(int(k) if isinstance(k, bool) else k for k in key)] = int(n)
    return counts
