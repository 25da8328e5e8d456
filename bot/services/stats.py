"""The federation's figures, counted from the rows every time (invariant 14): the chat's
/stats, the charts, the dashboard and the exports all read them here. docs/figures.md
defines each one in plain words.

A scope is a street (its id) or the whole district (None); a period is a range of Beijing
dates, both ends included. Months and durations are computed in SQL so that a city-sized
database sends back counts, not rows.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timefmt
from bot.db import Database
from bot.services.four_ones import done_columns, done_per_member
from models import (
    Application,
    Enterprise,
    FoundingCase,
    Member,
    ReceptionPoint,
    Street,
    UnionOrg,
)
from models.base import utcnow

NEAR = 0.8  # "close to the threshold": at least this share of it
STAGES = ("following", "preparing", "assembly", "approved", "founded")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included
    label: str

    @classmethod
    def this_month(cls, today: date) -> Period:
        start = today.replace(day=1)
        return cls(start, today, f"{start:%Y-%m}")

    @classmethod
    def last_month(cls, today: date) -> Period:
        end = today.replace(day=1) - timedelta(days=1)
        return cls(end.replace(day=1), end, f"{end:%Y-%m}")

    @classmethod
    def this_year(cls, today: date) -> Period:
        return cls(date(today.year, 1, 1), today, f"{today.year}")

    @classmethod
    def between(cls, start: date, end: date) -> Period:
        if end < start:
            raise ValueError("the period ends before it starts")
        return cls(start, end, f"{start.isoformat()} — {end.isoformat()}")

    @property
    def since(self) -> datetime:
        """The first moment (UTC) of the first day in Beijing."""
        return datetime.combine(self.start, time(), timefmt.BEIJING).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """The first moment (UTC) after the last day in Beijing."""
        day_after = self.end + timedelta(days=1)
        return datetime.combine(day_after, time(), timefmt.BEIJING).astimezone(UTC)


def parse_period(text: str, today: date) -> Period:
    """What staff type after /stats: nothing or 本月 (this month), 上月, 本年/今年, a month
    (2026-11) or two dates (2026-01-01 2026-06-30). ValueError otherwise."""
    words = text.replace("～", " ").replace("~", " ").replace("至", " ").split()
    if not words or words[0] in ("本月", "this", "month"):
        return Period.this_month(today)
    if words[0] in ("上月", "last"):
        return Period.last_month(today)
    if words[0] in ("本年", "今年", "year"):
        return Period.this_year(today)
    if len(words) == 1 and len(words[0]) == 7:  # a month, YYYY-MM
        start = date.fromisoformat(words[0] + "-01")
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return Period(start, min(end, today), words[0])
    if len(words) == 2:
        return Period.between(date.fromisoformat(words[0]), date.fromisoformat(words[1]))
    raise ValueError("not a period")


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        return None if self.denominator == 0 else 100.0 * self.numerator / self.denominator


@dataclass(frozen=True)
class ReviewTimes:
    decided: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class Overview:
    scope: str  # the street's name, or the district's
    period: Period
    members_active: int
    members_kept: int
    members_transferred: int  # active, their membership moved to an enterprise union
    members_ended: int
    new_members: int  # joined in the period
    applications: dict[str, int]  # submitted in the period, by status now
    review: ReviewTimes  # applications decided in the period
    coverage: Ratio  # 建会率: registry enterprises with a union / registry enterprises
    member_share: Ratio  # members / employees of registry enterprises with both
    near_threshold: int  # enterprises without a union, at ≥ 80 % of the threshold
    open_cases: int
    four_ones_all: int  # active members with all four items done
    service_cards: int
    benefits: int
    activities: int


@dataclass(frozen=True)
class StreetFigures:
    street_id: int
    code: str
    name: str
    members_active: int
    new_members: int
    applications: int
    approved: int
    rejected: int
    waiting: int  # submitted and not decided, now
    review: ReviewTimes
    promised_days: int | None
    coverage: Ratio
    four_ones_all: int


@dataclass(frozen=True)
class PointFigures:
    point_id: int | None
    name: str
    applications: int
    approved: int
    members_active: int


@dataclass(frozen=True)
class Progress:
    enterprise_id: int
    name: str
    street: str | None
    members: int
    threshold: int
    first_joined: datetime | None
    days_since_first: int | None


@dataclass(frozen=True)
class Gap:
    enterprise_id: int
    name: str
    street: str | None
    employees: int


@dataclass(frozen=True)
class StageFigures:
    stage: str
    cases: int
    paused: int
    median_days_in_stage: float | None


@dataclass(frozen=True)
class MonthCount:
    month: str  # YYYY-MM, Beijing time
    street: str
    members: int


@dataclass
class _Scoped:
    street_id: int | None
    conditions: list[Any] = field(default_factory=list)


class StatsService:
    def __init__(self, db: Database, threshold: int, review_days: int = 5) -> None:
        self.db = db
        self.threshold = threshold
        self.review_days = review_days

    async def scope_name(self, street_id: int | None) -> str:
        if street_id is None:
            return "全区"
        async with self.db.read() as session:
            return (await session.get_one(Street, street_id)).name

    # ------------------------------------------------------------------------ overview

    async def overview(self, street_id: int | None, period: Period) -> Overview:
        async with self.db.read() as session:
            members = await _member_counts(session, street_id)
            new = await session.scalar(
                _in_street(select(func.count(Member.id)), Member.street_id, street_id).where(
                    Member.joined_at >= period.since, Member.joined_at < period.until
                )
            )
            applications = dict(
                (status, int(n))
                for status, n in await session.execute(
                    _in_street(
                        select(Application.status, func.count(Application.id)),
                        Application.street_id, street_id,
                    )
                    .where(Application.submitted_at >= period.since,
                           Application.submitted_at < period.until)
                    .group_by(Application.status)
                )
            )  # fmt: skip
            review = await _review_times(session, street_id, period)
            coverage = await _coverage(session, street_id)
            share = await _member_share(session, street_id)
            near = await session.scalar(
                _in_street(select(func.count(Enterprise.id)), Enterprise.street_id, street_id)
                .where(Enterprise.has_union.is_(False), Enterprise.status == "active",
                       Enterprise.member_count >= _near(self.threshold))
            )  # fmt: skip
            cases = await session.scalar(
                _cases(select(func.count(FoundingCase.id)), street_id).where(
                    FoundingCase.stage != "founded"
                )
            )
            four = await _four_ones(session, street_id)
            name = "全区" if street_id is None else (await session.get_one(Street, street_id)).name
        return Overview(
            name, period, *members, int(new or 0), applications, review, coverage, share,
            int(near or 0), int(cases or 0), *four,
        )  # fmt: skip

    # ------------------------------------------------------------------------ rows

    async def by_street(self, period: Period) -> list[StreetFigures]:
        """A row per street, every street (one without members shows zeros)."""
        async with self.db.read() as session:
            streets = list(await session.scalars(select(Street).order_by(Street.code)))
            active = await _grouped(session, select(Member.street_id, func.count(Member.id))
                                    .where(Member.status == "active"))  # fmt: skip
            new = await _grouped(session, select(Member.street_id, func.count(Member.id)).where(
                Member.joined_at >= period.since, Member.joined_at < period.until))  # fmt: skip
            submitted = (Application.submitted_at >= period.since,
                         Application.submitted_at < period.until)  # fmt: skip
            counts = {
                street_id: (int(total), int(approved or 0), int(rejected or 0))
                for street_id, total, approved, rejected in await session.execute(
                    select(
                        Application.street_id, func.count(Application.id),
                        func.sum(case((Application.status == "approved", 1), else_=0)),
                        func.sum(case((Application.status == "rejected", 1), else_=0)),
                    ).where(*submitted).group_by(Application.street_id)
                )
            }  # fmt: skip
            waiting = await _grouped(session, select(Application.street_id,
                                                     func.count(Application.id))
                                     .where(Application.status == "submitted"))  # fmt: skip
            done = done_per_member()
            every = done.c.card * done.c.benefit * done.c.activity == 1
            all_four = await _grouped(session, select(Member.street_id, func.count(Member.id))
                                      .join(done, done.c.member_id == Member.id)
                                      .where(Member.status == "active", every))  # fmt: skip
            reviews = await _review_times_by_street(session, period)
            coverage = {
                street_id: Ratio(int(unionised or 0), int(total))
                for street_id, total, unionised in await session.execute(
                    select(Enterprise.street_id, func.count(Enterprise.id),
                           func.sum(case((Enterprise.has_union.is_(True), 1), else_=0)))
                    .where(Enterprise.provisional.is_(False), Enterprise.status == "active")
                    .group_by(Enterprise.street_id)
                )
            }  # fmt: skip
            rows = []
            for street in streets:
                total, approved, rejected = counts.get(street.id, (0, 0, 0))
                rows.append(StreetFigures(
                    street.id, street.code, street.name, active.get(street.id, 0),
                    new.get(street.id, 0), total, approved, rejected, waiting.get(street.id, 0),
                    reviews.get(street.id, ReviewTimes(0, None, None)),
                    street.review_days or self.review_days,
                    coverage.get(street.id, Ratio(0, 0)), all_four.get(street.id, 0),
                ))  # fmt: skip
            return rows

    async def by_point(self, street_id: int | None, period: Period) -> list[PointFigures]:
        """Which posters bring people in: applications in the period and active members,
        by the reception point they applied at (online and paper ones on a row of their
        own, named by the caller)."""
        async with self.db.read() as session:
            submitted = and_(Application.submitted_at >= period.since,
                             Application.submitted_at < period.until)  # fmt: skip
            query = (
                select(
                    Application.point_id, ReceptionPoint.name,
                    func.sum(case((submitted, 1), else_=0)),
                    func.sum(case((and_(submitted, Application.status == "approved"), 1),
                                  else_=0)),
                    func.count(Member.id),
                )
                .select_from(Application)
                .outerjoin(ReceptionPoint, ReceptionPoint.id == Application.point_id)
                .outerjoin(Member, (Member.application_id == Application.id)
                           & (Member.status == "active"))
                .group_by(Application.point_id, ReceptionPoint.name)
                .order_by(ReceptionPoint.name)
            )  # fmt: skip
            query = _in_street(query, Application.street_id, street_id)
            return [
                PointFigures(point, name or "", int(apps or 0), int(approved or 0), int(active))
                for point, name, apps, approved, active in await session.execute(query)
            ]

    async def monthly_new_members(
        self, street_id: int | None, months: int = 12, today: date | None = None
    ) -> list[MonthCount]:
        """New members per month and street for the last `months` months (this one
        included), Beijing time; months without members are left out."""
        today = today or timefmt.local(utcnow()).date()
        first = today.replace(day=1)
        for _ in range(months - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        since = datetime.combine(first, time(), timefmt.BEIJING).astimezone(UTC)
        async with self.db.read() as session:
            month = _local_month(session, Member.joined_at)
            query = (
                select(month, Street.name, func.count(Member.id))
                .join(Street, Street.id == Member.street_id)
                .where(Member.joined_at >= since)
                .group_by(month, Street.name)
                .order_by(month, Street.name)
            )
            query = _in_street(query, Member.street_id, street_id)
            return [MonthCount(m, s, int(n)) for m, s, n in await session.execute(query)]

    async def next_to_found(self, street_id: int | None, limit: int = 10) -> list[Progress]:
        """Enterprises without a union ranked by individual members ("who is next"), with
        the days since their first member joined."""
        async with self.db.read() as session:
            # Asked per enterprise shown (a handful), not grouped over every member.
            first = (
                select(func.min(Member.joined_at))
                .where(Member.enterprise_id == Enterprise.id, Member.status == "active")
                .scalar_subquery()
            )
            query = (
                select(Enterprise.id, Enterprise.name, Street.name, Enterprise.member_count,
                       first)
                .outerjoin(Street, Street.id == Enterprise.street_id)
                .where(Enterprise.has_union.is_(False), Enterprise.status == "active",
                       Enterprise.member_count > 0)
                .order_by(Enterprise.member_count.desc(), Enterprise.id)
                .limit(limit)
            )  # fmt: skip
            query = _in_street(query, Enterprise.street_id, street_id)
            now = utcnow()
            return [
                Progress(ident, name, street, int(count), self.threshold, joined,
                         (now - joined).days if joined else None)
                for ident, name, street, count, joined in await session.execute(query)
            ]  # fmt: skip

    async def gaps(self, street_id: int | None, limit: int = 20) -> list[Gap]:
        """Registry enterprises with the most employees that have no union and no member
        yet: where the federation's work would reach most workers."""
        async with self.db.read() as session:
            query = (
                select(Enterprise.id, Enterprise.name, Street.name, Enterprise.employees)
                .outerjoin(Street, Street.id == Enterprise.street_id)
                .where(Enterprise.provisional.is_(False), Enterprise.status == "active",
                       Enterprise.has_union.is_(False), Enterprise.member_count == 0,
                       Enterprise.employees.is_not(None))
                .order_by(Enterprise.employees.desc(), Enterprise.id)
                .limit(limit)
            )  # fmt: skip
            query = _in_street(query, Enterprise.street_id, street_id)
            return [Gap(*row) for row in await session.execute(query)]

    async def cases_by_stage(self, street_id: int | None) -> list[StageFigures]:
        """Founding cases per stage, with how many are paused and the median days in the
        stage so far (founded ones: days since founding)."""
        async with self.db.read() as session:
            rows = await session.execute(
                _cases(select(FoundingCase.stage, FoundingCase.paused,
                              FoundingCase.stage_since), street_id)
            )  # fmt: skip
            now = utcnow()
            by_stage: dict[str, list[tuple[bool, float]]] = {stage: [] for stage in STAGES}
            for stage, paused, since in rows:
                days = (now - since).total_seconds() / 86400
                by_stage.setdefault(stage, []).append((bool(paused), days))
            return [
                StageFigures(stage, len(cases), sum(1 for p, _ in cases if p),
                             statistics.median(d for _, d in cases) if cases else None)
                for stage, cases in by_stage.items()
            ]  # fmt: skip


