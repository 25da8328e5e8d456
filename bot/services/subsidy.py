"""The activity subsidy (活动经费补贴): each street's yearly budget, and an append-only
ledger in integer fen (invariant 13). Booking a closed activity's cost splits it among the
members who attended, each share charged to the member's own street in the activity's
year; a street never spends more than its budget, however many bookings run at once. A
mistake is corrected by a refund or a reversing posting, never by editing one (the
database refuses UPDATE and DELETE on both ledger tables). The reports and the Excel
ledger are sums over the same entries, so they agree with each other (invariant 14)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, NamedTuple

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timefmt
from bot.db import Database, dialect_insert
from bot.money import decimal_yuan, yuan
from bot.services.admin import _street as street_by_ref
from bot.services.audit import Actor, record
from bot.services.errors import DomainError
from bot.services.roles import require_federation
from bot.xlsx import Sheet, workbook
from models import (
    Activity,
    ActivitySignup,
    Member,
    Street,
    SubsidyBudget,
    SubsidyEntry,
    SubsidyPosting,
)
from models.base import utcnow

BUDGETS = SubsidyBudget.__table__
ENTRIES = SubsidyEntry.__table__
KINDS = {"booking": "记账", "refund": "退款", "reversal": "冲正"}
DISTRICT = "全区"  # a district-wide activity (no street of its own)


class SubsidyRefused(DomainError):
    """`code`: unknown (no such activity), no_posting, not_closed (`status`), booked
    (`net_fen` booked already), no_attendance, overspent (`street`, `year`,
    `remaining_fen`, `needed_fen`), amount (not above 0), too_much (a refund above
    `net_fen`), note (a correction without a reason), reversed (`by`), reversal (a
    reversal reversed), order (reversing would leave the activity's net below 0),
    negative (a budget), spent (a budget below the `spent_fen` of its year), year."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "unknown": "no such activity",
        "no_posting": "no such posting",
        "not_closed": "the activity is {status}, not closed: its cost is booked once "
        "attendance is final",
        "booked": "the activity is booked already ({net}); refund or reverse it first",
        "no_attendance": "nobody checked in at the activity: there is nobody to split its "
        "cost among",
        "overspent": "{street}'s {year} budget has {remaining} left, and this needs {needed}",
        "amount": "the amount must be more than 0",
        "too_much": "a refund is at most what the activity has booked ({net})",
        "note": "a refund or a reversal needs a note saying why",
        "reversed": "the posting is reversed already",
        "reversal": "a reversal cannot be reversed; book the activity again instead",
        "order": "reversing it would leave the activity's booked amount below zero ({net} "
        "booked): reverse its refunds first",
        "negative": "a budget cannot be negative",
        "spent": "{street} has spent {spent} of its {year} budget already; the budget "
        "cannot be lower than that",
        "year": "not a plausible year",
    }

    def __init__(self, code: str, **extra: Any) -> None:
        shown = {k.removesuffix("_fen"): yuan(v) if k.endswith("_fen") else v
                 for k, v in extra.items()}  # fmt: skip
        try:
            message = self.MESSAGES.get(code, code).format(**shown)
        except KeyError:  # an extra left out: the message without it is still true
            message = code
        super().__init__(message)
        self.code, self.extra = code, extra


@dataclass(frozen=True)
class Share:
    """One member's part of a posting (negative in refunds and reversals of bookings)."""

    member_number: str
    street: str
    amount_fen: int


@dataclass(frozen=True)
class Posting:
    id: int
    activity_id: int
    kind: str  # booking, refund, reversal
    amount_fen: int
    reverses_id: int | None
    shares: tuple[Share, ...]

    @property
    def attendees(self) -> int:
        return len(self.shares)


@dataclass(frozen=True)
class StreetRow:
    year: int
    street: str
    budget_fen: int
    spent_fen: int
    remaining_fen: int
    activities: int  # activities with a booked amount that charged this street
    attendees: int  # person-times (人次) in those activities


