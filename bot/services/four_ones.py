"""The "four ones" (四个一) completion that staff see: per street, or per reception point of
one street, how many active members have each item done. Counted from the rows each time
(the card is issued on joining; the other three are a collected service card, a redeemed
benefit and an attended activity)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal, select, union_all

from bot.db import Database
from models import (
    ActivitySignup,
    Application,
    BenefitClaim,
    Member,
    ReceptionPoint,
    ServiceCardRequest,
    Street,
)

NO_POINT = "（未经接待点）"


@dataclass(frozen=True)
class Completion:
    name: str  # the street, or the reception point
    members: int  # active members, each with a member card
    service_card: int
    benefit: int
    activity: int
    all_four: int


def done_per_member(street_id: int | None = None) -> Any:
    """A subquery: for each member with anything done, 1 or 0 for the service card, the
    benefit and the activity. Built from the three small tables, so a count over a city's
    members joins a few hundred thousand rows instead of asking three questions of every
    member (bench/bench_stats.py, a million members: seconds before, under one after).
    With `street_id`, only that street's members' rows are read."""
    card = select(
        ServiceCardRequest.member_id.label("member_id"),
        literal(1).label("card"),
        literal(0).label("benefit"),
        literal(0).label("activity"),
    ).where(ServiceCardRequest.collected_at.is_not(None))
    benefit = select(BenefitClaim.member_id, literal(0), literal(1), literal(0)).where(
        BenefitClaim.redeemed_at.is_not(None)
    )
    activity = select(ActivitySignup.member_id, literal(0), literal(0), literal(1)).where(
        ActivitySignup.attended_at.is_not(None)
    )
    parts = [card, benefit, activity]
    if street_id is not None:
        street = select(Member.id).where(Member.street_id == street_id)
        parts = [part.where(part.selected_columns[0].in_(street)) for part in parts]
    each = union_all(*parts).subquery()
    return (
        select(each.c.member_id, func.max(each.c.card).label("card"),
               func.max(each.c.benefit).label("benefit"),
               func.max(each.c.activity).label("activity"))
        .group_by(each.c.member_id)
        .subquery("done")
    )  # fmt: skip


def done_columns(done: Any) -> tuple[Any, ...]:
    """Sums over done_per_member(): service card, benefit, activity, all four."""
    return (
        func.coalesce(func.sum(done.c.card), 0),
        func.coalesce(func.sum(done.c.benefit), 0),
        func.coalesce(func.sum(done.c.activity), 0),
        func.coalesce(func.sum(done.c.card * done.c.benefit * done.c.activity), 0),
    )


class CompletionService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_street(self) -> list[Completion]:
        """Every street, with its active members (a street without members shows zeros)."""
        async with self.db.read() as session:
            members = dict(
                (key, int(n)) for key, n in await session.execute(
                    select(Member.street_id, func.count(Member.id))
                    .where(Member.status == "active").group_by(Member.street_id)
                )
            )  # fmt: skip
            done = done_per_member()
            items = {
                key: tuple(map(int, counts))
                for key, *counts in await session.execute(
                    select(Member.street_id, *done_columns(done))
                    .join(done, done.c.member_id == Member.id)
                    .where(Member.status == "active")
                    .group_by(Member.street_id)
                )
            }
            streets = await session.execute(select(Street.id, Street.name).order_by(Street.name))
            return [
                Completion(name, members.get(key, 0), *items.get(key, (0, 0, 0, 0)))
                for key, name in streets
            ]

    async def by_point(self, street_id: int) -> list[Completion]:
        """One street's active members by the reception point they applied at."""
        async with self.db.read() as session:
            done = done_per_member(street_id)
            rows = await session.execute(
                select(ReceptionPoint.name, func.count(Member.id), *done_columns(done))
                .select_from(Member)
                .join(Application, Application.id == Member.application_id)
                .outerjoin(ReceptionPoint, ReceptionPoint.id == Application.point_id)
                .outerjoin(done, done.c.member_id == Member.id)
                .where(Member.street_id == street_id, Member.status == "active")
                .group_by(ReceptionPoint.id, ReceptionPoint.name)
                .order_by(ReceptionPoint.name)
            )
            return [Completion(name or NO_POINT, *map(int, counts)) for name, *counts in rows]

    async def street_of_review_chat(self, chat_id: int) -> tuple[int, str] | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Street.id, Street.name).where(Street.review_chat_id == chat_id)
                )
            ).first()
            return (row[0], row[1]) if row else None
