"""The member service card (会员服务卡) on a real database and through the bot: asked for
once, exported in batches (each request in exactly one, whoever exports at the same
moment), sent, arrived (the member is told), collected; the needs survey answered once;
the "four ones" in /status with their real states."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.people import WorkerData
from bot.services.audit import Actor
from bot.services.service_cards import ServiceCardRefused, ServiceCardService
from models import Application, AuditEntry, NeedsSurvey, OutboxMessage, ServiceCardRequest
from tests.conftest import World, make_draft, make_resident_id
from tests.live import REVIEW_GROUP, live_bot

STAFF = Actor(501, "审核员501")
ADMIN = Actor.cli("test")


@pytest.fixture
def cards(world: World) -> ServiceCardService:
    return ServiceCardService(world.db, world.cipher)


async def _member(world: World, seq: int) -> int:
    user_id = 7000 + seq
    submitted = await world.intake.submit(user_id, make_draft(world, seq))
    async with world.db.read() as session:
        app_id = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    await world.review.approve(app_id, STAFF, None)
    return user_id


async def test_from_request_to_collected(world: World, cards: ServiceCardService) -> None:
    users = [await _member(world, seq) for seq in range(3)]
    first = await cards.request(users[0])
    again = await cards.request(users[0])  # asking twice changes nothing
    assert (first.status, again.status) == ("requested", "requested")
    await cards.request(users[1])
    with pytest.raises(ServiceCardRefused):
        await cards.request(9999)  # not a member

    batch = await cards.make_batch("DS", ADMIN)
    assert batch.cards == 2 and batch.number.startswith("JK-DS-")
    sheet = load_workbook(io.BytesIO(batch.workbook)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("序号", "会员编号", "姓名") and len(rows) == 3
    assert "*" in rows[1][5] and "*" in rows[1][6]  # masked unless asked for in full
    with pytest.raises(ServiceCardRefused) as caught:
        await cards.make_batch("DS", ADMIN)  # nothing left to batch
    assert caught.value.code == "nothing"

    with pytest.raises(ServiceCardRefused) as caught:
        await cards.mark(batch.number, "arrived", ADMIN)  # not sent yet
    assert caught.value.code == "order"
    assert await cards.mark(batch.number, "sent", ADMIN) == 2
    assert await cards.mark(batch.number.lower(), "arrived", ADMIN) == 2
    async with world.db.read() as session:
        told = list(
            await session.scalars(
                select(OutboxMessage.chat_id).where(OutboxMessage.kind == "service_card_arrived")
            )
        )
    assert sorted(told) == users[:2]

    member_number = (await cards.situation(users[0])).member_number
    await cards.collected(member_number, ADMIN)
    with pytest.raises(ServiceCardRefused) as caught:
        await cards.collected(member_number, ADMIN)
    assert caught.value.code == "collected"
    items = await cards.four_ones((await cards.situation(users[0])).member_id)
    assert items.service_card == "collected" and items.service_card_on is not None
    assert await cards.completion() == [("德胜街道", 3, 2, 1)]


async def test_full_numbers_are_audited(world: World, cards: ServiceCardService) -> None:
    user = await _member(world, 1)
    await cards.request(user)
    batch = await cards.make_batch("DS", ADMIN, full_ids=True)
    row = list(load_workbook(io.BytesIO(batch.workbook)).active.iter_rows(values_only=True))[1]
    assert row[5] == make_resident_id(1) and "*" not in row[6]
    async with world.db.read() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "service_card.batched")
        )
    assert entry.after == {"cards": 1, "full_ids": True}
    assert make_resident_id(1) not in str(entry.after)


async def test_two_exports_at_once_take_each_request_once(
    world: World, cards: ServiceCardService
) -> None:
    for seq in range(12):
        await cards.request(await _member(world, seq))
    results = await asyncio.gather(
        *(cards.make_batch("DS", ADMIN) for _ in range(3)), return_exceptions=True
    )
    batches = [r for r in results if not isinstance(r, BaseException)]
    assert sum(b.cards for b in batches) == 12
    assert all(isinstance(r, ServiceCardRefused) for r in results if isinstance(r, BaseException))
    async with world.db.read() as session:
        batched = list(await session.scalars(select(ServiceCardRequest.batch_id)))
    assert len(batched) == 12 and None not in batched


async def test_the_survey_is_answered_once(world: World, cards: ServiceCardService) -> None:
    user = await _member(world, 1)
    await cards.request(user)
    await cards.answer_survey(user, ["skills", "legal_aid", "nonsense"])
    with pytest.raises(ServiceCardRefused):
        await cards.answer_survey(user, ["health_check"])
    async with world.db.read() as session:
        survey = await session.scalar(select(NeedsSurvey))
    assert survey.needs == ["legal_aid", "skills"]  # known needs only, in a fixed order


async def test_a_member_asks_for_the_card_in_chat(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = live.worker(2101, "王五")
        data = WorkerData("王五", make_resident_id(210), "+8613900002101", "西城区老张早点铺")
        received = await worker.apply(live.point_code, data)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        await live.staff().press(card, "通过", "已通过")
        status = await worker.say("/status", "“四个一”会员服务：")
        assert "/servicecard 申领" in status["text"]
        offer = await worker.say("/servicecard", "京卡")
        survey = await worker.press(offer, "申领会员服务卡", "可多选")
        ticked = await worker.press(survey, "技能培训")
        assert "✅ 技能培训" in str(ticked["reply_markup"])
        done = await worker.press(ticked, "完成", "已记录您的需求")
        assert "技能培训" in done["text"]
        status = await worker.say("/status", "“四个一”会员服务：")
        assert "已申领" in status["text"]
        again = await worker.say("/servicecard", "会员服务卡")
        assert "已申领" in again["text"]
        assert not live.emu.internal_errors


def test_the_street_side_at_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli import rows, run, write_config

    config = write_config(tmp_path)
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    code, _, err = run(capsys, config, "servicecards", "batch", "DS", "--xlsx",
                       str(tmp_path / "batch.xlsx"))  # fmt: skip
    assert code == 2 and "no request is waiting" in err and not (tmp_path / "batch.xlsx").exists()
    code, _, err = run(capsys, config, "servicecards", "sent", "JK-DS-00099")
    assert code == 2 and "no such batch" in err
    code, out, _ = run(capsys, config, "servicecards", "status")
    assert code == 0 and rows(out)[0] == ["street", "members", "asked", "collected"]