@dataclass(frozen=True)
class ActivityRow:
    activity_id: int
    title: str
    street: str  # or 全区
    day: date
    attendees: int
    net_fen: int
    per_member_fen: int  # the base share: the first few members paid one fen more


@dataclass(frozen=True)
class MemberRow:
    member_number: str
    street: str
    activities: int  # activities with a booked amount the member attended
    total_fen: int


class _Charge(NamedTuple):
    member_id: int
    number: str
    street_id: int
    year: int
    amount_fen: int


def split(total_fen: int, count: int) -> list[int]:
    """`total_fen` in `count` shares that add up to it exactly: the first
    (total - per*count) shares get one fen more."""
    per, extra = divmod(total_fen, count)
    return [per + 1 if index < extra else per for index in range(count)]


class SubsidyService:
    """Budgets and postings are the federation's (or the command line's): checked inside
    the transaction that acts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------------ budgets

    async def set_budget(self, street_ref: str, year: int, amount_fen: int, actor: Actor) -> None:
        """Create or change a street's budget for a year; never below what it spent."""
        if amount_fen < 0:
            raise SubsidyRefused("negative")
        if not 2000 <= year <= 2100:
            raise SubsidyRefused("year")
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            street = await street_by_ref(session, street_ref)
            # Inserted, or left alone when it exists (two first settings at once: one
            # inserts, the other waits for it and then changes that row).
            created = await session.scalar(
                dialect_insert(session)(BUDGETS)
                .values(street_id=street.id, year=year, amount_fen=amount_fen, updated_at=utcnow())
                .on_conflict_do_nothing(index_elements=["street_id", "year"])
                .returning(BUDGETS.c.id)
            )
            before = None
            if created is None:
                # Locked like a booking locks it: a booking cannot slip in between the
                # spent sum below and the new amount.
                before = await session.scalar(
                    select(BUDGETS.c.amount_fen)
                    .where(BUDGETS.c.street_id == street.id, BUDGETS.c.year == year)
                    .with_for_update()
                )
            spent = await _spent(session, street.id, year)
            if amount_fen < spent:
                raise SubsidyRefused("spent", street=street.name, year=year, spent_fen=spent)
            if before == amount_fen:
                return  # nothing changes, nothing to audit
            if before is not None:
                await session.execute(
                    update(BUDGETS)
                    .where(BUDGETS.c.street_id == street.id, BUDGETS.c.year == year)
                    .values(amount_fen=amount_fen, updated_at=utcnow())
                )
            await record(
                session, actor, "subsidy.budget_set", "street", street.code,
                before=None if before is None else {"year": year, "amount_fen": before},
                after={"year": year, "amount_fen": amount_fen},
            )  # fmt: skip

    # ------------------------------------------------------------------------ postings

    async def book(self, activity_id: int, cost_fen: int, actor: Actor, note: str = "") -> Posting:
        """Book a closed activity's cost, split among who attended; refused as a whole
        when any street's share exceeds what is left of its budget."""
        if cost_fen <= 0:
            raise SubsidyRefused("amount")
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            activity = await _locked_activity(session, activity_id)
            if activity.status != "closed":
                raise SubsidyRefused("not_closed", status=activity.status)
            net = await _net(session, activity_id)
            if net != 0:
                raise SubsidyRefused("booked", net_fen=net)
            year = timefmt.local(activity.starts_at).year
            charges = await _split_over_attendees(session, activity_id, cost_fen, year)
            await _check_budgets(session, year, charges)
            posting = await _post(session, activity_id, "booking", charges, actor, note)
            await record(
                session, actor, "subsidy.booked", "activity", activity_id,
                after={"posting": posting.id, "amount_fen": cost_fen,
                       "attendees": posting.attendees, "year": year},
            )  # fmt: skip
            return posting

    async def refund(self, activity_id: int, amount_fen: int, actor: Actor, note: str) -> Posting:
        """Money came back (a cheaper bill, a supplier's refund): a negative posting split
        over the same members by the same rule, never more than the activity's net."""
        note = note.strip()
        if amount_fen <= 0:
            raise SubsidyRefused("amount")
        if not note:
            raise SubsidyRefused("note")
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            activity = await _locked_activity(session, activity_id)
            net = await _net(session, activity_id)
            if amount_fen > net:
                raise SubsidyRefused("too_much", net_fen=net)
            year = timefmt.local(activity.starts_at).year
            # Credited to the street each member's booking charged, even if they moved since.
            charged = dict(
                (
                    await session.execute(
                        select(ENTRIES.c.member_id, ENTRIES.c.street_id)
                        .join(SubsidyPosting, SubsidyPosting.id == ENTRIES.c.posting_id)
                        .where(
                            SubsidyPosting.activity_id == activity_id,
                            SubsidyPosting.kind == "booking",
                        )
                        .order_by(ENTRIES.c.id)  # the latest booking wins
                    )
                ).all()
            )
            shares = await _split_over_attendees(
                session, activity_id, amount_fen, year, streets=charged
            )
            charges = [c._replace(amount_fen=-c.amount_fen) for c in shares]
            posting = await _post(session, activity_id, "refund", charges, actor, note)
            await record(
                session, actor, "subsidy.refunded", "activity", activity_id,
                after={"posting": posting.id, "amount_fen": -amount_fen, "note": note},
            )  # fmt: skip
            return posting

    async def reverse(self, posting_id: int, actor: Actor, note: str) -> Posting:
        """Cancel a booking or a refund by a posting that negates each of its entries
        exactly; at most once (the unique reverses_id settles two at once)."""
        note = note.strip()
        if not note:
            raise SubsidyRefused("note")
        try:
            async with self.db.transaction() as session:
                await require_federation(session, actor)
                original = await session.get(SubsidyPosting, posting_id)
                if original is None:
                    raise SubsidyRefused("no_posting")
                await _locked_activity(session, original.activity_id)
                if original.kind == "reversal":
                    raise SubsidyRefused("reversal")
                by = await session.scalar(
                    select(SubsidyPosting.id).where(SubsidyPosting.reverses_id == posting_id)
                )
                if by is not None:
                    raise SubsidyRefused("reversed", by=by)
                net = await _net(session, original.activity_id)
                if net - original.amount_fen < 0:
                    raise SubsidyRefused("order", net_fen=net)
                entries = await session.execute(
                    select(ENTRIES.c.member_id, Member.number, ENTRIES.c.street_id,
                           ENTRIES.c.year, ENTRIES.c.amount_fen)
                    .join(Member, Member.id == ENTRIES.c.member_id)
                    .where(ENTRIES.c.posting_id == posting_id)
                    .order_by(ENTRIES.c.id)
                )  # fmt: skip
                charges = [_Charge(m, n, s, y, -amount) for m, n, s, y, amount in entries]
                # Reversing a refund spends again: the budget must still allow it.
                for year in sorted({c.year for c in charges}):
                    await _check_budgets(session, year, [c for c in charges if c.year == year])
                posting = await _post(session, original.activity_id, "reversal", charges, actor,
                                      note, reverses_id=posting_id)  # fmt: skip
                await record(
                    session, actor, "subsidy.reversed", "subsidy_posting", posting_id,
                    after={"reversal": posting.id, "amount_fen": posting.amount_fen,
                           "note": note},
                )  # fmt: skip
                return posting
        except IntegrityError:  # reversed by someone else at the same moment
            raise SubsidyRefused("reversed") from None

    # ------------------------------------------------------------------------ reports

    async def by_street(self, year: int) -> list[StreetRow]:
        async with self.db.read() as session:
            return await _street_rows(session, year)

    async def by_activity(self, year: int | None = None) -> list[ActivityRow]:
        async with self.db.read() as session:
            return await _activity_rows(session, year)

    async def by_member(self, year: int) -> list[MemberRow]:
        async with self.db.read() as session:
            totals = await _totals(session, year)
            booked = _booked_activities(totals)
            per_member: dict[tuple[int, int], list[Any]] = defaultdict(lambda: [set(), 0])
            for street_id, _, activity_id, member_id, fen in totals:
                row = per_member[(member_id, street_id)]
                if activity_id in booked:
                    row[0].add(activity_id)
                row[1] += fen
            numbers = await _names(session, Member.number, {m for m, _ in per_member})
            streets = await _names(session, Street.name, {s for _, s in per_member})
            rows = [MemberRow(numbers[m], streets[s], len(acts), total)
                    for (m, s), (acts, total) in per_member.items()]  # fmt: skip
            return sorted(rows, key=lambda r: (r.member_number, r.street))

    async def ledger_xlsx(self, year: int | None = None) -> bytes:
        """The ledger for Excel: every entry (明细), and the sums by street (按街道) and by
        activity (按活动), read in one snapshot. Member numbers only, never a person's
        id or mobile number."""
        async with self.db.read() as session:
            query = (
                select(SubsidyPosting.id, SubsidyPosting.kind, SubsidyPosting.created_at,
                       SubsidyPosting.activity_id, Activity.title, Street.name, Member.number,
                       ENTRIES.c.amount_fen, SubsidyPosting.created_by_name, SubsidyPosting.note)
                .select_from(ENTRIES)
                .join(SubsidyPosting, SubsidyPosting.id == ENTRIES.c.posting_id)
                .join(Activity, Activity.id == SubsidyPosting.activity_id)
                .join(Street, Street.id == ENTRIES.c.street_id)
                .join(Member, Member.id == ENTRIES.c.member_id)
                .order_by(SubsidyPosting.id, ENTRIES.c.id)
            )  # fmt: skip
            if year is not None:
                query = query.where(ENTRIES.c.year == year)
            details = [
                (pid, KINDS.get(kind, kind), timefmt.local(at).date(), aid, title, street,
                 number, decimal_yuan(fen), by, note)
                for pid, kind, at, aid, title, street, number, fen, by, note
                in await session.execute(query)
            ]  # fmt: skip
            years = [year] if year is not None else await _years(session)
            streets = [row for y in years for row in await _street_rows(session, y)]
            activities = await _activity_rows(session, year)
        return await asyncio.to_thread(workbook, [
            Sheet("明细", ("记账编号", "类型", "日期", "活动编号", "活动", "街道", "会员编号",
                         "金额（元）", "经办人", "备注"), details),
            Sheet("按街道", ("年度", "街道", "预算（元）", "已用（元）", "余额（元）", "活动数",
                          "参加人次"),
                  [(r.year, r.street, decimal_yuan(r.budget_fen), decimal_yuan(r.spent_fen),
                    decimal_yuan(r.remaining_fen), r.activities, r.attendees) for r in streets]),
            Sheet("按活动", ("活动编号", "活动", "街道", "日期", "参加人数", "净记账（元）",
                          "人均（元）"),
                  [(r.activity_id, r.title, r.street, r.day, r.attendees,
                    decimal_yuan(r.net_fen), decimal_yuan(r.per_member_fen))
                   for r in activities]),
        ])  # fmt: skip


