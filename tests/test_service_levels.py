"""Service levels with a controllable clock: the promise a waiting worker sees, one digest
a working day per review group (never one message per application), and one reminder of
an alert nobody followed up; each sent once, however many processes look."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.config import ServiceSettings
from bot.people import WorkerData
from bot.services.audit import Actor
from bot.services.service_levels import ServiceLevels
from bot.timefmt import BEIJING
from models import Application, OutboxMessage, Street, ThresholdAlert
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft, make_resident_id
from tests.live import REVIEW_GROUP, live_bot

REVIEW_CHAT = -100500
STAFF = Actor(501, "审核员501")


def beijing(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING)


@pytest.fixture
def levels(world: World) -> ServiceLevels:
    return ServiceLevels(world.db, ServiceSettings(), federation_chat_id=FEDERATION_CHAT)


async def _submitted_on(world: World, seq: int, when: datetime) -> int:
    submitted = await world.intake.submit(6000 + seq, make_draft(world, seq))
    async with world.db.transaction() as session:
        await session.execute(
            update(Application)
            .where(Application.number == submitted.number)
            .values(submitted_at=when)
        )
        return await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )


async def _sent(world: World, kind: str) -> list[OutboxMessage]:
    async with world.db.read() as session:
        return list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


async def test_the_promise_counts_working_days(world: World, levels: ServiceLevels) -> None:
    submitted = beijing(date(2026, 9, 29), 10)  # Tuesday before the Golden Week
    promise = await levels.promise(world.street_id, submitted)
    assert (promise.review_days, promise.street, promise.contact) == (5, "德胜街道", None)
    # 9/30, then the holidays (10/1-10/7), then 10/8, 10/9, 10/10 (a Saturday made a
    # working day) and Monday 10/12.
    assert promise.due == date(2026, 10, 12)
    await world.admin.set_service("DS", Actor.cli(), review_days=2, contact="服务站 010-62000000")
    promise = await levels.promise(world.street_id, submitted)
    assert (promise.review_days, promise.contact) == (2, "服务站 010-62000000")


async def test_one_digest_a_working_day_with_the_applications_waiting(
    world: World, levels: ServiceLevels
) -> None:
    monday = date(2026, 12, 7)
    await _submitted_on(world, 1, beijing(date(2026, 11, 27), 15))  # 6 working days
    await _submitted_on(world, 2, beijing(date(2026, 12, 2), 15))  # 3 working days
    recent = await _submitted_on(world, 3, beijing(date(2026, 12, 4), 15))  # 1 working day

    assert (await levels.send_due(beijing(monday, 8, 59))).digests == 0  # before 09:00
    sent = await asyncio.gather(*(levels.send_due(beijing(monday, 9, 1)) for _ in range(3)))
    assert sum(s.digests for s in sent) == 1  # claimed once, whoever looks
    assert (await levels.send_due(beijing(monday, 17))).digests == 0  # once a day
    digests = await _sent(world, "review_digest")
    assert [(d.chat_id, d.payload) for d in digests] == [
        (REVIEW_CHAT, {"street_id": world.street_id, "day": "2026-12-07"})
    ]
    waiting = await levels.waiting(world.street_id, beijing(monday, 9, 1))
    assert [(w.working_days, w.late) for w in waiting] == [(6, True), (3, False)]
    assert recent not in [w.application_id for w in waiting]
    # Saturday is no working day: no digest.
    assert (await levels.send_due(beijing(date(2026, 12, 12), 10))).digests == 0


async def test_no_digest_when_nothing_waits_too_long(
    world: World, levels: ServiceLevels
) -> None:
    await _submitted_on(world, 1, beijing(date(2026, 12, 4), 15))
    assert (await levels.send_due(beijing(date(2026, 12, 7), 9, 30))).digests == 0
    assert await _sent(world, "review_digest") == []


async def test_an_alert_nobody_followed_up_is_reminded_once(
    world: World, levels: ServiceLevels
) -> None:
    for seq in range(THRESHOLD):
        app_id = await _submitted_on(world, seq, beijing(date(2026, 12, 1), 10))
        await world.review.approve(app_id, STAFF, None)
    async with world.db.transaction() as session:
        await session.execute(
            update(ThresholdAlert).values(created_at=beijing(date(2026, 12, 3), 10))
        )
    assert (await levels.send_due(beijing(date(2026, 12, 7), 10))).alert_reminders == 0
    sent = await asyncio.gather(
        *(levels.send_due(beijing(date(2026, 12, 8), 10)) for _ in range(3))
    )
    assert sum(s.alert_reminders for s in sent) == 1
    assert (await levels.send_due(beijing(date(2026, 12, 20), 10))).alert_reminders == 0
    assert [m.chat_id for m in await _sent(world, "alert_reminder")] == [FEDERATION_CHAT]


async def test_a_followed_alert_is_not_reminded(world: World, levels: ServiceLevels) -> None:
    for seq in range(THRESHOLD):
        app_id = await _submitted_on(world, seq, beijing(date(2026, 12, 1), 10))
        await world.review.approve(app_id, STAFF, None)
    async with world.db.read() as session:
        alert_id = await session.scalar(select(ThresholdAlert.id))
    await world.alerts.follow_up(alert_id, Actor(901, "联合会"), FEDERATION_CHAT, 1)
    assert (await levels.send_due(beijing(date(2026, 12, 30), 10))).alert_reminders == 0


async def test_the_worker_sees_the_promise_and_the_group_gets_the_digest(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path, service={"digest_after_days": 1}) as live:
        worker = live.worker(1901, "王五")
        data = WorkerData("王五", make_resident_id(901), "+8613900009011", "西城区老张早点铺")
        await worker.apply(live.point_code, data)
        async with live.app.db.transaction() as session:
            await session.execute(
                update(Street).values(contact="德胜街道工会服务站 010-62000000")
            )
        status = await worker.say("/status", "承诺")
        assert "5 个工作日内审核" in status["text"] and "010-62000000" in status["text"]

        async with live.app.db.transaction() as session:  # as if it came in last week
            await session.execute(
                update(Application).values(submitted_at=beijing(date(2026, 11, 25), 10))
            )
        levels = live.app.dispatcher["service_levels"]
        await levels.send_due(beijing(date(2026, 12, 7), 9, 30))
        digest = await live.emu.wait_for(REVIEW_GROUP, "待审核提醒", since=0, timeout=15)
        assert "王五" in digest["text"] and "已超时" in digest["text"]


def test_streets_set_service_at_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli import run, write_config

    config = write_config(tmp_path)
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    code, out, _ = run(
        capsys, config, "streets", "set-service", "DS", "--review-days", "3",
        "--contact", "服务站  010-62000000",
    )  # fmt: skip
    assert code == 0
    assert out == "street DS: review within 3 working days; contact: 服务站 010-62000000\n"
    code, out, _ = run(capsys, config, "streets", "set-service", "ds", "--review-days", "0")
    assert out == "street DS: review within the configured default; contact: 服务站 010-62000000\n"
    code, _, err = run(capsys, config, "streets", "set-service", "DS", "--review-days", "99")
    assert code == 2 and "between 1 and 60" in err
    code, out, _ = run(capsys, config, "audit", "--action", "street.service")
    assert code == 0 and out.count("street.service") == 2
