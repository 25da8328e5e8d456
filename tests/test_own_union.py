"""Enterprises that already have a union: their workers are told where to join, may still
apply to the street's joint union (staff see it on the card), and never set off a founding
alert, however many of them join."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from bot.db import Database
from bot.people import Worker
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseService
from bot.services.registry import import_registry, parse_file
from bot.validation import uscc_check_char
from models import Application, Enterprise, OutboxMessage, ThresholdAlert
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft, make_resident_id
from tests.live import REVIEW_GROUP, Live, live_bot

UNIONISED = "北京庆丰餐饮管理有限公司"
UNION = "北京庆丰餐饮管理有限公司工会委员会"
CONTACT = "王主席 010-66001234"
PLAIN = "北京德胜数码科技有限公司"
STAFF = (Actor(501, "审核员501"), Actor(502, "审核员502"), Actor(503, "审核员503"))


def uscc(body17: str) -> str:
    return body17 + uscc_check_char(body17)


def write_registry(path: Path) -> Path:
    rows = [
        "统一社会信用代码,企业名称,所属街道,是否建会,工会名称,工会联系方式",
        f"{uscc('91110102MA01QF7E0')},{UNIONISED},德胜街道,,{UNION},{CONTACT}",
        f"{uscc('91110102MA01AB2C4')},{PLAIN},德胜街道,否,,",
        f"{uscc('91110102MA01AB2C5')},北京德胜物业管理有限公司,德胜街道,是,,",
    ]
    path.write_text("\n".join(rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- registry


def test_the_registry_reads_the_unions_name_and_contact(tmp_path: Path) -> None:
    parsed = parse_file(write_registry(tmp_path / "registry.csv"))
    rows = {row.name: row for row in parsed.rows}
    # A union's name says there is one, even with 是否建会 left empty.
    assert (rows[UNIONISED].has_union, rows[UNIONISED].union_name) == (True, UNION)
    assert rows[UNIONISED].union_contact == CONTACT
    assert (rows[PLAIN].has_union, rows[PLAIN].union_name) == (False, None)
    assert rows["北京德胜物业管理有限公司"].has_union is True
    assert parsed.warnings == []


def test_a_union_name_for_an_enterprise_without_a_union_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_text(
        f"统一社会信用代码,企业名称,是否建会,工会名称\n{uscc('91110102MA01QF7E0')},{UNIONISED},否,{UNION}",
        encoding="utf-8",
    )
    parsed = parse_file(path)
    assert parsed.rows[0].has_union is False
    assert [line for line, _ in parsed.warnings] == [2] and "union name" in parsed.warnings[0][1]


async def _unionised(world: World, tmp_path: Path) -> int:
    await import_registry(world.db, write_registry(tmp_path / "registry.csv"))
    async with world.db.read() as session:
        return await session.scalar(select(Enterprise.id).where(Enterprise.name == UNIONISED))


async def test_own_union_is_known_to_the_service(world: World, tmp_path: Path) -> None:
    unionised = await _unionised(world, tmp_path)
    service = EnterpriseService(world.db, threshold=THRESHOLD, federation_chat_id=None)
    union = await service.own_union(unionised)
    assert union is not None and (union.name, union.contact) == (UNION, CONTACT)
    async with world.db.read() as session:
        plain = await session.scalar(select(Enterprise.id).where(Enterprise.name == PLAIN))
    assert await service.own_union(plain) is None


# ---------------------------------------------------------------------------- counting


async def _approve_all_at_once(world: World, employer: str, people: range) -> list[bool]:
    """Submit one application per person, then approve them all concurrently, three
    reviewers pressing at once."""
    ids = []
    for seq in people:
        draft = make_draft(world, seq, employer)
        submitted = await world.intake.submit(2000 + seq, draft)
        async with world.db.read() as session:
            ids.append(
                await session.scalar(
                    select(Application.id).where(Application.number == submitted.number)
                )
            )
    results = await asyncio.gather(
        *(world.review.approve(app_id, STAFF[i % 3], None) for i, app_id in enumerate(ids))
    )
    return [result.alert_raised for result in results]


async def test_workers_of_a_unionised_enterprise_never_raise_an_alert(
    world: World, tmp_path: Path
) -> None:
    unionised = await _unionised(world, tmp_path)
    raised = await _approve_all_at_once(world, UNIONISED, range(THRESHOLD + 3))
    async with world.db.read() as session:
        enterprise = await session.get(Enterprise, unionised)
        alerts = await session.scalar(select(func.count(ThresholdAlert.id)))
        flagged = await session.scalar(
            select(func.count(Application.id)).where(Application.employer_has_union.is_(True))
        )
        to_federation = await session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.chat_id == FEDERATION_CHAT)
        )
    assert not any(raised)
    assert enterprise.member_count == THRESHOLD + 3  # they are members, counted as such
    assert (alerts, to_federation) == (0, 0)
    assert flagged == THRESHOLD + 3


async def test_the_same_approvals_for_an_enterprise_without_a_union_raise_one(
    world: World, tmp_path: Path
) -> None:
    """The control: the same path, an enterprise without a union, one alert."""
    await _unionised(world, tmp_path)
    raised = await _approve_all_at_once(world, PLAIN, range(THRESHOLD + 3))
    async with world.db.read() as session:
        alerts = await session.scalar(select(func.count(ThresholdAlert.id)))
        flagged = await session.scalar(
            select(func.count(Application.id)).where(Application.employer_has_union.is_(True))
        )
    assert raised.count(True) == 1 and alerts == 1 and flagged == 0


async def test_a_merge_into_a_unionised_enterprise_raises_no_alert(
    world: World, tmp_path: Path
) -> None:
    """Workers who typed a name the registry did not know, merged by staff into the
    unionised enterprise: the merge takes the target over the threshold, and stays silent."""
    unionised = await _unionised(world, tmp_path)
    await _approve_all_at_once(world, UNIONISED, range(15))
    await _approve_all_at_once(world, "庆丰包子铺德胜门店", range(15, THRESHOLD))
    async with world.db.read() as session:
        provisional = await session.scalar(
            select(Enterprise.id).where(Enterprise.name == "庆丰包子铺德胜门店")
        )
    service = EnterpriseService(world.db, threshold=THRESHOLD, federation_chat_id=FEDERATION_CHAT)
    result = await service.merge(provisional, unionised, Actor(901, "联合会"))
    assert result.target_count == THRESHOLD and not result.alert_raised
    async with world.db.read() as session:
        alerts = await session.scalar(select(func.count(ThresholdAlert.id)))
    assert alerts == 0


# ---------------------------------------------------------------------------- the form


async def _to_employer_step(live: Live, user_id: int, tmp_path: Path) -> Worker:
    db = Database(live.settings.database.url)
    await import_registry(db, write_registry(tmp_path / f"registry-{user_id}.csv"))
    await db.dispose()
    worker = live.worker(user_id, "王五")
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    await worker.say("王五", "身份证号")
    await worker.say(make_resident_id(user_id % 1000), "手机号")
    await worker.say(f"+86139{user_id:08d}", "工作单位")
    return worker


async def _applications(live: Live) -> list[Application]:
    db = Database(live.settings.database.url)
    async with db.read() as session:
        rows = list(await session.scalars(select(Application)))
    await db.dispose()
    return rows


async def test_the_worker_is_told_where_to_join_and_may_still_apply(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = await _to_employer_step(live, 8201, tmp_path)
        told = await worker.say(UNIONISED, "已经建立了工会")
        assert UNION in told["text"] and CONTACT in told["text"]
        assert "单体入会是为所在单位还没有工会的职工设立的" in told["text"]
        job = await worker.press(told, "继续申请加入街道工会联合会", "岗位")
        summary = await worker.press(job, "跳过", "请核对")
        received = await worker.submit(summary)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        assert "该单位已建立工会" in card["text"] and UNION in card["text"]
        assert "不计入建会人数" in card["text"] and "/25" not in card["text"]
        (application,) = await _applications(live)
        assert application.employer_has_union


async def test_the_worker_may_name_another_employer_or_stop(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = await _to_employer_step(live, 8202, tmp_path)
        told = await worker.say(UNIONISED, "已经建立了工会")
        asked = await worker.press(told, "重新填写工作单位", "工作单位")
        assert "工作单位" in asked["text"]
        await worker.say(PLAIN, "岗位")  # an employer without a union goes straight on
        await worker.say("/cancel", "已取消")

        other = await _to_employer_step(live, 8203, tmp_path)
        told = await other.say(UNIONISED, "已经建立了工会")
        stopped = await other.press(told, "不申请了", "没有保存")
        assert "本单位工会" in stopped["text"]
        again = await other.say("你好")  # the form is closed: nothing is waiting
        assert "已经建立了工会" not in again["text"]
        assert await _applications(live) == []


async def test_a_forged_union_press_changes_nothing(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = await _to_employer_step(live, 8204, tmp_path)
        question = worker.last()  # the employer question: no union buttons were offered
        query = live.emu.press_button(
            worker.user_id, worker.user_id, question["message_id"], "f:union:street", forge=True
        )
        for _ in range(100):
            if live.emu.callback_answers(query):
                break
            await asyncio.sleep(0.05)
        assert live.emu.callback_answers(query)["show_alert"]
        # Still at the employer step, nothing stored: the worker goes on as usual.
        await worker.say(PLAIN, "岗位")
        assert await _applications(live) == []
