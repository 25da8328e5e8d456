"""The "four ones" (四个一) completion that staff see: per street, or per reception point of
one street, how many active members have each item done (the card is issued on joining;
the other three are a collected service card, a redeemed benefit and an attended
activity). Read from the members' tally (models/tally.py), which database triggers keep
from those rows and bot/services/tallies.py proves equal to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select

from bot.db import Database
from models import ReceptionPoint, Street, TallyMember

NO_POINT = "（未经接待点）"


@dataclass(frozen=True)
class Completion:
    name: str  # the street, or the reception point
    members: int  # active members, each with a member card
    service_card: int
    benefit: int
    activity: int
    all_four: int


def completion_conditions() -> tuple[Any, ...]:
    """Over the members' tally: active members; with the service card, the benefit, the
    activity; with all four (the member card comes with membership)."""
    t = TallyMember
    active = t.status == "active"
    card, benefit, activity = (t.card == 1), (t.benefit == 1), (t.activity == 1)
    return (
        active, active & card, active & benefit, active & activity,
        active & card & benefit & activity,
    )  # fmt: skip


def _sums() -> tuple[Any, ...]:
    t = TallyMember
    return tuple(func.sum(case((c, t.n), else_=0)) for c in completion_conditions())


class CompletionService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_street(self) -> list[Completion]:
        """Every street, with its active members (a street without members shows zeros)."""
        async with self.db.read() as session:
            counts = {
                key: tuple(int(n or 0) for n in sums)
                for key, *sums in await session.execute(
                    select(TallyMember.street_id, *_sums()).group_by(TallyMember.street_id)
                )
            }
            streets = await session.execute(select(Street.id, Street.name).order_by(Street.name))
            return [Completion(name, *counts.get(key, (0, 0, 0, 0, 0))) for key, name in streets]

    async def by_point(self, street_id: int) -> list[Completion]:
        """One street's active members by the reception point they applied at."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(ReceptionPoint.name, *_sums())
                .select_from(TallyMember)
                .outerjoin(ReceptionPoint, ReceptionPoint.id == TallyMember.point_id)
                .where(TallyMember.street_id == street_id)
                .group_by(TallyMember.point_id, ReceptionPoint.name)
                .having(_sums()[0] > 0)
                .order_by(ReceptionPoint.name)
            )
            return [Completion(name or NO_POINT, *map(int, counts)) for name, *counts in rows]
