"""The activity subsidy ledger on a real database (both engines): a cost split to the fen,
never more spent than a street's budget (bookings at once included), an append-only
ledger (the database refuses UPDATE and DELETE), reversals once, refunds bounded, audit,
reports and the Excel ledger that agree with the entries, and the command line."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.services.audit import Actor
from bot.services.errors import NotAllowed
from bot.services.subsidy import SubsidyRefused, SubsidyService, split
from models import (
    Activity,
    ActivitySignup,
    Application,
    AuditEntry,
    Member,
    SubsidyEntry,
    SubsidyPosting,
)
from tests.conftest import World, make_draft, make_resident_id
from tests.engines import Store

STAFF = Actor(501, "审核员501")
XJ_STAFF = Actor(601, "审核员601")
FEDERATION = Actor(901, "联合会")
CLI = Actor.cli("test")
# 2026-06-01 18:00 Beijing time.
STARTS = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
YEAR = 2026


@pytest.fixture
def subsidy(world: World) -> SubsidyService:
    return SubsidyService(world.db)


async def _members(world: World, count: int, *, first: int = 0, street: str = "DS") -> list[int]:
    """Approved members (their ids), of the street DS or XJ (新街口街道, added here)."""
    street_id, actor = world.street_id, STAFF
    if street == "XJ":
        async with world.db.read() as session:
            known = await session.scalar(text("SELECT id FROM street WHERE code = 'XJ'"))
        if known is None:
            await world.admin.add_street("XJ", "新街口街道", CLI)
            await world.admin.add_staff(601, "审核员601", "street", "XJ", CLI)
        street_id = next(s.id for s in await world.admin.streets() if s.code == "XJ")
        actor = XJ_STAFF
    ids = []
    for seq in range(first, first + count):
        draft = replace(make_draft(world, seq), street_id=street_id)
        submitted = await world.intake.submit(9000 + seq, draft)
        async with world.db.read() as session:
            app_id = await session.scalar(
                select(Application.id).where(Application.number == submitted.number)
            )
        await world.review.approve(app_id, actor, None)
        async with world.db.read() as session:
            ids.append(
                await session.scalar(select(Member.id).where(Member.application_id == app_id))
            )
    return ids


async def _activity(
    world: World, attended: list[int], *, street_id: int | None = -1, status: str = "closed",
    starts_at: datetime = STARTS, absent: list[int] | None = None,
) -> int:  # fmt: skip
    """A closed activity (written directly: the activity service is not this test's)
    where `attended` checked in and `absent` signed up but did not come."""
    async with world.db.transaction() as session:
        activity = Activity(
            street_id=world.street_id if street_id == -1 else street_id, title="读书会",
            place="德胜街道工会服务站", starts_at=starts_at, ends_at=starts_at + timedelta(hours=2),
            signup_deadline=starts_at - timedelta(days=1), capacity=100,
            confirmed=len(attended) + len(absent or []), status=status, created_by_name="联合会",
        )  # fmt: skip
        session.add(activity)
        await session.flush()
        for member_id in attended:
            session.add(ActivitySignup(activity_id=activity.id, member_id=member_id,
                                       status="confirmed", attended_at=starts_at))  # fmt: skip
        for member_id in absent or []:
            session.add(ActivitySignup(activity_id=activity.id, member_id=member_id,
                                       status="confirmed"))  # fmt: skip
        return activity.id


async def _entries(world: World, **where: Any) -> list[tuple[int, int, int, int, int]]:
    """(posting id, member id, street id, year, fen) of the ledger, in order."""
    query = select(
        SubsidyEntry.posting_id, SubsidyEntry.member_id, SubsidyEntry.street_id,
        SubsidyEntry.year, SubsidyEntry.amount_fen,
    ).order_by(SubsidyEntry.id)  # fmt: skip
    for name, value in where.items():
        query = query.where(getattr(SubsidyEntry, name) == value)
    async with world.db.read() as session:
        return [tuple(row) for row in await session.execute(query)]  # type: ignore[misc]


async def _counts(world: World) -> tuple[int, int, int]:
    async with world.db.read() as session:
        return (
            await session.scalar(select(func.count(SubsidyPosting.id))) or 0,
            await session.scalar(select(func.count(SubsidyEntry.id))) or 0,
            await session.scalar(select(func.count(AuditEntry.id))) or 0,
        )


async def _numbers(world: World, member_ids: list[int]) -> dict[int, str]:
    async with world.db.read() as session:
        rows = await session.execute(
            select(Member.id, Member.number).where(Member.id.in_(member_ids))
        )
        return dict(rows.all())


# --- the split ---------------------------------------------------------------------------------
def test_split_adds_up_to_the_fen() -> None:
    assert split(1000, 3) == [334, 333, 333]
    assert split(2, 5) == [1, 1, 0, 0, 0]
    for total in (1, 7, 99, 100, 12345, 10**9 + 7):
        for count in (1, 2, 3, 7, 13, 100):
            shares = split(total, count)
            assert sum(shares) == total and len(shares) == count
            assert max(shares) - min(shares) <= 1 and shares == sorted(shares, reverse=True)


async def test_a_booking_splits_the_cost_exactly_in_member_number_order(
    world: World, subsidy: SubsidyService
) -> None:
    members = await _members(world, 4)
    attended, absent = members[:3], members[3:]
    activity = await _activity(world, list(reversed(attended)), absent=absent)
    await subsidy.set_budget("DS", YEAR, 100_000, CLI)
    posting = await subsidy.book(activity, 100_01, FEDERATION, note="场地费")
    assert posting.kind == "booking" and posting.amount_fen == 100_01 and posting.attendees == 3
    numbers = await _numbers(world, attended)
    ordered = sorted(numbers.values())
    assert [s.member_number for s in posting.shares] == ordered
    assert [s.amount_fen for s in posting.shares] == [33_34, 33_34, 33_33]
    assert {s.street for s in posting.shares} == {"德胜街道"}
    entries = await _entries(world)
    assert sum(e[4] for e in entries) == 100_01
    assert {e[1] for e in entries} == set(attended)  # the absent member pays nothing
    assert {(e[2], e[3]) for e in entries} == {(world.street_id, YEAR)}
    by_number = {numbers[e[1]]: e[4] for e in entries}
    assert [by_number[n] for n in ordered] == [33_34, 33_34, 33_33]


async def test_the_year_is_the_activitys_year_in_beijing(
    world: World, subsidy: SubsidyService
) -> None:
    members = await _members(world, 1)
    # 2026-12-31 17:30 UTC is 2027-01-01 01:30 in Beijing: the 2027 budget pays.
    activity = await _activity(world, members, starts_at=datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    await subsidy.set_budget("DS", 2026, 50_000, CLI)
    with pytest.raises(SubsidyRefused) as caught:
        await subsidy.book(activity, 100, FEDERATION)
    assert caught.value.code == "overspent" and caught.value.extra["year"] == 2027
    await subsidy.set_budget("DS", 2027, 100, CLI)
    await subsidy.book(activity, 100, FEDERATION)
    assert [e[3] for e in await _entries(world)] == [2027]


async def test_what_cannot_be_booked(world: World, subsidy: SubsidyService) -> None:
    members = await _members(world, 2)
    await subsidy.set_budget("DS", YEAR, 100_000, CLI)
    still_open = await _activity(world, members, status="open")
    nobody = await _activity(world, [], absent=members)
    booked = await _activity(world, members)
    await subsidy.book(booked, 1000, FEDERATION)
    for activity, cost, code in (
        (still_open, 1000, "not_closed"), (nobody, 1000, "no_attendance"),
        (booked, 1000, "booked"), (booked + 1000, 1000, "unknown"), (booked, 0, "amount"),
    ):  # fmt: skip
        with pytest.raises(SubsidyRefused) as caught:
            await subsidy.book(activity, cost, FEDERATION)
        assert caught.value.code == code, (activity, code)
    with pytest.raises(NotAllowed):  # street staff do not book; the federation does
        await subsidy.book(still_open, 1000, STAFF)
    with pytest.raises(NotAllowed):
        await subsidy.set_budget("DS", YEAR, 1, STAFF)
    assert "open, not closed" in str(SubsidyRefused("not_closed", status="open"))
    assert sum(e[4] for e in await _entries(world)) == 1000


# --- the budget --------------------------------------------------------------------------------
async def test_a_booking_that_would_overspend_is_refused_and_writes_nothing(
    world: World, subsidy: SubsidyService
) -> None:
    members = await _members(world, 3)
    first, second = await _activity(world, members), await _activity(world, members)
    with pytest.raises(SubsidyRefused) as caught:  # no budget at all: a budget of 0
        await subsidy.book(first, 1, FEDERATION)
    assert caught.value.code == "overspent" and caught.value.extra["remaining_fen"] == 0
    await subsidy.set_budget("DS", YEAR, 500_00, CLI)
    await subsidy.book(first, 300_00, FEDERATION)
    before = await _counts(world)
    with pytest.raises(SubsidyRefused) as caught:
        await subsidy.book(second, 200_01, FEDERATION)
    refused = caught.value
    assert refused.code == "overspent"
    assert refused.extra == {"street": "德胜街道", "year": YEAR, "remaining_fen": 200_00,
                             "needed_fen": 200_01}  # fmt: skip
    assert "德胜街道" in str(refused) and "200.00 元 left" in str(refused)
    assert await _counts(world) == before  # no posting, no entry, no audit row
    await subsidy.book(second, 200_00, FEDERATION)  # exactly what is left
    assert sum(e[4] for e in await _entries(world)) == 500_00
    (row,) = [r for r in await subsidy.by_street(YEAR) if r.street == "德胜街道"]
    assert (row.budget_fen, row.spent_fen, row.remaining_fen) == (500_00, 500_00, 0)


@pytest.mark.parametrize("bookings", [10])
async def test_bookings_at_once_never_overspend(
    world: World, subsidy: SubsidyService, bookings: int
) -> None:
    members = await _members(world, 3)
    activities = [await _activity(world, members) for _ in range(bookings)]
    cost = 100_00
    await subsidy.set_budget("DS", YEAR, cost * 7 // 2, CLI)  # room for three and a half
    results = await asyncio.gather(
        *(subsidy.book(a, cost, FEDERATION) for a in activities), return_exceptions=True
    )
    booked = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, SubsidyRefused) and r.code == "overspent" for r in refused), refused
    assert len(booked) == 3 and len(refused) == bookings - 3
    spent = sum(e[4] for e in await _entries(world))
    assert spent == 3 * cost <= cost * 7 // 2
    # Lowering the budget while more bookings run: whichever goes first, never overspent.
    await subsidy.set_budget("DS", YEAR, 5 * cost, CLI)
    await asyncio.gather(
        *(subsidy.book(a, cost, FEDERATION) for a in activities[5:]),
        subsidy.set_budget("DS", YEAR, 4 * cost, CLI),
        return_exceptions=True,
    )
    (row,) = [r for r in await subsidy.by_street(YEAR) if r.street == "德胜街道"]
    assert row.spent_fen == sum(e[4] for e in await _entries(world)) <= row.budget_fen


async def test_a_district_wide_activity_charges_each_members_street(
    world: World, subsidy: SubsidyService
) -> None:
    de_sheng = await _members(world, 2)
    xin_jie = await _members(world, 1, first=10, street="XJ")
    xj_id = next(s.id for s in await world.admin.streets() if s.code == "XJ")
    activity = await _activity(world, de_sheng + xin_jie, street_id=None)
    await subsidy.set_budget("DS", YEAR, 1000_00, CLI)
    await subsidy.set_budget("新街口街道", YEAR, 10_00, CLI)  # by name works too
    before = await _counts(world)
    with pytest.raises(SubsidyRefused) as caught:  # 新街口's share does not fit: none is booked
        await subsidy.book(activity, 90_01, FEDERATION)
    assert caught.value.extra["street"] == "新街口街道"
    assert caught.value.extra["remaining_fen"] == 10_00
    assert caught.value.extra["needed_fen"] == 30_00  # the last by member number: DS-… < XJ-…
    assert await _counts(world) == before
    await subsidy.set_budget("XJ", YEAR, 40_00, CLI)
    await subsidy.book(activity, 90_01, FEDERATION)
    charged: dict[int, int] = {}
    for _, _, street_id, _, fen in await _entries(world):
        charged[street_id] = charged.get(street_id, 0) + fen
    assert charged == {world.street_id: 60_01, xj_id: 30_00}
    rows = {r.street: r for r in await subsidy.by_street(YEAR)}
    assert (rows["德胜街道"].spent_fen, rows["德胜街道"].attendees) == (60_01, 2)
    assert (rows["新街口街道"].spent_fen, rows["新街口街道"].remaining_fen) == (30_00, 10_00)
    assert rows["新街口街道"].activities == rows["德胜街道"].activities == 1
    (only,) = await subsidy.by_activity(YEAR)
    summary = (only.street, only.attendees, only.net_fen, only.per_member_fen)
    assert summary == ("全区", 3, 90_01, 30_00)


async def test_a_budget_is_never_below_what_was_spent(
    world: World, subsidy: SubsidyService
) -> None:
    members = await _members(world, 2)
    activity = await _activity(world, members)
    with pytest.raises(SubsidyRefused) as caught:
        await subsidy.set_budget("DS", YEAR, -1, CLI)
    assert caught.value.code == "negative"
    with pytest.raises(SubsidyRefused):
        await subsidy.set_budget("DS", 1900, 1, CLI)
    await subsidy.set_budget("DS", YEAR, 500_00, CLI)
    await subsidy.book(activity, 300_00, FEDERATION)
    with pytest.raises(SubsidyRefused) as caught:
        await subsidy.set_budget("DS", YEAR, 299_99, FEDERATION)
    assert caught.value.code == "spent" and caught.value.extra["spent_fen"] == 300_00
    assert "300.00 元" in str(caught.value)
    await subsidy.set_budget("DS", YEAR, 300_00, FEDERATION)  # exactly spent is fine
    await subsidy.set_budget("DS", YEAR + 1, 0, CLI)  # another year is another budget
    rows = {(r.year, r.street): r for y in (YEAR, YEAR + 1) for r in await subsidy.by_street(y)}
    assert rows[(YEAR, "德胜街道")].budget_fen == 300_00
    assert rows[(YEAR + 1, "德胜街道")].spent_fen == 0


# --- the append-only ledger --------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE subsidy_posting SET amount_fen = 1",
        "DELETE FROM subsidy_posting",
        "UPDATE subsidy_entry SET amount_fen = amount_fen + 1",
        "DELETE FROM subsidy_entry",
    ],
)
async def test_the_database_refuses_to_rewrite_the_ledger(
    world: World, subsidy: SubsidyService, statement: str
) -> None:
    members = await _members(world, 2)
    activity = await _activity(world, members)
    await subsidy.set_budget("DS", YEAR, 100_00, CLI)
    await subsidy.book(activity, 99_99, FEDERATION)
    entries = await _entries(world)
    with pytest.raises(DBAPIError, match="append-only"):
        async with world.db.transaction() as session:
            await session.execute(text(statement))
    assert await _entries(world) == entries
    async with world.db.read() as session:
        assert await session.scalar(select(SubsidyPosting.amount_fen)) == 99_99


# --- corrections -------------------------------------------------------------------------------
async def test_a_reversal_negates_exactly_and_only_once(
    world: World, subsidy: SubsidyService
) -> None:
    members = await _members(world, 3)
    activity = await _activity(world, members)
    await subsidy.set_budget("DS", YEAR, 100_00, CLI)
    booking = await subsidy.book(activity, 100_00, FEDERATION)
    with pytest.raises(SubsidyRefused) as caught:
        await subsidy.reverse(booking.id, FEDERATION, "  ")
    assert caught.value.code == "note"
    results = await asyncio.gather(
        subsidy.reverse(booking.id, FEDERATION, "记错了活动"),
        subsidy.reverse(booking.id, CLI, "记错了活动"),
        return_exceptions=True,
    )
    reversals = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(reversals) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], SubsidyRefused) and refused[0].code == "reversed"
    (reversal,) = reversals
    assert (reversal.kind, reversal.reverses_id, reversal.amount_fen) == ("reversal", booking.id,
                                                                        -100_00)  # fmt: skip
    original = await _entries(world, posting_id=booking.id)
    negated = await _entries(world, posting_id=reversal.id)
    assert [e[1:4] for e in negated] == [e[1:4] for e in original]
    assert [e[4] for e in negated] == [-e[4] for e in original]
    for posting, code in ((booking.id, "reversed"), (reversal.id, "reversal"),
                          (reversal.id + 99, "no_posting")):  # fmt: skip
        with pytest.raises(SubsidyRefused) as caught:
            await subsidy.reverse(posting, FEDERATION, "再来一次")
        assert caught.value.code == code
    # Fully reversed: the activity may be booked again, and the budget is free again.
    again = await subsidy.book(activity, 100_00, FEDERATION)
    assert again.amount_fen == 100_00
    assert sum(e[4] for e in await _entries(world)) == 100_00


async def test_refunds_are_bounded_by_what_was_booked(
    world: World, subsidy: SubsidyService
) -> None:
    members = await _members(world, 3)
    activity = await _activity(world, members)
    await subsidy.set_budget("DS", YEAR, 100_00, CLI)
    with pytest.raises(SubsidyRefused) as caught:  # nothing booked yet
        await subsidy.refund(activity, 1, FEDERATION, "退款")
    assert caught.value.code == "too_much"
    await subsidy.book(activity, 100_00, FEDERATION)
    for amount, note, code in ((100_01, "退款", "too_much"), (0, "退款", "amount"),
                               (10_00, "", "note")):  # fmt: skip
        with pytest.raises(SubsidyRefused) as caught:
            await subsidy.refund(activity, amount, FEDERATION, note)
        assert caught.value.code == code
    refund = await subsidy.refund(activity, 30_01, FEDERATION, "场地退了押金")
    assert refund.kind == "refund" and refund.amount_fen == -30_01
    assert [s.amount_fen for s in refund.shares] == [-10_01, -10_00, -10_00]
    with pytest.raises(SubsidyRefused) as caught:
        await subsidy.refund(activity, 70_00, FEDERATION, "再退")
    assert caught.value.code == "too_much" and caught.value.extra["net_fen"] == 69_99
    # Reversing the booking first would leave the activity below zero.
    booking_id = refund.id - 1
    with pytest.raises(SubsidyRefused) as caught:
        await subsidy.reverse(booking_id, FEDERATION, "冲正")
    assert caught.value.code == "order"
    # Reversing the refund spends again, within the budget.
    await subsidy.reverse(refund.id, FEDERATION, "退款记错了")
    await subsidy.refund(activity, 100_00, FEDERATION, "活动全额退款")
    assert sum(e[4] for e in await _entries(world)) == 0
    (row,) = await subsidy.by_activity(YEAR)
    assert row.net_fen == 0
    await subsidy.book(activity, 50_00, FEDERATION)  # fully refunded: may be booked again


async def test_every_change_is_audited(world: World, subsidy: SubsidyService) -> None:
    members = await _members(world, 2)
    activity = await _activity(world, members)
    await subsidy.set_budget("DS", YEAR, 100_00, CLI)
    await subsidy.set_budget("DS", YEAR, 200_00, FEDERATION)
    await subsidy.set_budget("DS", YEAR, 200_00, FEDERATION)  # unchanged: nothing to audit
    booking = await subsidy.book(activity, 50_00, FEDERATION, note="茶歇")
    refund = await subsidy.refund(activity, 10_00, FEDERATION, "退款")
    reversal = await subsidy.reverse(refund.id, FEDERATION, "冲正")
    async with world.db.read() as session:
        rows = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.actor_name, AuditEntry.subject_id,
                       AuditEntry.before, AuditEntry.after)
                .where(AuditEntry.action.like("subsidy.%"))
                .order_by(AuditEntry.id)
            )
        ).all()  # fmt: skip
    assert [tuple(r[:3]) for r in rows] == [
        ("subsidy.budget_set", "test", "DS"),
        ("subsidy.budget_set", "联合会", "DS"),
        ("subsidy.booked", "联合会", str(activity)),
        ("subsidy.refunded", "联合会", str(activity)),
        ("subsidy.reversed", "联合会", str(refund.id)),
    ]
    assert rows[0][3] is None and rows[0][4] == {"year": YEAR, "amount_fen": 100_00}
    assert rows[1][3] == {"year": YEAR, "amount_fen": 100_00}
    assert rows[1][4] == {"year": YEAR, "amount_fen": 200_00}
    assert rows[2][4]["posting"] == booking.id and rows[2][4]["amount_fen"] == 50_00
    assert rows[4][4]["reversal"] == reversal.id and rows[4][4]["amount_fen"] == 10_00


# --- reports and the Excel ledger --------------------------------------------------------------
async def _busy_year(world: World, subsidy: SubsidyService) -> list[int]:
    """Two streets, three activities (one district-wide), a refund and a reversal."""
    de_sheng = await _members(world, 3)
    xin_jie = await _members(world, 2, first=10, street="XJ")
    await subsidy.set_budget("DS", YEAR, 1000_00, CLI)
    await subsidy.set_budget("XJ", YEAR, 500_00, CLI)
    street_wide = await _activity(world, de_sheng)
    district = await _activity(world, de_sheng[:1] + xin_jie, street_id=None)
    dropped = await _activity(world, de_sheng[1:])
    await subsidy.book(street_wide, 100_00, FEDERATION, note="=SUM(A1)")  # stays text
    await subsidy.book(district, 200_01, FEDERATION)
    await subsidy.refund(district, 50_00, FEDERATION, "退款")
    booking = await subsidy.book(dropped, 33_33, FEDERATION)
    await subsidy.reverse(booking.id, FEDERATION, "活动取消")
    return de_sheng + xin_jie


async def test_the_reports_agree_with_the_entries(world: World, subsidy: SubsidyService) -> None:
    members = await _busy_year(world, subsidy)
    total = sum(e[4] for e in await _entries(world, year=YEAR))
    assert total == 100_00 + 200_01 - 50_00
    streets = await subsidy.by_street(YEAR)
    activities = await subsidy.by_activity(YEAR)
    by_member = await subsidy.by_member(YEAR)
    assert sum(r.spent_fen for r in streets) == total
    assert sum(r.net_fen for r in activities) == total
    assert sum(r.total_fen for r in by_member) == total
    assert [r.net_fen for r in activities] == [100_00, 150_01, 0]
    assert [r.attendees for r in activities] == [3, 3, 2]
    rows = {r.street: r for r in streets}
    # The reversed activity counts for nobody; 德胜's first member went to two activities.
    assert (rows["德胜街道"].activities, rows["德胜街道"].attendees) == (2, 4)
    assert (rows["新街口街道"].activities, rows["新街口街道"].attendees) == (1, 2)
    assert all(r.remaining_fen == r.budget_fen - r.spent_fen for r in streets)
    numbers = await _numbers(world, members)
    assert sorted(r.member_number for r in by_member) == sorted(numbers.values())
    assert [r.activities for r in by_member if r.member_number == numbers[members[0]]] == [2]
    assert await subsidy.by_street(YEAR + 1) == [
        replace(r, year=YEAR + 1, budget_fen=0, spent_fen=0, remaining_fen=0, activities=0,
                attendees=0) for r in streets
    ]  # fmt: skip
    assert await subsidy.by_activity(None) == activities


async def test_the_excel_ledger_agrees_and_holds_no_personal_data(
    world: World, subsidy: SubsidyService
) -> None:
    await _busy_year(world, subsidy)
    data = await subsidy.ledger_xlsx(YEAR)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["明细", "按街道", "按活动"]
    detail = list(book["明细"].iter_rows(values_only=True))
    assert detail[0] == ("记账编号", "类型", "日期", "活动编号", "活动", "街道", "会员编号",
                         "金额（元）", "经办人", "备注")  # fmt: skip
    entries = await _entries(world, year=YEAR)
    assert len(detail) - 1 == len(entries)
    fen = [round(row[7] * 100) for row in detail[1:]]
    assert fen == [e[4] for e in entries]
    assert {row[1] for row in detail[1:]} == {"记账", "退款", "冲正"}
    notes = [row[9] for row in book["明细"].iter_rows(min_row=2)]
    assert any(c.value == "=SUM(A1)" and c.data_type == "s" for c in notes)  # never a formula
    assert book["明细"]["H2"].number_format == "#,##0.00"

    streets = list(book["按街道"].iter_rows(values_only=True))
    assert streets[0][:5] == ("年度", "街道", "预算（元）", "已用（元）", "余额（元）")
    assert round(sum(row[3] for row in streets[1:]) * 100) == sum(fen)
    by_street = {r.street: r for r in await subsidy.by_street(YEAR)}
    for row in streets[1:]:
        assert round(row[3] * 100) == by_street[row[1]].spent_fen
        assert round(row[4] * 100) == by_street[row[1]].remaining_fen
    activities = list(book["按活动"].iter_rows(values_only=True))
    assert round(sum(row[5] for row in activities[1:]) * 100) == sum(fen)
    assert {row[2] for row in activities[1:]} == {"德胜街道", "全区"}

    everything = " ".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True)
                          for v in row)  # fmt: skip
    for seq in (*range(3), *range(10, 12)):
        assert make_resident_id(seq) not in everything
        assert f"138{seq:08d}" not in everything
    assert "张三" not in everything  # not even names: member numbers only
    every_year = load_workbook(io.BytesIO(await subsidy.ledger_xlsx(None)))
    assert every_year["明细"].max_row == book["明细"].max_row


# --- the command line --------------------------------------------------------------------------
async def test_the_command_line(
    world: World, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli import rows, run, write_config

    members = await _members(world, 3)
    activity = await _activity(world, members)
    config = write_config(tmp_path, database_url=store.url)

    async def cli(*args: str) -> tuple[int, str, str]:
        # main() runs an event loop of its own: it gets a thread of its own here.
        return await asyncio.to_thread(run, capsys, config, "subsidy", *args)

    code, out, err = await cli("book", str(activity), "100")
    assert code == 1 and out == "" and len(err.splitlines()) == 1, err
    assert "refused" in err and "德胜街道" in err and "0.00 元 left" in err
    assert "Traceback" not in err
    code, out, err = await cli("budget", "DS", str(YEAR), "¥150.5")
    assert code == 0 and out == f"budget of DS for {YEAR}: 150.50 元\n", err
    code, _, err = await cli("budget", "DS", str(YEAR), "1.234")
    assert code == 2 and "two decimals" in err
    code, out, err = await cli("book", str(activity), "100.01", "--note", "场地费")
    assert code == 0 and "booked 100.01 元, split among 3 members" in out, err
    booking = int(out.split()[1].rstrip(":"))
    code, _, err = await cli("book", str(activity), "1")
    assert code == 1 and "booked already (100.01 元)" in err
    code, _, err = await cli("budget", "DS", str(YEAR), "100")
    assert code == 1 and "spent 100.01 元" in err
    code, out, err = await cli("refund", str(activity), "0.01", "--note", "找零")
    assert code == 0 and "refunded 0.01 元" in out, err
    code, _, err = await cli("refund", str(activity), "1000", "--note", "太多")
    assert code == 1 and "at most" in err

    code, out, _ = await cli("report", "--year", str(YEAR))
    table = rows(out)
    assert code == 0 and table[0] == ["year", "street", "budget", "spent", "remaining",
                                      "activities", "attendees"]  # fmt: skip
    assert table[1] == [str(YEAR), "德胜街道", "150.50", "100.00", "50.50", "1", "3"]
    code, out, _ = await cli("report", "--by", "activity")
    assert rows(out)[1][1:] == ["读书会", "德胜街道", "2026-06-01", "3", "100.00", "33.33"]
    code, out, _ = await cli("report", "--by", "member", "--year", str(YEAR))
    assert sum(int(r[3].replace(".", "")) for r in rows(out)[1:]) == 100_00

    code, out, err = await cli("reverse", str(booking), "--note", "记错了")
    assert code == 1 and "refunds first" in err
    code, out, err = await cli("ledger", "--xlsx", str(tmp_path / "ledger.xlsx"), "--year",
                               str(YEAR))  # fmt: skip
    assert code == 0 and "ledger.xlsx" in out, err
    sheet = load_workbook(tmp_path / "ledger.xlsx")["明细"]
    assert round(sum(r[7] for r in sheet.iter_rows(min_row=2, values_only=True)) * 100) == 100_00
    async with world.db.read() as session:
        assert await session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.actor_name == "cli",
                                                    AuditEntry.action.like("subsidy.%"))
        ) == 3  # fmt: skip


async def test_a_refund_credits_the_street_the_booking_charged(
    world: World, subsidy: SubsidyService
) -> None:
    """A member who moved to another street after the activity: the refund goes back to
    the budget that paid, not to the new street (whose spending would go below zero)."""
    members = await _members(world, 2)
    await _members(world, 1, first=10, street="XJ")  # adds the street
    xj_id = next(s.id for s in await world.admin.streets() if s.code == "XJ")
    activity = await _activity(world, members)
    await subsidy.set_budget("DS", YEAR, 100_00, CLI)
    await subsidy.book(activity, 100_00, FEDERATION)
    async with world.db.transaction() as session:
        await session.execute(
            text("UPDATE member SET street_id = :street WHERE id = :member"),
            {"street": xj_id, "member": members[0]},
        )
    refund = await subsidy.refund(activity, 40_00, FEDERATION, "退款")
    assert {s.street for s in refund.shares} == {"德胜街道"}
    assert {e[2] for e in await _entries(world, posting_id=refund.id)} == {world.street_id}
    rows = {r.street: r.spent_fen for r in await subsidy.by_street(YEAR)}
    assert rows == {"德胜街道": 60_00, "新街口街道": 0}
