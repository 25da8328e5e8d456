"""The federation's figures: the chat's /stats, the charts, the dashboard and the exports
all read them here. docs/figures.md defines each one in plain words.

A scope is a street (its id) or the whole district (None); a period is a range of Beijing
dates, both ends included. The whole months of a period are read from the tallies that
database triggers keep (models/tally.py, proved equal to the rows by
bot/services/tallies.py), the days outside them from the rows, so that a city's year costs
a few thousand tally rows instead of a million application rows (bench/bench_stats.py).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timefmt
from bot.db import Database
from bot.services.four_ones import completion_conditions
from models import (
    Application,
    Enterprise,
    FoundingCase,
    Member,
    ReceptionPoint,
    Street,
    TallyApplication,
    TallyJoined,
    TallyMember,
    TallyRegistry,
    TallyReview,
)
from models.base import utcnow
from models.tally_triggers import whole_hours

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
        return _moment(self.start)

    @property
    def until(self) -> datetime:
        """The first moment (UTC) after the last day in Beijing."""
        return _moment(self.end + timedelta(days=1))

    def split(self) -> Split:
        """The whole Beijing months in the period, and the days outside them."""
        day_after = self.end + timedelta(days=1)
        first = self.start if self.start.day == 1 else _next_month(self.start)
        after = day_after.replace(day=1)  # the day after the last whole month
        if first >= after:
            return Split(None, ((self.since, self.until),))
        edges = []
        if self.start < first:
            edges.append((self.since, _moment(first)))
        if after < day_after:
            edges.append((_moment(after), self.until))
        last = after - timedelta(days=1)
        return Split((f"{first:%Y-%m}", f"{last:%Y-%m}"), tuple(edges))


@dataclass(frozen=True)
class Split:
    months: tuple[str, str] | None  # the first and the last whole month, YYYY-MM
    edges: tuple[tuple[datetime, datetime], ...]  # UTC [since, until) outside them


def _moment(day: date) -> datetime:
    """The first moment (UTC) of a Beijing day."""
    return datetime.combine(day, time(), timefmt.BEIJING).astimezone(UTC)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


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


NO_REVIEW = ReviewTimes(0, None, None)


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
        split = period.split()
        async with self.db.read() as session:
            members = (await _member_counts(session, street_id)).get(street_id, (0, 0, 0, 0))
            new = await _joined(session, split, street_id)
            applications: Counter[str] = Counter()
            for (_, _, status), n in (await _applications(session, split, street_id)).items():
                applications[status] += n
            review = (await _review_times(session, split, street_id)).get(street_id, NO_REVIEW)
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
            four = (await _four_ones(session, street_id)).get(street_id, (0, 0, 0, 0))
            name = "全区" if street_id is None else (await session.get_one(Street, street_id)).name
        return Overview(
            name, period, *members, sum(new.values()), dict(applications), review,
            coverage, share, int(near or 0), int(cases or 0), *four,
        )  # fmt: skip

    # ------------------------------------------------------------------------ rows

    async def by_street(self, period: Period) -> list[StreetFigures]:
        """A row per street, every street (one without members shows zeros)."""
        split = period.split()
        async with self.db.read() as session:
            streets = list(await session.scalars(select(Street).order_by(Street.code)))
            members = await _member_counts(session, None, by_street=True)
            new = await _joined(session, split, None)
            counts: dict[int, Counter[str]] = {}
            for (street_id, _, status), n in (await _applications(session, split)).items():
                counts.setdefault(street_id, Counter())[status] += n
            waiting = await _waiting(session)
            four = await _four_ones(session, None, by_street=True)
            reviews = await _review_times(session, split, None, by_street=True)
            coverage = await _coverages(session, None, by_street=True)
            rows = []
            for street in streets:
                applied = counts.get(street.id, Counter())
                rows.append(StreetFigures(
                    street.id, street.code, street.name,
                    members.get(street.id, (0,))[0], new.get(street.id, 0),
                    sum(applied.values()), applied["approved"], applied["rejected"],
                    waiting.get(street.id, 0), reviews.get(street.id, NO_REVIEW),
                    street.review_days or self.review_days,
                    coverage.get(street.id, Ratio(0, 0)), four.get(street.id, (0,))[0],
                ))  # fmt: skip
            return rows

    async def by_point(self, street_id: int | None, period: Period) -> list[PointFigures]:
        """Which posters bring people in: applications in the period and active members,
        by the reception point they applied at (online and paper ones on a row of their
        own, named by the caller). Points nobody ever applied at are left out."""
        async with self.db.read() as session:
            applied = await _applications(session, period.split(), street_id)
            ever = _in_street(
                select(TallyApplication.point_id).where(TallyApplication.n > 0).distinct(),
                TallyApplication.street_id,
                street_id,
            )
            active = TallyMember.status == "active"
            members = dict(
                (point, int(n)) for point, n in await session.execute(_in_street(
                    select(TallyMember.point_id,
                           func.sum(case((active, TallyMember.n), else_=0)))
                    .group_by(TallyMember.point_id),
                    TallyMember.street_id, street_id,
                ))
            )  # fmt: skip
            points = set(await session.scalars(ever))
            names = dict(
                (point, name) for point, name in await session.execute(
                    select(ReceptionPoint.id, ReceptionPoint.name)
                    .where(ReceptionPoint.id.in_(points))
                )
            )  # fmt: skip
        total: Counter[int] = Counter()
        approved: Counter[int] = Counter()
        for (_, point, status), n in applied.items():
            total[point] += n
            approved[point] += n if status == "approved" else 0
        rows = [
            PointFigures(point or None, names.get(point, ""), total[point], approved[point],
                         members.get(point, 0))
            for point in points
        ]  # fmt: skip
        return sorted(rows, key=lambda row: (row.point_id is not None, row.name))

    async def monthly_new_members(
        self, street_id: int | None, months: int = 12, today: date | None = None
    ) -> list[MonthCount]:
        """New members per month and street for the last `months` months (this one
        included), Beijing time; months without members are left out."""
        today = today or timefmt.local(utcnow()).date()
        first = today.replace(day=1)
        for _ in range(months - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        async with self.db.read() as session:
            query = (
                select(TallyJoined.month, Street.name, func.sum(TallyJoined.n))
                .join(Street, Street.id == TallyJoined.street_id)
                .where(TallyJoined.month >= f"{first:%Y-%m}", TallyJoined.n > 0)
                .group_by(TallyJoined.month, Street.name)
                .order_by(TallyJoined.month, Street.name)
            )
            query = _in_street(query, TallyJoined.street_id, street_id)
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


def _in_period(
    split: Split,
    from_tally: Callable[[tuple[str, str]], Select[Any]],
    from_rows: Callable[[datetime, datetime], Select[Any]],
    street_id: int | None,
) -> list[Select[Any]]:
    """The selects that cover a period: its whole months from a tally, the days outside
    them from the rows; each scoped to the street (their first column)."""
    parts = [from_tally(split.months)] if split.months else []
    parts += [from_rows(since, until) for since, until in split.edges]
    return [_in_street(part, part.selected_columns[0], street_id) for part in parts]


async def _counted(session: AsyncSession, parts: list[Select[Any]]) -> Counter[tuple[Any, ...]]:
    """The counts of several selects of (key columns..., count), added up by key."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for part in parts:
        for *key, n in await session.execute(part):
            counts[tuple(key)] += int(n or 0)
    return counts