# ---------------------------------------------------------------------------- postings


async def _locked_activity(session: AsyncSession, activity_id: int) -> Activity:
    """The activity, its row locked on PostgreSQL: every posting of one activity reads
    its net amount and then changes it, so they take turns (SQLite's writers do anyway)."""
    activity = await session.scalar(
        select(Activity).where(Activity.id == activity_id).with_for_update()
    )
    if activity is None:
        raise SubsidyRefused("unknown")
    return activity


async def _net(session: AsyncSession, activity_id: int) -> int:
    """What the activity has booked, less its refunds and reversals."""
    net = await session.scalar(
        select(func.coalesce(func.sum(SubsidyPosting.amount_fen), 0)).where(
            SubsidyPosting.activity_id == activity_id
        )
    )
    return int(net or 0)


async def _spent(session: AsyncSession, street_id: int, year: int) -> int:
    spent = await session.scalar(
        select(func.coalesce(func.sum(ENTRIES.c.amount_fen), 0)).where(
            ENTRIES.c.street_id == street_id, ENTRIES.c.year == year
        )
    )
    return int(spent or 0)


async def _split_over_attendees(
    session: AsyncSession, activity_id: int, total_fen: int, year: int,
    *, streets: dict[int, int] | None = None,
) -> list[_Charge]:  # fmt: skip
    """`total_fen` split among who checked in, in member-number order (so the fen left
    over go to the same members every time); each charged to the member's street
    unless `streets` says otherwise."""
    attendees = list(
        await session.execute(
            select(Member.id, Member.number, Member.street_id)
            .join(ActivitySignup, ActivitySignup.member_id == Member.id)
            .where(ActivitySignup.activity_id == activity_id,
                   ActivitySignup.attended_at.is_not(None))
            .order_by(Member.number)
        )
    )  # fmt: skip
    if not attendees:
        raise SubsidyRefused("no_attendance")
    chosen = streets or {}
    return [
        _Charge(member_id, number, chosen.get(member_id, street_id), year, share)
        for (member_id, number, street_id), share in zip(
            attendees, split(total_fen, len(attendees)), strict=True
        )
    ]


