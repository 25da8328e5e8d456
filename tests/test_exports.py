"""The federation's and the streets' Excel exports (bot/exports) on a real database (both
engines), read back with openpyxl: each topic agrees with the rows, numbers are masked
unless the command line asks for them in full, a street gets its own rows only and its
staff nothing else, every export is audited without personal data; a streamed export of
3,000 members; /export through the bot in the review group and the federation group; the
command line end to end."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from bench.bench_export import add_members, resident_id
from bot.cli import main
from bot.exports import ExportRefused, ExportService
from bot.people import WorkerData
from bot.pii import LookupHasher, generate_key, mask_mobile, mask_resident_id, parse_key
from bot.services.audit import Actor
from bot.services.errors import NotAllowed, NotFound
from bot.services.founding import FoundingService
from bot.services.job_changes import JobChangeService
from bot.services.privacy import PrivacyService
from bot.services.subsidy import SubsidyService
from bot.xlsx import StreamedSheet, write_streamed
from models import (
    Activity,
    ActivitySignup,
    Application,
    AuditEntry,
    Enterprise,
    Member,
    UnionOrg,
)
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft, make_resident_id
from tests.live import FEDERATION_GROUP, FEDERATION_ID, OUTSIDER_ID, REVIEW_GROUP, live_bot
from tests.test_cli import write_config

STAFF = Actor(501, "审核员501")
XJ_STAFF = Actor(601, "审核员601")
FEDERATION = Actor(901, "联合会")
CLI = Actor.cli("test")
FORMULA = '=HYPERLINK("http://example.com","点我")'
TIMEOUT = 15.0


@pytest.fixture
def exports(world: World) -> ExportService:
    return ExportService(world.db, world.cipher, THRESHOLD)


async def _xj(world: World) -> int:
    """A second street, 新街口街道 (XJ), with its review group and one staff member."""
    await world.admin.add_street("XJ", "新街口街道", CLI)
    await world.admin.set_review_chat("XJ", -100501, CLI)
    await world.admin.add_staff(601, "审核员601", "street", "XJ", CLI)
    return next(s.id for s in await world.admin.streets() if s.code == "XJ")


async def _member(
    world: World, seq: int, *, employer: str = "北京字节跳动科技有限公司",
    street_id: int | None = None, actor: Actor = STAFF,
) -> str:  # fmt: skip
    """An approved member (user 9000 + seq) through intake and review; the member number."""
    draft = replace(make_draft(world, seq, employer), street_id=street_id or world.street_id)
    submitted = await world.intake.submit(9000 + seq, draft)
    async with world.db.read() as session:
        app_id = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    await world.review.approve(app_id, actor, None)
    async with world.db.read() as session:
        number = await session.scalar(select(Member.number).where(Member.application_id == app_id))
    assert number is not None
    return number


async def _book(exports: ExportService, topic: str, **kwargs: Any) -> Any:
    """The export read back (a workbook), written to memory as the dashboard will."""
    buffer = io.BytesIO()
    rows = await exports.write(topic, buffer, **{"actor": FEDERATION, **kwargs})
    book = load_workbook(io.BytesIO(buffer.getvalue()))
    book.rows_written = rows
    return book


def _rows(sheet: Any) -> list[dict[str, Any]]:
    headers = [c.value for c in sheet[1]]
    rows = sheet.iter_rows(min_row=2, values_only=True)
    return [dict(zip(headers, row, strict=True)) for row in rows]


def _cells(sheet: Any, header: str) -> list[Any]:
    """The cells (not values) of one column, the header left out."""
    index = [c.value for c in sheet[1]].index(header)
    return [row[index] for row in sheet.iter_rows(min_row=2)]


async def _audits(world: World) -> list[AuditEntry]:
    async with world.db.read() as session:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("export.%")).order_by(AuditEntry.id)
            )
        )


# ---------------------------------------------------------------------------- members


async def test_the_members_register_agrees_with_the_database(
    world: World, exports: ExportService, privacy: PrivacyService
) -> None:
    numbers = [await _member(world, seq) for seq in range(4)]
    formula = await _member(world, 4, employer=FORMULA)
    # 保留会籍, an ended membership (erased on request), and one in an enterprise union.
    jobs = JobChangeService(world.db, threshold=THRESHOLD, federation_chat_id=FEDERATION_CHAT)
    await jobs.keep(9001)
    await privacy.delete(9002, Actor(9002, "member"))
    async with world.db.transaction() as session:
        member = await session.scalar(select(Member).where(Member.number == numbers[3]))
        assert member is not None
        union = UnionOrg(kind="enterprise", name="北京字节跳动科技有限公司工会委员会",
                         enterprise_id=member.enterprise_id)  # fmt: skip
        session.add(union)
        await session.flush()
        await session.execute(
            update(Member).where(Member.id == member.id).values(union_org_id=union.id)
        )

    book = await _book(exports, "members")
    sheet = book["会员名册"]
    assert book.sheetnames == ["会员名册"] and sheet.freeze_panes == "A2"
    assert sheet["A1"].value == "会员编号" and sheet["A1"].font.b
    rows = {row["会员编号"]: row for row in _rows(sheet)}
    async with world.db.read() as session:
        in_db = set(await session.scalars(select(Member.number)))
    assert set(rows) == in_db and book.rows_written == len(in_db) == 5

    first = rows[numbers[0]]
    assert first["姓名"] == "张三" and first["性别"] == "男"
    assert first["身份证号"] == mask_resident_id(make_resident_id(0)) != make_resident_id(0)
    assert first["手机号"] == mask_mobile("+8613800000000") == "138****0000"
    assert first["所属工会"] == "德胜街道工会联合会" and first["街道"] == "德胜街道"
    assert first["状态"] == "在册" and first["保留会籍日期"] is None
    assert rows[numbers[1]]["状态"] == "保留" and rows[numbers[1]]["保留会籍日期"] is not None
    ended = rows[numbers[2]]
    assert ended["状态"] == "终止" and ended["终止日期"] is not None
    assert ended["身份证号"] == "" or ended["身份证号"] is None  # erased: nothing to show
    assert ended["姓名"] == "（已删除）" and ended["出生日期"] is None
    moved = rows[numbers[3]]
    assert moved["状态"] == "已转出" and moved["所属工会"] == "北京字节跳动科技有限公司工会委员会"

    birth = _cells(sheet, "出生日期")[0]
    assert birth.is_date and birth.value == datetime(1990, 5, 17)
    assert birth.number_format == "yyyy-mm-dd"
    joined = _cells(sheet, "入会日期")[0]
    assert joined.is_date and joined.number_format == "yyyy-mm-dd"
    employer = rows[formula]["工作单位"]
    assert employer.startswith("=HYPERLINK")  # the formula-like name stays text
    cell = next(c for c in _cells(sheet, "工作单位") if str(c.value).startswith("="))
    assert cell.data_type == "s" and cell.quotePrefix
    assert sheet.column_dimensions["A"].width >= len(numbers[0])


async def test_full_numbers_only_for_the_command_line_and_every_export_audited(
    world: World, exports: ExportService
) -> None:
    number = await _member(world, 7)
    book = await _book(exports, "members", actor=CLI, full_ids=True)
    (row,) = _rows(book.active)
    assert row["会员编号"] == number
    assert row["身份证号"] == make_resident_id(7) and row["手机号"] == "13800000007"
    with pytest.raises(NotAllowed):  # staff in chat never get full numbers
        await exports.write("members", io.BytesIO(), actor=FEDERATION, full_ids=True)
    with pytest.raises(ExportRefused) as refused:
        await exports.write("enterprises", io.BytesIO(), actor=CLI, full_ids=True)
    assert refused.value.code == "full_ids"
    with pytest.raises(ExportRefused):
        await exports.write("enterprises", io.BytesIO(), actor=CLI, year=2026)
    with pytest.raises(ExportRefused):
        await exports.write("people", io.BytesIO(), actor=CLI)

    await _book(exports, "applications")  # masked, by federation staff
    full, masked = await _audits(world)
    assert (full.action, full.actor_user_id) == ("export.members", None)
    assert full.subject_id == "district"
    assert full.after == {"rows": 1, "street": None, "full_ids": True, "year": None}
    assert (masked.action, masked.actor_user_id) == ("export.applications", 901)
    assert masked.after is not None and masked.after["rows"] == 1
    assert masked.after["full_ids"] is False
    for entry in (full, masked):  # who, what and how many; never a number or a name
        written = json.dumps([entry.before, entry.after, entry.subject_id], ensure_ascii=False)
        assert make_resident_id(7) not in written and "13800000007" not in written
        assert "张三" not in written


async def test_a_street_gets_its_own_rows_and_its_staff_nothing_else(
    world: World, exports: ExportService
) -> None:
    xj = await _xj(world)
    ds_numbers = {await _member(world, seq) for seq in range(2)}
    xj_number = await _member(world, 5, street_id=xj, actor=XJ_STAFF)

    book = await _book(exports, "members", actor=STAFF, street_id=world.street_id)
    assert {r["会员编号"] for r in _rows(book.active)} == ds_numbers
    assert all(r["街道"] == "德胜街道" for r in _rows(book.active))
    book = await _book(exports, "applications", actor=XJ_STAFF, street_id=xj)
    assert [r["会员编号"] for r in _rows(book.active)] == [xj_number]
    district = await _book(exports, "members")
    assert {r["会员编号"] for r in _rows(district.active)} == ds_numbers | {xj_number}

    for actor, street in ((STAFF, xj), (STAFF, None), (XJ_STAFF, world.street_id),
                          (Actor(777, "路人甲"), world.street_id)):  # fmt: skip
        with pytest.raises(NotAllowed):
            await exports.write("members", io.BytesIO(), actor=actor, street_id=street)
    with pytest.raises(NotFound):
        await exports.write("members", io.BytesIO(), actor=CLI, street_id=10_000)
    audited = await _audits(world)
    assert [(a.actor_user_id, a.subject_id) for a in audited] == [
        (501, "DS"),
        (601, "XJ"),
        (901, "district"),
    ]  # refusals export nothing and record nothing


# ---------------------------------------------------------------------------- the other topics


async def test_applications_enterprises_and_cases(world: World, exports: ExportService) -> None:
    for seq in range(3):
        await _member(world, seq)
    pending = await world.intake.submit(9100, make_draft(world, 100, employer=FORMULA))
    picked = await world.intake.submit(9102, replace(
        make_draft(world, 102), employer_typed="字节跳动知春路店", employer_branch="知春路店"
    ))  # fmt: skip
    rejected = await world.intake.submit(9101, make_draft(world, 101, employer="西城区老张早点铺"))
    async with world.db.read() as session:
        rejected_id = await session.scalar(
            select(Application.id).where(Application.number == rejected.number)
        )
    assert rejected_id is not None
    await world.review.reject(rejected_id, STAFF, "outside_area", None, None)

    sheet = (await _book(exports, "applications")).active
    rows = {row["申请编号"]: row for row in _rows(sheet)}
    async with world.db.read() as session:
        assert len(rows) == await session.scalar(select(func.count(Application.id))) == 6
    assert (rows[picked.number]["填写的工作单位"], rows[picked.number]["门店或分支"]) == (
        "字节跳动知春路店", "知春路店"
    )  # fmt: skip
    assert rows[picked.number]["企业"] == "北京字节跳动科技有限公司"
    assert rows[pending.number]["状态"] == "审核中" and rows[pending.number]["审核时间"] is None
    assert rows[pending.number]["填写的工作单位"].startswith("=HYPERLINK")
    assert rows[rejected.number]["状态"] == "未通过"
    assert rows[rejected.number]["未通过原因"] == "不属于本街道受理范围"
    assert rows[rejected.number]["审核人"] == "审核员501"
    assert rows[rejected.number]["身份证号"] == mask_resident_id(make_resident_id(101))
    approved = [r for r in rows.values() if r["状态"] == "已通过"]
    assert len(approved) == 3 and all(r["会员编号"] for r in approved)
    submitted = _cells(sheet, "提交时间")[0]
    assert submitted.is_date and submitted.number_format == "yyyy-mm-dd hh:mm"

    sheet = (await _book(exports, "enterprises")).active
    rows = {row["企业名称"]: row for row in _rows(sheet)}
    async with world.db.read() as session:
        listed = await session.scalar(
            select(func.count(Enterprise.id)).where(Enterprise.merged_into_id.is_(None))
        )
        counted = await session.scalar(
            select(Enterprise.member_count).where(Enterprise.name == "北京字节跳动科技有限公司")
        )
    assert len(rows) == listed == 3 and counted == 3
    firm = rows["北京字节跳动科技有限公司"]
    assert firm["单体会员"] == 3 and firm["建会门槛"] == THRESHOLD
    assert firm["进度"] == pytest.approx(3 / THRESHOLD) and firm["尚差人数"] == THRESHOLD - 3
    assert firm["已建会"] == "否" and firm["距首位会员天数"] == 0
    assert firm["首位会员入会日期"] is not None and firm["来源"] == "临时（职工填写）"
    count_cell = _cells(sheet, "单体会员")[0]
    assert count_cell.data_type == "n" and count_cell.value == 3  # the first row: most members
    assert _cells(sheet, "进度")[0].number_format == "0%"
    assert rows["西城区老张早点铺"]["单体会员"] == 0
    assert rows["西城区老张早点铺"]["首位会员入会日期"] is None

    async with world.db.read() as session:
        firm_id = await session.scalar(
            select(Enterprise.id).where(Enterprise.name == "北京字节跳动科技有限公司")
        )
    assert firm_id is not None
    founding = FoundingService(world.db, federation_chat_id=FEDERATION_CHAT)
    case = await founding.open(firm_id, FEDERATION)
    sheet = (await _book(exports, "cases")).active
    (row,) = _rows(sheet)
    assert row["编号"] == case.id and row["企业"] == "北京字节跳动科技有限公司"
    assert row["阶段"] == "跟进中" and row["暂缓"] == "否" and row["负责人"] == "联合会"
    assert row["本阶段天数"] == 0 and row["单体会员"] == 3
    assert _cells(sheet, "开始日期")[0].is_date
    # A street's cases are those of its enterprises.
    xj = await _xj(world)
    assert _rows((await _book(exports, "cases", street_id=xj)).active) == []


async def test_activities_attendance_and_the_ledger(world: World, exports: ExportService) -> None:
    xj = await _xj(world)
    numbers = [await _member(world, seq) for seq in range(3)]
    xj_number = await _member(world, 9, street_id=xj, actor=XJ_STAFF)
    async with world.db.read() as session:
        ids = dict((await session.execute(select(Member.number, Member.id))).all())
    starts = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    async with world.db.transaction() as session:
        activity = Activity(
            street_id=None, title="读书会", place="德胜街道工会服务站", starts_at=starts,
            ends_at=starts + timedelta(hours=2), signup_deadline=starts - timedelta(days=1),
            capacity=3, confirmed=3, status="closed", created_by_name="联合会",
        )  # fmt: skip
        own = Activity(
            street_id=world.street_id, title="=1+1 讲座", place="新街口社区", starts_at=starts,
            ends_at=starts + timedelta(hours=2), signup_deadline=starts - timedelta(days=1),
            capacity=5, confirmed=1, created_by_name="审核员501",
        )  # fmt: skip
        session.add_all([activity, own])
        await session.flush()
        for number in (numbers[0], numbers[1], xj_number):
            session.add(ActivitySignup(activity_id=activity.id, member_id=ids[number],
                                       status="confirmed", attended_at=starts))  # fmt: skip
        session.add(ActivitySignup(activity_id=activity.id, member_id=ids[numbers[2]],
                                   status="waiting"))  # fmt: skip
        session.add(ActivitySignup(activity_id=own.id, member_id=ids[numbers[2]],
                                   status="confirmed"))  # fmt: skip
        activity_id, own_id = activity.id, own.id

    book = await _book(exports, "activities")
    assert book.sheetnames == ["活动", "报名与签到"] and book.rows_written == 2 + 5
    listed = {row["活动编号"]: row for row in _rows(book["活动"])}
    district = listed[activity_id]
    assert (district["街道"], district["名额"], district["已确认"], district["候补"],
            district["已签到"], district["状态"]) == ("全区", 3, 3, 1, 3, "已结束")  # fmt: skip
    assert listed[own_id]["活动"] == "=1+1 讲座" and listed[own_id]["状态"] == "进行中"
    assert _cells(book["活动"], "开始时间")[0].is_date
    signups = _rows(book["报名与签到"])
    came = [r for r in signups if r["活动编号"] == activity_id and r["签到时间"] is not None]
    assert len(came) == district["已签到"]  # the figure agrees with the rows
    assert {r["会员编号"] for r in signups if r["报名状态"] == "候补"} == {numbers[2]}
    assert all(r["姓名"] == "张三" for r in signups)
    # A street's export: its own activities (a district-wide one counts every street).
    street = await _book(exports, "activities", actor=STAFF, street_id=world.street_id)
    assert [r["活动编号"] for r in _rows(street["活动"])] == [own_id]
    assert [r["活动编号"] for r in _rows(street["报名与签到"])] == [own_id]
    assert _rows((await _book(exports, "activities", year=2025))["活动"]) == []

    subsidy = SubsidyService(world.db)
    await subsidy.set_budget("DS", 2026, 100_000, FEDERATION)
    await subsidy.set_budget("XJ", 2026, 100_000, FEDERATION)
    await subsidy.book(activity_id, 30_000, FEDERATION, note="场地")
    book = await _book(exports, "ledger")
    assert book.rows_written == 3 and book.sheetnames == ["明细", "按街道", "按活动"]
    assert len(_rows(book["明细"])) == 3
    ds = await _book(exports, "ledger", actor=STAFF, street_id=world.street_id, year=2026)
    details = _rows(ds["明细"])
    assert ds.rows_written == len(details) == 2 and {r["街道"] for r in details} == {"德胜街道"}
    assert {r["会员编号"] for r in details} == {numbers[0], numbers[1]}
    assert [r["街道"] for r in _rows(ds["按街道"])] == ["德胜街道"]
    (part,) = _rows(ds["按活动"])
    assert part["参加人数"] == 2 and part["净记账（元）"] == pytest.approx(200.0)
    money = _cells(ds["明细"], "金额（元）")[0]
    assert money.data_type == "n" and money.number_format == "#,##0.00"
    with pytest.raises(NotAllowed):
        await exports.write("ledger", io.BytesIO(), actor=STAFF, street_id=xj)
    assert [a.subject_id for a in await _audits(world) if a.action == "export.ledger"] == [
        "district", "DS",
    ]  # fmt: skip


# ---------------------------------------------------------------------------- streaming


async def test_a_streamed_export_of_3000_members(
    world: World, exports: ExportService, tmp_path: Path
) -> None:
    await _xj(world)
    hasher = LookupHasher(parse_key(generate_key()))
    await add_members(world.db, world.cipher, hasher, "DS", 2_000, enterprises=20)
    await add_members(world.db, world.cipher, hasher, "XJ", 1_000, enterprises=10, start=2_000)
    seen: list[tuple[int, int]] = []
    target = tmp_path / "members.xlsx"
    rows = await exports.write(
        "members", target, actor=CLI, progress=lambda n, total: seen.append((n, total))
    )
    assert rows == 3_000
    assert [n for n, _ in seen] == list(range(1_000, 3_001, 1_000))  # a chunk at a time
    assert {total for _, total in seen} == {3_000}
    sheet = load_workbook(target, read_only=True)["会员名册"]
    numbers, streets, ids = [], set(), {}
    for number, *rest in sheet.iter_rows(min_row=2, values_only=True):
        numbers.append(number)
        streets.add(rest[7])
        ids[number] = rest[3]
    assert len(numbers) == 3_000 == len(set(numbers)) and numbers == sorted(numbers)
    assert streets == {"德胜街道", "新街口街道"}
    assert ids["DS-2026-000042"] == mask_resident_id(resident_id(42))
    assert ids["XJ-2026-002999"] == mask_resident_id(resident_id(2_999))

    street = io.BytesIO()
    assert await exports.write("members", street, actor=STAFF, street_id=world.street_id) == 2_000


async def test_a_sheet_past_excel_row_limit_goes_on_in_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.xlsx.MAX_ROWS", 1_001)  # 1,000 rows and the header a sheet
    chunks = [[(i, f"=x{i}", date(2026, 1, 1)) for i in range(start, start + 700)]
              for start in range(0, 2_100, 700)]  # fmt: skip
    buffer = io.BytesIO()
    counts = await write_streamed(buffer, [StreamedSheet("名册", ("编号", "备注", "日期"), chunks)])
    assert counts == (2_100,)
    book = load_workbook(io.BytesIO(buffer.getvalue()))
    assert book.sheetnames == ["名册", "名册 (2)", "名册 (3)"]
    assert [s.max_row for s in book.worksheets] == [1_001, 1_001, 101]
    last = book["名册 (3)"]
    assert last.freeze_panes == "A2" and last["A1"].value == "编号" and last["A1"].font.b
    assert last["A101"].value == 2_099 and last["B101"].data_type == "s"
    assert last["C101"].is_date


# ---------------------------------------------------------------------------- through the bot


async def test_export_in_the_review_group_and_the_federation_group(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = live.worker(2301, "王五")
        data = WorkerData("王五", make_resident_id(230), "+8613900002301", "西城区老张早点铺")
        received = await worker.apply(live.point_code, data)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        await live.staff().press(card, "通过", "已通过")

        mark = live.emu.mark()
        live.emu.send_text(501, "/export", REVIEW_GROUP)
        listing = await live.emu.wait_for(REVIEW_GROUP, "/export members", since=mark)
        assert "/export ledger" in listing["text"]

        mark = live.emu.mark()
        live.emu.send_text(501, "/export members", REVIEW_GROUP)
        sent = await live.emu.wait_for(
            lambda m: "document" in m and m["chat"]["id"] == REVIEW_GROUP,
            since=mark, timeout=TIMEOUT,
        )  # fmt: skip
        assert sent["document"]["file_name"].startswith("members-DS-")
        assert "1 行" in sent["caption"] and "隐去" in sent["caption"]
        book = load_workbook(io.BytesIO(live.emu.file_bytes(sent["document"]["file_id"])))
        (row,) = _rows(book["会员名册"])
        assert row["姓名"] == "王五" and row["街道"] == "德胜街道"
        assert row["身份证号"] == mask_resident_id(make_resident_id(230))
        assert row["手机号"] == "139****2301"

        mark = live.emu.mark()
        live.emu.send_text(OUTSIDER_ID, "/export members", REVIEW_GROUP)
        await live.emu.wait_for(REVIEW_GROUP, "工作人员可以导出", since=mark, timeout=TIMEOUT)

        mark = live.emu.mark()
        live.emu.send_text(FEDERATION_ID, "/export 企业", FEDERATION_GROUP)
        sent = await live.emu.wait_for(
            lambda m: "document" in m and m["chat"]["id"] == FEDERATION_GROUP,
            since=mark, timeout=TIMEOUT,
        )  # fmt: skip
        assert sent["document"]["file_name"].startswith("enterprises-district-")
        assert "全区" in sent["caption"]
        book = load_workbook(io.BytesIO(live.emu.file_bytes(sent["document"]["file_id"])))
        assert [r["企业名称"] for r in _rows(book.active)] == ["西城区老张早点铺"]
        async with live.app.db.read() as session:
            actions = list(
                await session.execute(
                    select(AuditEntry.action, AuditEntry.actor_user_id, AuditEntry.subject_id)
                    .where(AuditEntry.action.like("export.%"))
                    .order_by(AuditEntry.id)
                )
            )
        assert [tuple(a) for a in actions] == [
            ("export.members", 501, "DS"), ("export.enterprises", FEDERATION_ID, "district"),
        ]  # fmt: skip


# ---------------------------------------------------------------------------- command line


def test_the_command_line_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.app import load_keys
    from bot.config import load_settings
    from bot.db import Database

    config = write_config(tmp_path)
    for street in (("DS", "德胜街道"), ("XJ", "新街口街道")):
        assert main(["--config", str(config), "streets", "add", *street]) == 0
    settings = load_settings(config)
    keys = load_keys(settings)

    async def seed() -> None:
        db = Database(settings.database.url)
        await add_members(db, keys.cipher, keys.hasher, "DS", 250, enterprises=5)
        await add_members(db, keys.cipher, keys.hasher, "XJ", 50, enterprises=5, start=250)
        await db.dispose()

    asyncio.run(seed())
    capsys.readouterr()
    monkeypatch.setattr("bot.export_cli.PROGRESS_EVERY", 100)
    monkeypatch.setattr("bot.exports.CHUNK", 100)  # rows come from the database 100 at a time

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--config", str(config), "export", *args])
        out, err = capsys.readouterr()
        return code, out, err

    target = tmp_path / "members.xlsx"
    code, out, err = run("members", "--xlsx", str(target))
    assert code == 0, err
    assert out.startswith("会员名册 (全区): 300 rows written to") and "masked" in out
    assert "members: 100 of 300 rows" in err and "members: 300 of 300 rows" in err
    sheet = load_workbook(target)["会员名册"]
    assert sheet.max_row == 301 and sheet["E2"].value == mask_resident_id(resident_id(0))
    assert not list(tmp_path.glob(".*.part"))  # the partial file became the file

    code, out, _ = run("members", "--xlsx", str(target), "--street", "XJ", "--full-ids")
    assert code == 0 and "50 rows" in out and "full id" in out
    sheet = load_workbook(target)["会员名册"]
    assert sheet.max_row == 51 and sheet["E2"].value == resident_id(250)
    assert {row[8] for row in sheet.iter_rows(min_row=2, values_only=True)} == {"新街口街道"}

    code, out, err = run("enterprises", "--xlsx", str(tmp_path / "e.xlsx"), "--street", "ds")
    assert code == 0 and "5 rows" in out
    code, out, err = run("cases", "--xlsx", str(tmp_path / "c.xlsx"), "--year", "2026")
    assert code == 0 and "0 rows" in out
    assert load_workbook(tmp_path / "c.xlsx").active.max_row == 1  # the headers alone

    for args, said in (
        (("members", "--xlsx", str(target), "--street", "XX"), "street XX"),
        (("ledger", "--xlsx", str(target), "--full-ids"), "--full-ids is for members"),
        (("enterprises", "--xlsx", str(target), "--year", "2026"), "cannot be limited"),
        (("members", "--xlsx", str(tmp_path / "no" / "m.xlsx")), "no folder"),
    ):
        code, out, err = run(*args)
        assert code == 2 and out == "", err
        assert err.startswith("unionbot: ") and err.count("\n") == 1 and said in err
    assert load_workbook(target)["会员名册"].max_row == 51  # a refusal leaves the file alone

    async def audited() -> list[tuple[Any, ...]]:
        db = Database(settings.database.url)
        async with db.read() as session:
            rows = await session.execute(
                select(AuditEntry.action, AuditEntry.actor_name, AuditEntry.subject_id,
                       AuditEntry.after)
                .where(AuditEntry.action.like("export.%"))
                .order_by(AuditEntry.id)
            )  # fmt: skip
            found = [tuple(row) for row in rows]
        await db.dispose()
        return found

    assert asyncio.run(audited()) == [
        ("export.members", "cli", "district",
         {"rows": 300, "street": None, "full_ids": False, "year": None}),
        ("export.members", "cli", "XJ",
         {"rows": 50, "street": "XJ", "full_ids": True, "year": None}),
        ("export.enterprises", "cli", "DS",
         {"rows": 5, "street": "DS", "full_ids": False, "year": None}),
        ("export.cases", "cli", "district",
         {"rows": 0, "street": None, "full_ids": False, "year": 2026}),
    ]  # fmt: skip