async def _applications(
    session: AsyncSession, split: Split, street_id: int | None = None
) -> Counter[tuple[Any, ...]]:
    """Applications submitted in the period by (street, point (0: none), status now)."""
    t, a = TallyApplication, Application
    point = func.coalesce(a.point_id, 0)
    return await _counted(session, _in_period(
        split,
        lambda months: select(t.street_id, t.point_id, t.status, func.sum(t.n))
        .where(t.month.between(*months)).group_by(t.street_id, t.point_id, t.status),
        lambda since, until: select(a.street_id, point, a.status, func.count())
        .where(a.submitted_at >= since, a.submitted_at < until)
        .group_by(a.street_id, point, a.status),
        street_id,
    ))  # fmt: skip


async def _waiting(session: AsyncSession) -> dict[int, int]:
    """Applications waiting for a decision now, by street."""
    t = TallyApplication
    query = select(t.street_id, func.sum(t.n)).where(t.status == "submitted")
    return {key: int(n) for key, n in await session.execute(query.group_by(t.street_id))}


async def _joined(session: AsyncSession, split: Split, street_id: int | None) -> Counter[int]:
    """Members who joined in the period (whatever their status now), by street."""
    t = TallyJoined
    counts = await _counted(session, _in_period(
        split,
        lambda months: select(t.street_id, func.sum(t.n))
        .where(t.month.between(*months)).group_by(t.street_id),
        lambda since, until: select(Member.street_id, func.count())
        .where(Member.joined_at >= since, Member.joined_at < until).group_by(Member.street_id),
        street_id,
    ))  # fmt: skip
    return Counter({street: n for (street,), n in counts.items()})