# ---------------------------------------------------------------------------- helpers


def _near(threshold: int) -> int:
    return max(1, int(threshold * NEAR + 0.999))  # 80 % of 25 is 20


def _in_street(query: Select[Any], column: Any, street_id: int | None) -> Select[Any]:
    return query if street_id is None else query.where(column == street_id)


def _cases(query: Select[Any], street_id: int | None) -> Select[Any]:
    if street_id is None:
        return query
    return query.join(Enterprise, Enterprise.id == FoundingCase.enterprise_id).where(
        Enterprise.street_id == street_id
    )


async def _grouped(session: AsyncSession, query: Select[Any]) -> dict[int, int]:
    column = query.selected_columns[0]
    return {key: int(n) for key, n in await session.execute(query.group_by(column))}


async def _member_counts(session: AsyncSession, street_id: int | None) -> tuple[int, ...]:
    active = Member.status == "active"
    moved = (UnionOrg.kind == "enterprise") & active
    row = (
        await session.execute(
            _in_street(
                select(
                    func.sum(case((active, 1), else_=0)),
                    func.sum(case((active & Member.kept_since.is_not(None), 1), else_=0)),
                    func.sum(case((moved, 1), else_=0)),
                    func.sum(case((~active, 1), else_=0)),
                ).join(UnionOrg, UnionOrg.id == Member.union_org_id),
                Member.street_id, street_id,
            )
        )
    ).one()  # fmt: skip
    return tuple(int(n or 0) for n in row)


