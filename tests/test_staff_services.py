"""The street's and the federation's side of the "four ones" in their group chats, on both
engines: /servicecards in a street's review group (the requests and open batches, the
export button whose Excel file comes into the group with masked numbers, sent, arrived
with the member told, collected), and /budget, /book and /ledger in the federation group
(a budget set and reported, a closed activity's cost booked, an overspend refused naming
what is left, a ledger whose sums agree with the report). Who may do each is decided in
the service, in the transaction that acts: a street's staff for their own street, the
district's staff for any, nobody else."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot import timefmt
from bot.people import WorkerData, find_button
from bot.services.audit import Actor
from bot.services.errors import NotAllowed
from bot.services.intake import Draft
from bot.services.service_cards import ServiceCardRefused, ServiceCardService
from bot.services.subsidy import SubsidyService
from models import (
    Activity,
    ActivitySignup,
    Application,
    AuditEntry,
    Member,
    ServiceCardBatch,
    ServiceCardRequest,
    Street,
    SubsidyBudget,
    SubsidyPosting,
)
from models.base import utcnow
from tests.conftest import World, make_draft, make_resident_id
from tests.live import (
    FEDERATION_GROUP,
    FEDERATION_ID,
    OUTSIDER_ID,
    REVIEW_GROUP,
    STAFF_IDS,
    Live,
    answer_of,
    live_bot,
    settle,
)

CLI = Actor.cli("test")
DS_STAFF = Actor(501, "审核员501")
XJ_STAFF = Actor(601, "审核员601")
FEDERATION = Actor(901, "联合会")
STRANGER = Actor(4242, "路人")
TIMEOUT = 15.0


# ---------------------------------------------------------------------------- helpers


async def _world_member(world: World, seq: int, street_id: int, approver: Actor) -> int:
    """An approved member of the street (their Telegram user id)."""
    user_id = 7100 + seq
    draft = replace(make_draft(world, seq), street_id=street_id)
    submitted = await world.intake.submit(user_id, draft)
    async with world.db.read() as session:
        app_id = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    await world.review.approve(app_id, approver, None)
    return user_id


async def _live_members(live: Live, count: int) -> list[int]:
    """Approved members of 德胜街道 made through the services (their Telegram user ids),
    each with a private chat the bot may write to."""
    intake, review = live.app.dispatcher["intake"], live.app.dispatcher["review"]
    async with live.app.db.read() as session:
        street_id = await session.scalar(select(Street.id).where(Street.code == "DS"))
    users = []
    for seq in range(count):
        user_id = 3000 + seq
        live.emu.add_user(user_id, f"会员{seq}")
        live.emu.open_private_chat(user_id)
        draft = Draft(
            street_id=street_id, point_id=None, consent_at=utcnow(), notice_version="2026-11",
            name="张三", resident_id=make_resident_id(300 + seq), gender="male",
            birth_date=date(1990, 5, 17), mobile=f"+86138{seq:08d}",
            employer="北京字节跳动科技有限公司", job=None, language="zh",
        )  # fmt: skip
        submitted = await intake.submit(user_id, draft)
        async with live.app.db.read() as session:
            app_id = await session.scalar(
                select(Application.id).where(Application.number == submitted.number)
            )
        await review.approve(app_id, DS_STAFF, None)
        users.append(user_id)
    return users


async def _member_ids(live: Live, users: list[int]) -> list[int]:
    async with live.app.db.read() as session:
        rows = await session.execute(
            select(Member.telegram_user_id, Member.id).where(Member.telegram_user_id.in_(users))
        )
        ids = dict(rows.all())
    return [ids[user] for user in users]


async def _activity(
    live: Live, attended: list[int], starts_at: datetime, *, status: str = "closed"
) -> int:
    """An activity of 德胜街道 where `attended` (member ids) checked in, written directly
    (as tests/test_subsidy.py does: the activity service is not this test's)."""
    async with live.app.db.transaction() as session:
        street_id = await session.scalar(select(Street.id).where(Street.code == "DS"))
        activity = Activity(
            street_id=street_id, title="读书会", place="德胜街道工会服务站", starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=2), signup_deadline=starts_at - timedelta(days=1),
            capacity=100, confirmed=len(attended), status=status, created_by_name="联合会",
        )  # fmt: skip
        session.add(activity)
        await session.flush()
        for member_id in attended:
            session.add(ActivitySignup(activity_id=activity.id, member_id=member_id,
                                       status="confirmed", attended_at=starts_at))  # fmt: skip
        return activity.id