async def _check_budgets(session: AsyncSession, year: int, charges: list[_Charge]) -> None:
    """Refuse unless every street's part fits in what is left of its budget (no budget
    row: a budget of 0). The budget rows are locked in street order before the spent sum
    is read: a second posting on the same street waits here until this one commits and
    then sums its entries too (each statement sees what committed before it); the fixed
    order means two postings never wait for each other."""
    needed: dict[int, int] = defaultdict(int)
    for charge in charges:
        needed[charge.street_id] += charge.amount_fen
    streets = sorted(street for street, fen in needed.items() if fen > 0)
    if not streets:
        return  # giving money back never overspends
    budgets = dict(
        (
            await session.execute(
                select(BUDGETS.c.street_id, BUDGETS.c.amount_fen)
                .where(BUDGETS.c.street_id.in_(streets), BUDGETS.c.year == year)
                .order_by(BUDGETS.c.street_id)
                .with_for_update()
            )
        ).all()
    )
    spent = dict(
        (
            await session.execute(
                select(ENTRIES.c.street_id, func.sum(ENTRIES.c.amount_fen))
                .where(ENTRIES.c.street_id.in_(streets), ENTRIES.c.year == year)
                .group_by(ENTRIES.c.street_id)
            )
        ).all()
    )
    for street_id in streets:
        remaining = budgets.get(street_id, 0) - int(spent.get(street_id) or 0)
        if needed[street_id] > remaining:
            name = await session.scalar(select(Street.name).where(Street.id == street_id))
            raise SubsidyRefused("overspent", street=name, year=year,
                                 remaining_fen=remaining, needed_fen=needed[street_id])  # fmt: skip