def _decided(session: AsyncSession, period: Period) -> Select[Any]:
    """(street, hours from submission to decision) of the applications decided in the
    period."""
    hours = _hours_between(session, Application.submitted_at, Application.decided_at)
    return select(Application.street_id, hours).where(
        Application.decided_at >= period.since,
        Application.decided_at < period.until,
        Application.status.in_(("approved", "rejected")),
    )


async def _review_times(
    session: AsyncSession, street_id: int | None, period: Period
) -> ReviewTimes:
    query = _in_street(_decided(session, period), Application.street_id, street_id)
    return _times([h for _, h in await session.execute(query)])


async def _review_times_by_street(session: AsyncSession, period: Period) -> dict[int, ReviewTimes]:
    hours: dict[int, list[float]] = {}
    for street_id, h in await session.execute(_decided(session, period)):
        hours.setdefault(street_id, []).append(h)
    return {street_id: _times(values) for street_id, values in hours.items()}


def _times(hours: list[float | None]) -> ReviewTimes:
    values = sorted(float(h) for h in hours if h is not None)
    if not values:
        return ReviewTimes(0, None, None)
    return ReviewTimes(len(values), statistics.median(values), _percentile(values, 0.9))


def _percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(values) * share // 1))  # ceil
    return values[int(rank) - 1]


