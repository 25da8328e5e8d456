"""The federation's figures on a real database, on both engines: each one agrees with the
rows it counts (invariant 14), periods and months follow Beijing time, review times are
the median and 90th percentile of the decided applications, and the charts draw."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select, update

from bot.i18n import build_i18n
from bot.people import WorkerData
from bot.render.charts import new_members_png, threshold_png
from bot.render.fonts import find_font_stack
from bot.services.audit import Actor
from bot.services.four_ones import CompletionService
from bot.services.stats import Period, Ratio, StatsService
from bot.services.weekly_digest import WeeklyDigests
from bot.views import stats as stats_view
from models import (
    Activity,
    ActivitySignup,
    Application,
    Benefit,
    BenefitClaim,
    Enterprise,
    FoundingCase,
    Member,
    OutboxMessage,
    ServiceCardRequest,
    Street,
)
from models.base import utcnow
from tests.conftest import World, make_draft, make_resident_id
from tests.live import FEDERATION_GROUP, FEDERATION_ID, REVIEW_GROUP, live_bot, settle

STAFF = Actor(501, "审核员501")
CLI = Actor.cli("test")
TODAY = date(2026, 12, 6)
SCENE_AT = datetime(2026, 12, 6, 4, tzinfo=UTC)  # noon in Beijing, TODAY
DECEMBER = Period.this_month(TODAY)


async def _apply(world: World, seq: int, employer: str, street_id: int | None = None) -> int:
    draft = make_draft(world, seq, employer)
    point = await world.intake.point_by_code(world.point_code)
    draft = dataclasses.replace(draft, point_id=point.id if point and street_id is None else None,
                                street_id=street_id or world.street_id)  # fmt: skip
    submitted = await world.intake.submit(7000 + seq, draft)
    async with world.db.read() as session:
        return int(await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        ))  # fmt: skip


async def _scene(world: World) -> int:
    """德胜街道: 6 members of 北京甲科技 (one keeping the membership out of work, one
    ended), one rejected and one waiting application; 新街口街道: 2 members of 北京乙物流.
    The registry: 甲 (40 employees), 丙 with a union, 丁 with 500 employees and nobody yet.
    Returns 新街口's street id."""
    await world.admin.add_street("XC", "新街口街道", CLI)
    await world.admin.add_staff(601, "审核员601", "street", "XC", CLI)
    async with world.db.read() as session:
        xc = int(await session.scalar(select(Street.id).where(Street.code == "XC")))
    for seq in range(6):
        await world.review.approve(await _apply(world, seq, "北京甲科技有限公司"), STAFF, None)
    await world.review.reject(await _apply(world, 6, "北京甲科技有限公司"), STAFF, "incomplete",
                              None, None)  # fmt: skip
    await _apply(world, 7, "北京甲科技有限公司")
    for seq in (8, 9):
        application = await _apply(world, seq, "北京乙物流有限公司", xc)
        await world.review.approve(application, Actor(601, "审核员601"), None)
    async with world.db.transaction() as session:
        first, second = list(await session.scalars(select(Member).order_by(Member.id).limit(2)))
        first.kept_since = utcnow()
        second.status, second.ended_at = "ended", utcnow()
        await session.execute(
            update(Enterprise).where(Enterprise.name == "北京甲科技有限公司")
            .values(provisional=False, employees=40, street_id=world.street_id,
                    member_count=Enterprise.member_count - 2)  # ended, kept
        )  # fmt: skip
        session.add_all([
            Enterprise(name="北京丙餐饮有限公司", name_key="丙餐饮", provisional=False,
                       street_id=world.street_id, has_union=True, employees=80),
            Enterprise(name="北京丁制造有限公司", name_key="丁制造", provisional=False,
                       street_id=world.street_id, employees=500),
        ])  # fmt: skip
    # The scene happens on TODAY whatever the clock says, so that the periods hold.
    async with world.db.transaction() as session:
        for column in (Application.submitted_at, Application.decided_at, Member.joined_at,
                       Member.kept_since, Member.ended_at):  # fmt: skip
            await session.execute(
                update(column.class_).where(column.is_not(None)).values({column.key: SCENE_AT})
            )
    return xc