async def _post(
    session: AsyncSession, activity_id: int, kind: str, charges: list[_Charge], actor: Actor,
    note: str, *, reverses_id: int | None = None,
) -> Posting:  # fmt: skip
    posting = SubsidyPosting(
        activity_id=activity_id, kind=kind, reverses_id=reverses_id,
        amount_fen=sum(c.amount_fen for c in charges), attendees=len(charges),
        note=note.strip(), created_at=utcnow(), created_by_user_id=actor.user_id,
        created_by_name=actor.name,
    )  # fmt: skip
    session.add(posting)
    await session.flush()
    await session.execute(
        insert(ENTRIES),
        [{"posting_id": posting.id, "street_id": c.street_id, "year": c.year,
          "member_id": c.member_id, "amount_fen": c.amount_fen} for c in charges],
    )  # fmt: skip
    streets = await _names(session, Street.name, {c.street_id for c in charges})
    shares = tuple(Share(c.number, streets[c.street_id], c.amount_fen) for c in charges)
    return Posting(posting.id, activity_id, kind, posting.amount_fen, reverses_id, shares)


# ---------------------------------------------------------------------------- reports


async def _totals(session: AsyncSession, year: int | None) -> list[tuple[int, int, int, int, int]]:
    """Every figure comes from these sums of entries: (street id, year, activity id,
    member id, fen)."""
    query = (
        select(ENTRIES.c.street_id, ENTRIES.c.year, SubsidyPosting.activity_id,
               ENTRIES.c.member_id, func.sum(ENTRIES.c.amount_fen))
        .join(SubsidyPosting, SubsidyPosting.id == ENTRIES.c.posting_id)
        .group_by(ENTRIES.c.street_id, ENTRIES.c.year, SubsidyPosting.activity_id,
                  ENTRIES.c.member_id)
    )  # fmt: skip
    if year is not None:
        query = query.where(ENTRIES.c.year == year)
    return [(s, y, a, m, int(fen)) for s, y, a, m, fen in await session.execute(query)]