async def _coverage(session: AsyncSession, street_id: int | None) -> Ratio:
    registry = (Enterprise.provisional.is_(False), Enterprise.status == "active")
    row = (
        await session.execute(
            _in_street(
                select(func.count(Enterprise.id),
                       func.sum(case((Enterprise.has_union.is_(True), 1), else_=0)))
                .where(*registry),
                Enterprise.street_id, street_id,
            )
        )
    ).one()  # fmt: skip
    return Ratio(int(row[1] or 0), int(row[0] or 0))


async def _member_share(session: AsyncSession, street_id: int | None) -> Ratio:
    """Individual members ÷ employees, over the registry enterprises that have an employee
    count and at least one member. An enterprise's member count is its active members not
    keeping their membership (a member out of work is nobody's employee), kept with every
    approval, move and merge."""
    row = (
        await session.execute(
            _in_street(
                select(func.sum(Enterprise.member_count), func.sum(Enterprise.employees))
                .where(Enterprise.provisional.is_(False), Enterprise.status == "active",
                       Enterprise.employees > 0, Enterprise.member_count > 0),
                Enterprise.street_id, street_id,
            )
        )
    ).one()  # fmt: skip
    return Ratio(int(row[0] or 0), int(row[1] or 0))


async def _four_ones(session: AsyncSession, street_id: int | None) -> tuple[int, ...]:
    """All four, then the service card, the benefit and the activity."""
    done = done_per_member(street_id)
    card, benefit, activity, all_four = done_columns(done)
    row = (
        await session.execute(
            _in_street(
                select(all_four, card, benefit, activity)
                .select_from(done)
                .join(Member, (Member.id == done.c.member_id) & (Member.status == "active")),
                Member.street_id, street_id,
            )
        )
    ).one()  # fmt: skip
    return tuple(int(n or 0) for n in row)


def _hours_between(session: AsyncSession, start: Any, end: Any) -> Any:
    if session.bind.dialect.name == "sqlite":
        # Whole seconds: julianday's floating point would make 5 hours 4.99999999.
        seconds = func.strftime("%s", end) - func.strftime("%s", start)
        return seconds / 3600.0
    return func.extract("epoch", end - start) / 3600.0


def _local_month(session: AsyncSession, column: Any) -> Any:
    """YYYY-MM of a UTC moment in Beijing time (UTC+8, no daylight saving)."""
    if session.bind.dialect.name == "sqlite":
        return func.strftime("%Y-%m", column, "+8 hours")
    return func.to_char(func.timezone("UTC", column) + timedelta(hours=8), "YYYY-MM")
