"""Activities on a real database: never more confirmed participants than places (30
presses at once on the last place), the waitlist moves up one by one (two cancellations at
once), a check-in recorded once (two scans at once), forged and replayed codes, scans by
non-staff and outside the time window, the day-before reminder sent once, the opt-out."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot import timefmt
from bot.pii import generate_key, parse_key
from bot.services.activities import (
    TOKEN_PURPOSE,
    ActivityDraft,
    ActivityRefused,
    ActivityService,
)
from bot.services.audit import Actor
from bot.services.benefits import TOKEN_PURPOSE as BENEFIT_PURPOSE
from bot.services.benefits import BenefitService
from bot.services.cards import CardSigner
from bot.services.errors import NotAllowed
from bot.services.four_ones import CompletionService
from bot.services.service_cards import ServiceCardService
from models import Activity, ActivitySignup, AuditEntry, Member, OutboxMessage
from models.base import utcnow
from tests.conftest import World, make_members

STAFF = Actor(501, "审核员501")
FEDERATION = Actor(901, "联合会")
CLI = Actor.cli("test")
LOOKUP = parse_key(generate_key())


@pytest.fixture
def activities(world: World) -> ActivityService:
    return ActivityService(world.db, CardSigner(LOOKUP, TOKEN_PURPOSE))


async def _members(world: World, count: int) -> list[int]:
    return await make_members(world, count, STAFF)


def _draft(now: datetime, capacity: int, **extra: object) -> ActivityDraft:
    start = now + timedelta(days=3)
    return ActivityDraft(
        "冬季健步走", "德胜公园东门", start, start + timedelta(hours=2),
        start - timedelta(hours=12), capacity, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


async def _counts(world: World, activity_id: int) -> dict[str, int]:
    async with world.db.read() as session:
        rows = await session.execute(
            select(ActivitySignup.status, func.count())
            .where(ActivitySignup.activity_id == activity_id)
            .group_by(ActivitySignup.status)
        )
        counts = {status: int(n) for status, n in rows}
        counts["places"] = int(
            await session.scalar(select(Activity.confirmed).where(Activity.id == activity_id)) or 0
        )
    return counts


async def test_thirty_presses_on_the_last_place(world: World, activities: ActivityService) -> None:
    now = utcnow()
    users = await _members(world, 34)
    activity = await activities.create(_draft(now, 5, street_ref="DS"), STAFF, now)
    for user in users[:4]:
        assert (await activities.sign_up(user, activity, now)).status == "confirmed"
    results = await asyncio.gather(*(activities.sign_up(u, activity, now) for u in users[4:]))
    assert sorted(r.status for r in results).count("confirmed") == 1
    assert sorted(r.position for r in results if r.status == "waiting") == list(range(1, 30))
    assert await _counts(world, activity) == {"confirmed": 5, "waiting": 29, "places": 5}


async def test_cancellations_move_the_waitlist_up(
    world: World, activities: ActivityService
) -> None:
    now = utcnow()
    users = await _members(world, 6)
    activity = await activities.create(_draft(now, 2, street_ref="DS"), STAFF, now)
    for offset, user in enumerate(users):
        await activities.sign_up(user, activity, now + timedelta(seconds=offset))
    # Two confirmed members cancel at once: the first two waiting move up, in order.
    await asyncio.gather(activities.cancel(users[0], activity, now),
                         activities.cancel(users[1], activity, now))  # fmt: skip
    assert await _counts(world, activity) == {
        "cancelled": 2, "confirmed": 2, "waiting": 2, "places": 2
    }  # fmt: skip
    mine = {u: (await activities.for_member(u, now))[0] for u in users[2:]}
    assert [mine[u].mine for u in users[2:]] == ["confirmed", "confirmed", "waiting", "waiting"]
    assert [mine[u].position for u in users[4:]] == [1, 2]
    async with world.db.read() as session:
        told = list(await session.scalars(
            select(OutboxMessage.chat_id).where(OutboxMessage.kind == "activity_promoted")
        ))  # fmt: skip
    assert sorted(told) == users[2:4]
    # Leaving the waitlist frees no place; the last confirmed leaving with nobody waiting does.
    await activities.cancel(users[5], activity, now)
    await activities.cancel(users[4], activity, now)
    await activities.cancel(users[3], activity, now)
    assert (await _counts(world, activity))["places"] == 1
    # Signing up again joins at the end, and one person cannot be on it twice.
    assert (await activities.sign_up(users[0], activity, now)).status == "confirmed"
    with pytest.raises(ActivityRefused) as caught:
        await activities.sign_up(users[0], activity, now)
    assert caught.value.code == "signed_up"


async def test_who_may_sign_up_and_when(world: World, activities: ActivityService) -> None:
    now = utcnow()
    (user,) = await _members(world, 1)
    await world.admin.add_street("XC", "新街口街道", CLI)
    theirs = await activities.create(_draft(now, 5, street_ref="XC"), CLI, now)
    district = await activities.create(_draft(now, 5), FEDERATION, now)
    with pytest.raises(ActivityRefused) as caught:
        await activities.sign_up(user, theirs, now)
    assert caught.value.code == "not_yours"
    assert [a.id for a in await activities.for_member(user, now)] == [district]
    with pytest.raises(ActivityRefused) as caught:
        await activities.sign_up(user, district, now + timedelta(days=3))
    assert caught.value.code == "deadline"
    with pytest.raises(ActivityRefused) as caught:
        await activities.sign_up(4242, district, now)
    assert caught.value.code == "not_member"
    # A street's staff create only for their own street; outsiders not at all.
    with pytest.raises(NotAllowed):
        await activities.create(_draft(now, 5, street_ref="XC"), STAFF, now)
    with pytest.raises(NotAllowed):
        await activities.create(_draft(now, 5), STAFF, now)
    with pytest.raises(NotAllowed):
        await activities.create(_draft(now, 5, street_ref="DS"), Actor(4242, "路人"), now)
    with pytest.raises(ActivityRefused) as caught:
        await activities.create(_draft(now - timedelta(days=5), 5), FEDERATION, now)
    assert caught.value.code == "invalid" and "future" in str(caught.value)


async def test_the_database_refuses_more_confirmed_than_places(
    world: World, activities: ActivityService
) -> None:
    now = utcnow()
    activity = await activities.create(_draft(now, 3, street_ref="DS"), STAFF, now)
    with pytest.raises((IntegrityError, DBAPIError)):
        async with world.db.transaction() as session:
            await session.execute(
                text("UPDATE activity SET confirmed = capacity + 1 WHERE id = :id"),
                {"id": activity},
            )


async def test_a_check_in_is_recorded_once(world: World, activities: ActivityService) -> None:
    now = utcnow()
    first, second = await _members(world, 2)
    activity = await activities.create(_draft(now, 1, street_ref="DS"), STAFF, now)
    await activities.sign_up(first, activity, now)
    await activities.sign_up(second, activity, now)
    (mine,) = await activities.for_member(first, now)
    (waiting,) = await activities.for_member(second, now)
    token = activities.check_in_token(mine.signup_id or 0)
    door = mine.starts_at - timedelta(minutes=30)
    with pytest.raises(ActivityRefused) as caught:
        await activities.check_in(token, STAFF, mine.starts_at - timedelta(hours=2))
    assert caught.value.code == "too_early"
    with pytest.raises(ActivityRefused) as caught:
        await activities.check_in(token, STAFF, mine.ends_at + timedelta(minutes=1))
    assert caught.value.code == "too_late"
    with pytest.raises(NotAllowed):
        await activities.check_in(token, Actor(4242, "路人"), door)
    forged = token[:-1] + ("x" if token[-1] != "x" else "y")
    with pytest.raises(ActivityRefused) as caught:
        await activities.check_in(forged, STAFF, door)
    assert caught.value.code == "forged"
    benefit_code = CardSigner(LOOKUP, BENEFIT_PURPOSE).token(mine.signup_id or 0)
    with pytest.raises(ActivityRefused) as caught:  # same keys, another purpose: refused
        await activities.check_in(benefit_code, STAFF, door)
    assert caught.value.code == "forged"
    with pytest.raises(ActivityRefused) as caught:
        await activities.check_in(activities.check_in_token(waiting.signup_id or 0), STAFF, door)
    assert caught.value.code == "not_confirmed"
    results = await asyncio.gather(
        activities.check_in(token, STAFF, door), activities.check_in(token, FEDERATION, door),
        return_exceptions=True,
    )  # fmt: skip
    assert sorted(type(r).__name__ for r in results) == ["ActivityRefused", "CheckIn"]
    with pytest.raises(ActivityRefused) as caught:
        await activities.check_in(token, STAFF, door)  # replayed
    assert caught.value.code == "checked_in" and caught.value.extra["at"] is not None
    # Closing before the end is refused; after it, attendance is final.
    with pytest.raises(ActivityRefused) as caught:
        await activities.close(activity, STAFF, door)
    assert caught.value.code == "not_over"
    assert await activities.close(activity, STAFF, mine.ends_at + timedelta(minutes=5)) == 1
    shown, people = await activities.attendance(activity, STAFF)
    assert shown.status == "closed"
    assert [(p.status, p.attended_at is not None) for p in people] == [
        ("confirmed", True), ("waiting", False)
    ]  # fmt: skip
    async with world.db.read() as session:
        member_id = await session.scalar(select(Member.id).where(Member.telegram_user_id == first))
        actions = set(await session.scalars(select(AuditEntry.action)))
    items = await ServiceCardService(world.db, world.cipher).four_ones(member_id or 0)
    assert items.activity_on is not None
    assert {"activity.created", "activity.checked_in", "activity.closed"} <= actions
    (row,) = await CompletionService(world.db).by_street()
    assert (row.members, row.activity, row.all_four) == (2, 1, 0)


async def test_announcements_and_the_reminder(world: World, activities: ActivityService) -> None:
    now = utcnow()
    users = await _members(world, 3)
    await activities.set_announcements(users[0], False)
    assert not await activities.announcements_on(users[0])
    activity = await activities.create(_draft(now, 5, street_ref="DS"), STAFF, now)
    async with world.db.read() as session:
        told = list(await session.scalars(
            select(OutboxMessage.chat_id).where(OutboxMessage.kind == "activity_announced")
        ))  # fmt: skip
    assert sorted(told) == users[1:]
    await activities.set_announcements(users[0], True)
    assert await activities.announcements_on(users[0])
    # The opted-out member may still sign up, and is reminded (they asked for it).
    for user in users[:2]:
        await activities.sign_up(user, activity, now)
    await activities.cancel(users[1], activity, now)
    start = now + timedelta(days=3)
    assert await activities.send_reminders(start - timedelta(days=2)) == 0  # not yet
    day_before = start - timedelta(hours=20)
    sent = await asyncio.gather(activities.send_reminders(day_before),
                                activities.send_reminders(day_before))  # fmt: skip
    assert sorted(sent) == [0, 1]
    assert await activities.send_reminders(day_before + timedelta(hours=1)) == 0
    async with world.db.read() as session:
        reminded = list(await session.scalars(
            select(OutboxMessage.chat_id).where(OutboxMessage.kind == "activity_reminder")
        ))  # fmt: skip
    assert reminded == [users[0]]


def test_activities_at_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_cli import run, write_config

    config = write_config(tmp_path)
    run(capsys, config, "streets", "add", "DS", "德胜街道")
    day = timefmt.local(utcnow() + timedelta(days=5)).date()
    code, out, _ = run(
        capsys, config, "activities", "add", "书法体验课", "--place", "德胜街道职工之家",
        "--when", f"{day} 14:00-16:00", "--capacity", "20", "--street", "DS",
    )  # fmt: skip
    assert (code, out) == (0, "activity 1 created for DS and announced: 书法体验课\n")
    code, _, err = run(
        capsys, config, "activities", "add", "书法体验课", "--place", "职工之家",
        "--when", f"{day} 16:00-14:00", "--capacity", "20",
    )  # fmt: skip
    assert code == 2 and "end must be after the start" in err
    code, out, _ = run(capsys, config, "activities", "list")
    assert code == 0 and "书法体验课\t0\t20\t0\topen" in out
    code, _, err = run(capsys, config, "activities", "close", "1")
    assert code == 2 and "not over yet" in err
    code, out, _ = run(capsys, config, "activities", "cancel", "1", "--reason", "场地维修")
    assert (code, out) == (0, "activity 1 cancelled; 0 members signed up or waiting are told\n")
    code, out, _ = run(capsys, config, "fourones")
    assert (code, out) == (0, "street\tmembers\tservice card\tbenefit\tactivity\tall four\n"
                              "德胜街道\t0\t0\t0\t0\t0\n")  # fmt: skip


async def test_announcements_reach_the_members_the_survey_says(
    world: World, activities: ActivityService
) -> None:
    now = utcnow()
    sporty, lawful, silent, quiet = await _members(world, 4)
    cards = ServiceCardService(world.db, world.cipher)
    await cards.answer_survey(sporty, ["sports_culture", "health_check"])
    await cards.answer_survey(lawful, ["legal_aid"])
    await cards.answer_survey(quiet, ["sports_culture"])
    await activities.set_announcements(quiet, False)
    await activities.create(_draft(now, 5, street_ref="DS", need="sports_culture"), STAFF, now)
    benefits = BenefitService(world.db, CardSigner(LOOKUP, BENEFIT_PURPOSE))
    today = timefmt.local(now).date()
    await benefits.add("免费法律咨询", "德胜街道法律援助站", 5, today, today + timedelta(days=9),
                       CLI, street_ref="DS", need="legal_aid")  # fmt: skip
    await benefits.add("免费健康体检", "社区卫生服务中心", 5, today, today + timedelta(days=9),
                       CLI)  # fmt: skip
    async with world.db.read() as session:
        told = sorted(
            (kind, user)
            for kind, user in await session.execute(
                select(OutboxMessage.kind, OutboxMessage.chat_id).where(
                    OutboxMessage.kind.in_(("activity_announced", "benefit_announced"))
                )
            )
        )
    assert told == sorted([
        ("activity_announced", sporty), ("activity_announced", silent),
        ("benefit_announced", lawful), ("benefit_announced", silent),
        ("benefit_announced", sporty), ("benefit_announced", lawful),
        ("benefit_announced", silent),
    ])  # fmt: skip
    with pytest.raises(ValueError, match="unknown need"):
        await activities.create(_draft(now, 5, street_ref="DS", need="karaoke"), STAFF, now)


async def test_staff_call_an_activity_off(world: World, activities: ActivityService) -> None:
    now = utcnow()
    users = await _members(world, 3)
    activity = await activities.create(_draft(now, 2, street_ref="DS"), STAFF, now)
    for user in users:
        await activities.sign_up(user, activity, now)
    await activities.cancel(users[0], activity, now)
    with pytest.raises(NotAllowed):
        await activities.call_off(activity, Actor(4242, "路人"), "下雨", now)
    with pytest.raises(ActivityRefused) as caught:
        await activities.call_off(activity, STAFF, "  ", now)
    assert caught.value.code == "invalid"
    with pytest.raises(ActivityRefused) as caught:
        await activities.call_off(activity, STAFF, "下雨", now + timedelta(days=3, minutes=1))
    assert caught.value.code == "under_way"
    assert await activities.call_off(activity, STAFF, "下雨", now) == 2  # not the one who left
    with pytest.raises(ActivityRefused) as caught:
        await activities.sign_up(users[0], activity, now)
    assert caught.value.code == "not_open"
    assert await activities.for_member(users[1], now) == []
    async with world.db.read() as session:
        told = sorted(await session.scalars(
            select(OutboxMessage.chat_id).where(OutboxMessage.kind == "activity_called_off")
        ))  # fmt: skip
        reason = await session.scalar(
            select(AuditEntry.after).where(AuditEntry.action == "activity.cancelled_by_staff")
        )
    assert told == users[1:] and reason == {"reason": "下雨", "told": 2}