def _is_document_in(chat_id: int) -> Any:
    return lambda m: "document" in m and m["chat"]["id"] == chat_id


def _rows(data: bytes, sheet: str | None = None) -> list[tuple[Any, ...]]:
    book = load_workbook(io.BytesIO(data))
    page = book[sheet] if sheet else book.active
    return list(page.iter_rows(values_only=True))


def _fen(value: Any) -> int:
    """A money cell (yuan, two decimals) in fen."""
    return int(Decimal(str(value)) * 100)


# ---------------------------------------------------------------------------- the rules


async def test_who_may_act_on_a_streets_service_cards(world: World) -> None:
    cards = ServiceCardService(world.db, world.cipher)
    await world.admin.add_street("XJ", "新街口街道", CLI)
    await world.admin.add_staff(601, "审核员601", "street", "XJ", CLI)
    xj_id = next(s.id for s in await world.admin.streets() if s.code == "XJ")
    ds_user = await _world_member(world, 1, world.street_id, DS_STAFF)
    xj_user = await _world_member(world, 2, xj_id, XJ_STAFF)
    await cards.request(ds_user)
    await cards.request(xj_user)

    # Nobody but the street's staff and the district's: a stranger, another street's staff.
    for actor in (STRANGER, XJ_STAFF):
        with pytest.raises(NotAllowed):
            await cards.make_batch("DS", actor)
        with pytest.raises(NotAllowed):
            await cards.overview("DS", actor)
    with pytest.raises(NotAllowed):
        await cards.make_batch("XJ", DS_STAFF)
    overview = await cards.overview("DS", DS_STAFF)  # the refusals batched nothing
    assert overview.counts["requested"] == 1 and overview.batches == ()

    ds_batch = await cards.make_batch("DS", DS_STAFF)
    xj_batch = await cards.make_batch("XJ", FEDERATION)  # the district's staff: any street
    assert (ds_batch.number, xj_batch.number) == ("JK-DS-00001", "JK-XJ-00002")
    # Another street's batch is refused for a street's staff; a stranger learns nothing,
    # not even whether a batch exists.
    with pytest.raises(NotAllowed):
        await cards.mark(xj_batch.number, "sent", DS_STAFF)
    with pytest.raises(NotAllowed):
        await cards.batch_file(xj_batch.number, DS_STAFF)
    with pytest.raises(NotAllowed):
        await cards.mark(ds_batch.number, "sent", STRANGER)
    with pytest.raises(NotAllowed):
        await cards.mark("JK-DS-99999", "sent", STRANGER)
    with pytest.raises(ServiceCardRefused) as caught:
        await cards.mark("JK-DS-99999", "sent", DS_STAFF)
    assert caught.value.code == "batch"
    # Asked in a street's review group: only that street's batches, even for the district.
    with pytest.raises(ServiceCardRefused) as caught:
        await cards.mark(xj_batch.number, "sent", FEDERATION, street_ref="DS")
    assert caught.value.code == "street"

    assert await cards.mark(ds_batch.number, "sent", DS_STAFF, street_ref="DS") == 1
    assert await cards.mark(ds_batch.number, "arrived", Actor(502, "审核员502")) == 1
    number = (await cards.situation(ds_user)).member_number
    for actor in (STRANGER, XJ_STAFF):
        with pytest.raises(NotAllowed):
            await cards.collected(number, actor)
    with pytest.raises(ServiceCardRefused) as caught:
        await cards.collected(number, FEDERATION, street_ref="XJ")
    assert caught.value.code == "street"
    # A role withdrawn a moment ago already counts.
    await world.admin.remove_staff(503, CLI)
    with pytest.raises(NotAllowed):
        await cards.collected(number, Actor(503, "审核员503"))
    await cards.collected(number, DS_STAFF, street_ref="DS")

    # The file again: the same cards, masked the same way.
    again = await cards.batch_file(ds_batch.number, Actor(502, "审核员502"), street_ref="DS")
    assert _rows(again.workbook) == _rows(ds_batch.workbook)
    assert "*" in _rows(again.workbook)[1][5]
    async with world.db.read() as session:
        statuses = dict(
            (await session.execute(select(ServiceCardRequest.street_id,
                                          ServiceCardRequest.status))).all()
        )  # fmt: skip
        actions = sorted(
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.action.like("service_card.%"))
            )
        )
    assert statuses == {world.street_id: "collected", xj_id: "batched"}
    # Every refusal changed nothing and wrote nothing.
    assert actions == sorted([
        "service_card.requested", "service_card.requested", "service_card.batched",
        "service_card.batched", "service_card.sent", "service_card.arrived",
        "service_card.collected", "service_card.exported_again",
    ])  # fmt: skip