async def _member_counts(
    session: AsyncSession, street_id: int | None, by_street: bool = False
) -> dict[int | None, tuple[int, int, int, int]]:
    """Active, kept (保留), transferred to an enterprise union (and active), ended: for
    the scope under the key `street_id`, or `by_street`."""
    t = TallyMember
    active = t.status == "active"
    return await _tally_sums(session, street_id, by_street, (
        active, active & (t.kept == 1), active & (t.transferred == 1), ~active,
    ))  # fmt: skip


async def _four_ones(
    session: AsyncSession, street_id: int | None, by_street: bool = False
) -> dict[int | None, tuple[int, int, int, int]]:
    """Active members with all four, then the service card, the benefit, the activity."""
    _active, card, benefit, activity, all_four = completion_conditions()
    return await _tally_sums(session, street_id, by_street, (all_four, card, benefit, activity))


async def _tally_sums(
    session: AsyncSession, street_id: int | None, by_street: bool, conditions: tuple[Any, ...]
) -> dict[int | None, tuple[int, int, int, int]]:
    t = TallyMember
    sums = [func.sum(case((condition, t.n), else_=0)) for condition in conditions]
    if by_street:
        query = select(t.street_id, *sums).group_by(t.street_id)
    else:
        query = _in_street(select(*sums), t.street_id, street_id)
    rows = {}
    for row in await session.execute(query):
        key, values = (row[0], row[1:]) if by_street else (street_id, row)
        rows[key] = tuple(int(n or 0) for n in values)
    return rows  # type: ignore[return-value]


async def _review_times(
    session: AsyncSession, split: Split, street_id: int | None, by_street: bool = False
) -> dict[int | None, ReviewTimes]:
    """The applications decided (approved or rejected now) in the period: how many, and
    the median (of the middle two, for an even count) and nearest-rank 90th percentile of
    the whole hours they took; for the scope under the key `street_id`, or `by_street`.
    The percentiles are found in SQL over a histogram of hours (a running sum per street),
    so that a city's year sends back a row per street, not one per hour and street."""
    hours = literal_column(whole_hours("submitted_at", "decided_at")(
        session.bind.dialect.name, "application"))  # fmt: skip
    t, a = TallyReview, Application
    parts = _in_period(
        split,
        lambda months: select(t.street_id, t.hours, t.n.label("n"))
        .where(t.month.between(*months)),
        lambda since, until: select(a.street_id, hours.label("hours"), func.count().label("n"))
        .where(a.decided_at >= since, a.decided_at < until,
               a.status.in_(("approved", "rejected")))
        .group_by(a.street_id, hours),
        street_id,
    )  # fmt: skip
    each = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("each")
    street, hour, n = each.c
    # The whole scope is one "street" unless by street.
    key, groups = (street, (street, hour)) if by_street else (literal_column("0"), (hour,))
    per_hour = (
        select(key.label("street"), hour, func.sum(n).label("n"))
        .group_by(*groups)
        .having(func.sum(n) > 0)
        .subquery("per_hour")
    )
    running = select(
        per_hour.c.street, per_hour.c.hours,
        func.sum(per_hour.c.n).over(partition_by=per_hour.c.street,
                                    order_by=per_hour.c.hours).label("seen"),
        func.sum(per_hour.c.n).over(partition_by=per_hour.c.street).label("total"),
    ).subquery("running")  # fmt: skip
    seen, total = running.c.seen, running.c.total
    query = select(
        running.c.street,
        func.max(total),
        func.min(case((2 * seen >= total, running.c.hours))),  # the ceil(n/2)-th
        func.min(case((2 * seen > total, running.c.hours))),  # the (floor(n/2)+1)-th
        func.min(case((10 * seen >= 9 * total, running.c.hours))),  # the ceil(0.9 n)-th
    ).group_by(running.c.street)
    return {
        (key_ if by_street else street_id): ReviewTimes(int(decided), (low + high) / 2, float(p90))
        for key_, decided, low, high, p90 in await session.execute(query)
    }


async def _coverage(session: AsyncSession, street_id: int | None) -> Ratio:
    """建会率: active registry enterprises with a union ÷ active registry enterprises."""
    return (await _coverages(session, street_id)).get(street_id, Ratio(0, 0))


async def _coverages(
    session: AsyncSession, street_id: int | None, by_street: bool = False
) -> dict[int | None, Ratio]:
    t = TallyRegistry
    sums = (func.sum(case((t.has_union == 1, t.n), else_=0)), func.sum(t.n))
    if by_street:
        query = select(t.street_id, *sums).group_by(t.street_id)
    else:
        query = _in_street(select(literal_column("0"), *sums), t.street_id, street_id)
    return {
        (key if by_street else street_id): Ratio(int(unionised or 0), int(total or 0))
        for key, unionised, total in await session.execute(query)
    }


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
