"""The few reads the dashboard needs that the statistics service does not offer: the
streets to choose from, an enterprise's members by month, which enterprises lie in a
street. Every district and street figure comes from bot.services.stats."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from bot import timefmt
from bot.db import Database
from bot.services.stats import PointFigures
from models import Enterprise, Member, ReceptionPoint, Street

KINDS = {"station": "服务站", "building": "楼宇", "community": "社区", "online": "线上"}


@dataclass(frozen=True)
class StreetChoice:
    id: int
    name: str


@dataclass(frozen=True)
class PointRow:
    """A reception point with its figures (zeros for a poster that brought nobody)."""

    name: str
    street: str
    kind: str
    applications: int
    approved: int
    members_active: int


@dataclass(frozen=True)
class EnterpriseMonth:
    month: str  # YYYY-MM, Beijing time
    joined: int  # members who joined that month (whatever became of them since)


class DashboardReads:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def streets(self) -> list[StreetChoice]:
        async with self.db.read() as session:
            rows = await session.execute(select(Street.id, Street.name).order_by(Street.code))
            return [StreetChoice(street_id, name) for street_id, name in rows]

    async def street_name(self, street_id: int) -> str | None:
        async with self.db.read() as session:
            return await session.scalar(select(Street.name).where(Street.id == street_id))

    async def points(self, street_id: int | None, figures: list[PointFigures]) -> list[PointRow]:
        """Every active point of the scope (a street, or the district) with its figures,
        then those with figures and no active point (retired ones; online and paper
        applications)."""
        async with self.db.read() as session:
            query = (
                select(ReceptionPoint.id, ReceptionPoint.name, ReceptionPoint.kind, Street.name)
                .join(Street, Street.id == ReceptionPoint.street_id)
                .where(ReceptionPoint.active.is_(True))
                .order_by(Street.code, ReceptionPoint.id)
            )
            if street_id is not None:
                query = query.where(ReceptionPoint.street_id == street_id)
            points = (await session.execute(query)).all()
        by_id = {f.point_id: f for f in figures}
        rows = []
        for point_id, name, kind, street in points:
            f = by_id.pop(point_id, None)
            rows.append(PointRow(name, street, KINDS.get(kind, kind),
                                 f.applications if f else 0, f.approved if f else 0,
                                 f.members_active if f else 0))  # fmt: skip
        for f in by_id.values():
            rows.append(PointRow(f.name or "线上或代录", "", "" if f.name else "线上",
                                 f.applications, f.approved, f.members_active))  # fmt: skip
        return rows

    async def enterprise_months(self, enterprise_id: int) -> list[EnterpriseMonth]:
        """Members of one enterprise by the month they joined. An enterprise has tens of
        individual members (a union is founded at 25), so they are counted here."""
        async with self.db.read() as session:
            joined = await session.scalars(
                select(Member.joined_at).where(Member.enterprise_id == enterprise_id)
            )
            months = Counter(timefmt.local(moment).strftime("%Y-%m") for moment in joined)
        return [EnterpriseMonth(month, months[month]) for month in sorted(months)]

    async def enterprises_of(self, street_id: int, ids: set[int]) -> set[int]:
        """Those of `ids` that lie in the street."""
        if not ids:
            return set()
        async with self.db.read() as session:
            found = await session.scalars(
                select(Enterprise.id).where(
                    Enterprise.id.in_(sorted(ids)), Enterprise.street_id == street_id
                )
            )
            return set(found)