async def test_the_overview_agrees_with_the_rows(world: World) -> None:
    xc = await _scene(world)
    stats = StatsService(world.db, threshold=5)
    district = await stats.overview(None, DECEMBER)
    assert (district.members_active, district.members_kept, district.members_ended) == (7, 1, 1)
    assert district.members_transferred == 0
    assert district.new_members == 8
    assert district.applications == {"approved": 8, "rejected": 1, "submitted": 1}
    assert district.review.decided == 9
    # 甲, 丙 and 丁 are in the registry (乙 was typed by workers): one has a union.
    assert district.coverage == Ratio(1, 3)
    assert district.member_share == Ratio(4, 40)  # 甲's active members ÷ its employees
    assert district.near_threshold == 1  # 甲: 4 members counted, 80 % of 5 is 4
    ds = await stats.overview(world.street_id, DECEMBER)
    assert (ds.scope, ds.members_active, ds.new_members) == ("德胜街道", 5, 6)
    xc_view = await stats.overview(xc, DECEMBER)
    assert (xc_view.members_active, xc_view.coverage) == (2, Ratio(0, 0))
    # Every figure is counted from the rows: the same sums another way.
    async with world.db.read() as session:
        active = await session.scalar(
            select(func.count()).select_from(Member).where(Member.status == "active")
        )
    streets = await stats.by_street(DECEMBER)
    assert sum(s.members_active for s in streets) == district.members_active == active
    assert [(s.code, s.applications, s.approved, s.rejected, s.waiting) for s in streets] == [
        ("DS", 8, 6, 1, 1), ("XC", 2, 2, 0, 0)
    ]  # fmt: skip
    assert streets[0].promised_days == 5
    points = await stats.by_point(world.street_id, DECEMBER)
    assert [(p.name, p.applications, p.approved, p.members_active) for p in points] == [
        ("新街口社区", 8, 6, 5)
    ]  # fmt: skip
    # Last month saw nothing.
    november = await stats.overview(None, Period.last_month(TODAY))
    assert (november.new_members, november.applications) == (0, {})


async def test_review_times_months_and_the_next_to_found(world: World) -> None:
    xc = await _scene(world)
    stats = StatsService(world.db, threshold=5)
    decided = datetime(2026, 12, 2, 10, tzinfo=UTC)
    async with world.db.transaction() as session:
        apps = list(await session.scalars(
            select(Application).where(Application.decided_at.is_not(None))
            .order_by(Application.id)
        ))  # fmt: skip
        for hours, application in zip((1, 2, 3, 4, 5, 6, 7, 8, 50), apps, strict=True):
            application.decided_at = decided
            application.submitted_at = decided - timedelta(hours=hours)
        # 00:30 on 1 December in Beijing is still 30 November in UTC.
        member = await session.scalar(select(Member).order_by(Member.id.desc()).limit(1))
        member.joined_at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
        other = await session.scalar(select(Member).order_by(Member.id).limit(1))
        other.joined_at = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    review = (await stats.overview(None, Period.between(date(2026, 12, 2), TODAY))).review
    assert (review.decided, review.median_hours, review.p90_hours) == (9, 5.0, 50.0)
    by_street = {s.code: s.review for s in await stats.by_street(DECEMBER)}
    assert by_street["XC"].decided == 2 and by_street["DS"].decided == 7
    months = await stats.monthly_new_members(None, months=2, today=TODAY)
    assert [(m.month, m.street, m.members) for m in months] == [
        ("2026-11", "德胜街道", 1), ("2026-12", "德胜街道", 5), ("2026-12", "新街口街道", 2)
    ]  # fmt: skip
    assert [m.month for m in await stats.monthly_new_members(xc, 2, TODAY)] == ["2026-12"]
    nearest = await stats.next_to_found(None)
    assert [(p.name, p.members) for p in nearest] == [
        ("北京甲科技有限公司", 4), ("北京乙物流有限公司", 2)
    ]  # fmt: skip
    assert nearest[0].days_since_first is not None
    assert [(g.name, g.employees) for g in await stats.gaps(None)] == [("北京丁制造有限公司", 500)]
    assert await stats.gaps(xc) == []


async def test_founding_cases_by_stage(world: World) -> None:
    await _scene(world)
    async with world.db.transaction() as session:
        ids = list(await session.scalars(select(Enterprise.id).order_by(Enterprise.id)))
        long_ago = utcnow() - timedelta(days=10)
        session.add_all([
            FoundingCase(enterprise_id=ids[0], stage="following", stage_since=long_ago),
            FoundingCase(enterprise_id=ids[1], stage="preparing", paused=True,
                         stage_since=long_ago),
        ])  # fmt: skip
    stages = {s.stage: s for s in await StatsService(world.db, 5).cases_by_stage(None)}
    assert (stages["following"].cases, stages["preparing"].paused) == (1, 1)
    assert stages["founded"].cases == 0 and stages["founded"].median_days_in_stage is None
    assert 9.9 < (stages["following"].median_days_in_stage or 0) < 10.1
    assert (await StatsService(world.db, 5).overview(None, DECEMBER)).open_cases == 2


async def test_the_charts_draw(world: World) -> None:
    await _scene(world)
    stats = StatsService(world.db, threshold=5)
    fonts = find_font_stack()
    months = await stats.monthly_new_members(None, today=utcnow().date())
    for png in (
        new_members_png(months, fonts),
        threshold_png(await stats.next_to_found(None), 5, fonts),
        new_members_png([], fonts),
    ):
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.size[0] > 600