# ---------------------------------------------------------------------- in the review group


async def test_a_streets_staff_follow_the_card_in_their_group(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = live.worker(2401, "王五")
        data = WorkerData("王五", make_resident_id(240), "+8613900002401", "西城区老张早点铺")
        received = await worker.apply(live.point_code, data)
        application = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, application, since=0)
        await live.staff().press(card, "通过", "已通过")
        offer = await worker.say("/servicecard", "京卡")
        survey = await worker.press(offer, "申领会员服务卡", "可多选")
        await worker.press(survey, "完成", "已记录您的需求")  # type: ignore[arg-type]

        staff, colleague = live.staff(STAFF_IDS[0]), live.staff(STAFF_IDS[1])
        outsider = live.staff(OUTSIDER_ID)  # in the group, but not staff
        refused = await outsider.say("/servicecards", "只有", chat_id=REVIEW_GROUP)
        assert "导出新批次" not in str(refused.get("reply_markup"))
        overview = await staff.say("/servicecards", "会员服务卡", chat_id=REVIEW_GROUP)
        assert "等待报送：1" in overview["text"] and "没有未办结的批次" in overview["text"]

        # The outsider presses the button: refused, nothing exported.
        query = live.emu.press_button(OUTSIDER_ID, REVIEW_GROUP, overview["message_id"],
                                      find_button(overview, "导出新批次"))  # fmt: skip
        answer = await answer_of(live, query)
        assert "只有" in answer["text"] and answer["show_alert"]
        # Staff press it: the Excel file comes into the group, numbers masked.
        mark = live.emu.mark()
        await staff.press(overview, "导出新批次", wait=False)
        document = await live.emu.wait_for(_is_document_in(REVIEW_GROUP), since=mark)
        assert "JK-DS-00001" in document["caption"] and "已打码" in document["caption"]
        assert document["document"]["file_name"].endswith(".xlsx")
        rows = _rows(live.emu.file_bytes(document["document"]["file_id"]))
        assert rows[0][:3] == ("序号", "会员编号", "姓名") and len(rows) == 2
        member_number = rows[1][1]
        assert rows[1][2] == "王五" and member_number.startswith("DS-")
        assert "*" in rows[1][5] and rows[1][5] != make_resident_id(240)
        assert "*" in rows[1][6] and "13900002401" not in rows[1][6]
        await settle(live)
        edited = live.emu.message(REVIEW_GROUP, overview["message_id"])
        assert "已导出待报送：1" in edited["text"] and "JK-DS-00001 · 1 张" in edited["text"]
        assert "导出新批次" not in str(edited.get("reply_markup"))

        # Sent, arrived (the member is told), collected: one line each.
        sent = await colleague.say("/servicecards sent JK-DS-00001", "报送市总工会",
                                   chat_id=REVIEW_GROUP)  # fmt: skip
        assert "JK-DS-00001（1 张）" in sent["text"]
        mark = live.emu.mark()
        await staff.say("/servicecards arrived jk-ds-00001", "已通知会员", chat_id=REVIEW_GROUP)
        await live.emu.wait_for(worker.user_id, "已到达", since=mark, timeout=TIMEOUT)
        await outsider.say(f"/servicecards collected {member_number}", "只有", chat_id=REVIEW_GROUP)
        done = await staff.say(f"/servicecards collected {member_number.lower()}", "已领取",
                               chat_id=REVIEW_GROUP)  # fmt: skip
        assert member_number in done["text"]
        status = await worker.say("/status", "“四个一”会员服务：")
        assert "✅ 一张会员服务卡" in status["text"]

        # Bad input: a polite answer, nothing changes.
        for text, expected in (
            ("/servicecards sent JK-DS-00001", "不能办理"),
            ("/servicecards sent JK-DS-09999", "找不到批次"),
            ("/servicecards collected DS-2026-99999", "找不到会员编号"),
            (f"/servicecards collected {member_number}", "已经领取过"),
            ("/servicecards lost JK-DS-00001", "用法"),
            ("/servicecards sent", "用法"),
            ("/servicecards sent <b>JK</b>", "用法"),
        ):
            await staff.say(text, expected, chat_id=REVIEW_GROUP)
        # The file again, when the first one was lost on the way.
        again = await staff.say("/servicecards file JK-DS-00001", "重新发送", chat_id=REVIEW_GROUP)
        assert _rows(live.emu.file_bytes(again["document"]["file_id"]))[1][1] == member_number
        # Only in a street's review group.
        await live.staff(FEDERATION_ID).say("/servicecards", "只能在街道审核群",
                                            chat_id=FEDERATION_GROUP)  # fmt: skip
        final = await staff.say("/servicecards", "会员服务卡", chat_id=REVIEW_GROUP)
        assert "已领取：1" in final["text"] and "没有未办结的批次" in final["text"]
        assert "导出新批次" not in str(final.get("reply_markup"))
        async with live.app.db.read() as session:
            assert await session.scalar(select(func.count(ServiceCardBatch.id))) == 1
        assert not live.emu.internal_errors