def _booked_activities(totals: list[tuple[int, int, int, int, int]]) -> set[int]:
    """Activities whose booking stands (net above 0): a fully refunded or reversed one
    counts for nobody."""
    net: dict[int, int] = defaultdict(int)
    for _, _, activity_id, _, fen in totals:
        net[activity_id] += fen
    return {activity_id for activity_id, fen in net.items() if fen > 0}


async def _street_rows(session: AsyncSession, year: int) -> list[StreetRow]:
    totals = await _totals(session, year)
    booked = _booked_activities(totals)
    spent: dict[int, int] = defaultdict(int)
    attended: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for street_id, _, activity_id, member_id, fen in totals:
        spent[street_id] += fen
        if activity_id in booked:
            attended[street_id].add((activity_id, member_id))
    budgets = dict(
        (
            await session.execute(
                select(BUDGETS.c.street_id, BUDGETS.c.amount_fen).where(BUDGETS.c.year == year)
            )
        ).all()
    )
    rows = []
    for street_id, name in await session.execute(
        select(Street.id, Street.name).order_by(Street.code)
    ):
        budget, used = budgets.get(street_id, 0), spent.get(street_id, 0)
        pairs = attended.get(street_id, set())
        rows.append(StreetRow(year, name, budget, used, budget - used,
                              len({a for a, _ in pairs}), len(pairs)))  # fmt: skip
    return rows


async def _activity_rows(session: AsyncSession, year: int | None) -> list[ActivityRow]:
    totals = await _totals(session, year)
    net: dict[int, int] = defaultdict(int)
    members: dict[int, set[int]] = defaultdict(set)
    for _, _, activity_id, member_id, fen in totals:
        net[activity_id] += fen
        members[activity_id].add(member_id)
    if not net:
        return []
    activities = await session.execute(
        select(Activity.id, Activity.title, Street.name, Activity.starts_at)
        .outerjoin(Street, Street.id == Activity.street_id)
        .where(Activity.id.in_(list(net)))
        .order_by(Activity.starts_at, Activity.id)
    )
    rows = []
    for activity_id, title, street, starts_at in activities:
        count = len(members[activity_id])
        rows.append(ActivityRow(activity_id, title, street or DISTRICT,
                                timefmt.local(starts_at).date(), count, net[activity_id],
                                net[activity_id] // count))  # fmt: skip
    return rows


async def _years(session: AsyncSession) -> list[int]:
    """Every year with a budget or an entry."""
    budgeted = await session.scalars(select(BUDGETS.c.year).distinct())
    booked = await session.scalars(select(ENTRIES.c.year).distinct())
    return sorted(set(budgeted) | set(booked))


async def _names(session: AsyncSession, column: Any, ids: set[int]) -> dict[int, str]:
    """id → a name column (Street.name, Member.number) of the same table."""
    if not ids:
        return {}
    table = column.class_
    rows = await session.execute(select(table.id, column).where(table.id.in_(list(ids))))
    return dict(rows.all())