async def test_stats_in_the_groups(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = live.worker(2501, "周八")
        data = WorkerData("周八", make_resident_id(251), "+8613900002501", "西城区老张早点铺")
        received = await worker.apply(live.point_code, data)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        await live.staff().press(card, "通过", "已通过")
        federation = live.staff(FEDERATION_ID)
        mark = live.emu.mark()
        district = await federation.say("/stats", "全区", chat_id=FEDERATION_GROUP)
        assert "在册 1" in district["text"] and "本期新会员 1" in district["text"]
        streets = await live.emu.wait_for(FEDERATION_GROUP, "各街道", since=mark)
        assert "德胜街道：1 / 1 / 0" in streets["text"]
        await settle(live)
        charts = [m for m in live.emu.messages(FEDERATION_GROUP) if "photo" in m]
        assert len(charts) == 2  # new members per month, and the bars toward 25
        street = await live.staff().say("/stats 上月", "德胜街道", chat_id=REVIEW_GROUP)
        assert "本期新会员 0" in street["text"]
        usage = await live.staff().say("/stats 明年", "用法", chat_id=REVIEW_GROUP)
        assert "/stats 上月" in usage["text"]
        assert not live.emu.internal_errors


async def test_the_weekly_digest_goes_once_a_week(world: World) -> None:
    digests = WeeklyDigests(world.db, -100900, day=1, at=time(9, 0))
    monday_early = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # 08:30 on Monday in Beijing
    assert not await digests.send_due(monday_early)
    monday = datetime(2026, 12, 7, 1, 5, tzinfo=UTC)  # 09:05
    sent = await asyncio.gather(digests.send_due(monday), digests.send_due(monday))
    assert sorted(sent) == [False, True]
    assert not await digests.send_due(monday + timedelta(days=3))  # the same week
    assert await digests.send_due(monday + timedelta(days=8))  # Tuesday of the next week
    async with world.db.read() as session:
        rows = list(await session.execute(
            select(OutboxMessage.kind, OutboxMessage.payload).order_by(OutboxMessage.id)
        ))  # fmt: skip
    assert [kind for kind, _ in rows] == ["weekly_digest", "weekly_digest_chart"] * 2
    assert rows[0][1] == {"week": "2026-W50", "since": "2026-11-30", "until": "2026-12-06"}
    assert not await WeeklyDigests(world.db, None, 1, time(9)).send_due(monday)


async def test_the_weekly_digest_in_the_federation_group(tmp_path: Path) -> None:
    async with live_bot(tmp_path, federation={"weekly_digest_day": 1}) as live:
        digests: WeeklyDigests = live.app.dispatcher["weekly_digests"]
        mark = live.emu.mark()
        assert await digests.send_due(datetime(2026, 12, 8, 2, tzinfo=UTC))
        # Tuesday 8 December: the week before is 1–7 December.
        text = await live.emu.wait_for(FEDERATION_GROUP, "2026-12-01 — 2026-12-07", since=mark)
        assert "区总工会周报" in text["text"] and "德胜街道" in text["text"]
        chart = await live.emu.wait_for(lambda m: "photo" in m, since=mark)
        assert "每月新会员" in chart["caption"]
        assert not live.emu.internal_errors


async def test_the_four_ones_counts(world: World) -> None:
    await _scene(world)
    now = utcnow()
    async with world.db.transaction() as session:
        members = list(await session.scalars(
            select(Member).where(Member.status == "active").order_by(Member.id).limit(3)
        ))  # fmt: skip
        benefit = Benefit(title="体检", provider="中心", quota=5, claimed=2, valid_from=TODAY,
                          valid_to=TODAY)  # fmt: skip
        activity = Activity(title="健步走", place="公园", starts_at=now, ends_at=now,
                            signup_deadline=now, capacity=5, confirmed=1,
                            created_by_name="t")  # fmt: skip
        session.add_all([benefit, activity])
        await session.flush()
        for member in members:  # all three: the service card
            session.add(ServiceCardRequest(member_id=member.id, street_id=member.street_id,
                                           status="collected", requested_at=now,
                                           collected_at=now))  # fmt: skip
        for member in members[:2]:  # two: a benefit
            session.add(BenefitClaim(benefit_id=benefit.id, member_id=member.id, redeemed_at=now))
        session.add(ActivitySignup(activity_id=activity.id, member_id=members[0].id,
                                   status="confirmed", attended_at=now))  # fmt: skip
    figures = await StatsService(world.db, 5).overview(None, DECEMBER)
    assert (figures.service_cards, figures.benefits, figures.activities) == (3, 2, 1)
    assert figures.four_ones_all == 1
    by_street = {
        s.code: s.four_ones_all for s in await StatsService(world.db, 5).by_street(DECEMBER)
    }
    assert by_street == {"DS": 1, "XC": 0}
    rows = {r.name: r for r in await CompletionService(world.db).by_street()}
    assert (rows["德胜街道"].members, rows["德胜街道"].service_card, rows["德胜街道"].all_four) == (
        5,
        3,
        1,
    )
    (point,) = await CompletionService(world.db).by_point(world.street_id)
    assert (point.members, point.benefit, point.activity, point.all_four) == (5, 2, 1, 1)


async def test_names_workers_typed_are_masked(world: World) -> None:
    await _scene(world)
    async with world.db.transaction() as session:
        session.add(Enterprise(name="张三13912345678工作室", name_key="张三工作室",
                               member_count=3, street_id=world.street_id))  # fmt: skip
    nearest = await StatsService(world.db, threshold=5).next_to_found(None)
    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("zh"):
        text = "\n".join(stats_view.next_lines(nearest))
    assert "13912345678" not in text and "张三139****5678工作室" in text