async def test_two_presses_at_once_make_one_batch(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        cards: ServiceCardService = live.app.dispatcher["service_cards"]
        for user_id in await _live_members(live, 3):
            await cards.request(user_id)
        overview = await live.staff().say("/servicecards", "等待报送：3", chat_id=REVIEW_GROUP)
        button = find_button(overview, "导出新批次")
        mark = live.emu.mark()
        queries = [
            live.emu.press_button(user_id, REVIEW_GROUP, overview["message_id"], button)
            for user_id in STAFF_IDS[:2]
        ]
        answers = sorted([(await answer_of(live, q))["text"] for q in queries])
        await live.emu.wait_for(_is_document_in(REVIEW_GROUP), since=mark)
        await settle(live)
        # (Its number may be the second one taken on PostgreSQL, whose sequence the press
        # that found nothing also used.)
        assert "已导出批次 JK-DS-" in answers[0] and "（3 张）" in answers[0]
        assert "没有等待报送" in answers[1]
        documents = [m for m in live.emu.messages(REVIEW_GROUP) if "document" in m]
        assert len(documents) == 1
        assert len(_rows(live.emu.file_bytes(documents[0]["document"]["file_id"]))) == 4
        async with live.app.db.read() as session:
            batches = list(await session.scalars(select(ServiceCardBatch.id)))
            batched = list(await session.scalars(select(ServiceCardRequest.batch_id)))
        assert len(batches) == 1 and batched == batches * 3
        assert not live.emu.internal_errors


# ------------------------------------------------------------------ in the federation group


async def test_the_federation_sets_budgets_books_costs_and_sends_the_ledger(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path) as live:
        members = await _member_ids(live, await _live_members(live, 3))
        year = timefmt.local(utcnow()).year
        starts = datetime(year, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, in this year
        closed = await _activity(live, members, starts)
        second = await _activity(live, members, starts + timedelta(days=7))
        still_open = await _activity(live, members[:1], starts, status="open")
        federation = live.staff(FEDERATION_ID)

        # A street's staff member in the federation group may not: only federation staff.
        live.emu.set_member_status(FEDERATION_GROUP, STAFF_IDS[0], "member",
                                   by_user_id=FEDERATION_ID)  # fmt: skip
        street = live.staff(STAFF_IDS[0])
        for text in (f"/budget DS {year} 20000", "/budget", f"/book {closed} 300", "/ledger"):
            await street.say(text, "只有区总工会工作人员", chat_id=FEDERATION_GROUP)

        # Bad input: a polite answer, nothing changes.
        for text, expected in (
            (f"/budget XX {year} 100", "找不到街道"),
            (f"/budget DS {year} abc", "看不懂"),
            (f"/budget DS {year} 1.234", "看不懂"),
            (f"/budget DS {year} -5", "看不懂"),
            ("/budget DS 26 100", "年度"),
            ("/budget DS 2026", "用法"),
            ("/budget 1999", "年度"),
            ("/budget DS", "用法"),
            ("/book", "用法"),
            ("/book x 100", "用法"),
            (f"/book {closed}", "用法"),
            ("/book 99999999999999999999 100", "用法"),
            (f"/book {closed} 12元5", "看不懂"),
            ("/ledger 20x6", "用法"),
        ):
            await federation.say(text, expected, chat_id=FEDERATION_GROUP)
        async with live.app.db.read() as session:
            assert await session.scalar(select(func.count(SubsidyBudget.id))) == 0
            assert await session.scalar(select(func.count(SubsidyPosting.id))) == 0

        done = await federation.say(f"/budget 德胜街道 {year} 20,000", "已设置",
                                    chat_id=FEDERATION_GROUP)  # fmt: skip
        assert "20,000.00 元" in done["text"]
        booked = await federation.say(f"/book {closed} 300 场地费", "已记账",
                                      chat_id=FEDERATION_GROUP)  # fmt: skip
        assert "由 3 名签到会员分摊，每人 100.00 元" in booked["text"]
        assert "德胜街道：300.00 元" in booked["text"]
        for text, expected in (
            (f"/book {closed} 300", "已经记账 300.00 元"),
            (f"/book {still_open} 300", "还没有结束"),
            ("/book 99999 300", "找不到这项活动"),
            (f"/budget DS {year} 200", "不能低于"),
        ):
            await federation.say(text, expected, chat_id=FEDERATION_GROUP)
        # More than is left: refused whole, naming what is left.
        refused = await federation.say(f"/book {second} 20000", "未记账", chat_id=FEDERATION_GROUP)
        assert "只剩 19,700.00 元" in refused["text"] and "需要 20,000.00 元" in refused["text"]
        async with live.app.db.read() as session:
            assert await session.scalar(select(func.count(SubsidyPosting.id))) == 1

        report = await federation.say("/budget", f"{year} 年活动经费补贴",
                                      chat_id=FEDERATION_GROUP)  # fmt: skip
        assert "德胜街道：20,000.00 元 / 300.00 元 / 19,700.00 元 · 1 项 · 3 人次" in report["text"]
        mark = live.emu.mark()
        live.emu.send_text(FEDERATION_ID, f"/ledger {year}", FEDERATION_GROUP)
        document = await live.emu.wait_for(_is_document_in(FEDERATION_GROUP), since=mark)
        assert "台账" in document["caption"]
        data = live.emu.file_bytes(document["document"]["file_id"])
        details = _rows(data, "明细")[1:]
        assert len(details) == 3 and sum(_fen(row[7]) for row in details) == 300_00
        assert {row[6] for row in details} == set(await _numbers(live, members))
        by_street = {row[1]: row for row in _rows(data, "按街道")[1:]}
        subsidy: SubsidyService = live.app.dispatcher["subsidy"]
        figures = await subsidy.by_street(year)
        assert set(by_street) == {row.street for row in figures}
        for row in figures:  # the file agrees with the report, fen for fen
            sheet = by_street[row.street]
            assert sheet[0] == year
            assert [_fen(v) for v in sheet[2:5]] == [row.budget_fen, row.spent_fen,
                                                     row.remaining_fen]  # fmt: skip
            assert sheet[5:7] == (row.activities, row.attendees)
        assert [_fen(v) for v in by_street["德胜街道"][2:5]] == [20_000_00, 300_00, 19_700_00]
        assert not live.emu.internal_errors


async def _numbers(live: Live, member_ids: list[int]) -> list[str]:
    async with live.app.db.read() as session:
        return list(await session.scalars(select(Member.number).where(Member.id.in_(member_ids))))
