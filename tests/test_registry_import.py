"""Importing the enterprise registry from real .xlsx and .csv files made here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.services.registry import decode, import_registry
from bot.validation import uscc_check_char
from models import AuditEntry, Enterprise, Member
from tests.conftest import World
from tests.test_merge import approve_one


def uscc(body17: str) -> str:
    return body17 + uscc_check_char(body17)


def wrong_check(code: str) -> str:
    return code[:17] + ("0" if code[17] != "0" else "1")


BYTEDANCE = uscc("91110108MA01B2C3D")
HUACHUANG = uscc("91110102MA02C3D4E")
COOPERATIVE = uscc("N2110102MA03D4E5F")  # 农业 registration authority: starts with a letter
OTHER_BODY = uscc("Y1110102MA04E5F6G")  # "other" authority
QINGFENG = uscc("91110102MA05F6G7H")

CHINESE = ["统一社会信用代码", "企业名称", "所属街道", "地址", "职工人数", "是否建会"]
ENGLISH = ["USCC", "Name", "Street", "Address", "Employees", "Has_Union"]


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["西城区非公企业法人数据库（2026 年 11 月）"])  # a title row above the header
    sheet.append(CHINESE)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str) -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_report(path: Path) -> list[list[str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


async def enterprises(world: World) -> dict[str, Enterprise]:
    async with world.db.read() as session:
        return {e.name: e for e in await session.scalars(select(Enterprise))}


async def snapshot(world: World) -> dict[str, tuple[object, ...]]:
    """What an idempotent re-import must leave exactly as it was, write times included."""
    return {
        name: (e.id, e.uscc, e.street_id, e.employees, e.has_union, e.address, e.updated_at)
        for name, e in (await enterprises(world)).items()
    }


XLSX_ROWS: list[list[object]] = [
    [
        BYTEDANCE,
        "北京字节跳动科技有限公司",
        "德胜街道",
        "北京市西城区新街口外大街 1 号",
        1200,
        "是",
    ],
    [HUACHUANG, "北京华创信息技术有限公司", "德胜", None, "35", "否"],
    [COOPERATIVE, "北京德胜农民专业合作社", "DS", "", 12.0, None],
    [OTHER_BODY, "北京某某基金会", "", None, None, "no"],
    [wrong_check(QINGFENG), "北京庆丰餐饮管理有限公司", "德胜街道", None, 80, "是"],  # line 7
    [uscc("91110102MA06G7H8J"), "", "德胜街道", None, 5, "否"],  # line 8: no name
    [uscc("91110102MA07H8J9K"), "北京数码港有限公司", "德胜街道", None, "约五十", "否"],  # 9
    [None, "北京无码小店有限公司", "德胜街道", None, "1,200人", "yes"],
    [911101085923662400, "北京数字存成数字有限公司", "德胜街道", None, 3, "否"],  # line 11
    [uscc("91110102MA08J9K0L"), "北京外区公司有限公司", "什刹海街道", None, 3, "否"],
    [None, None, None, None, None, None],  # blank rows are skipped silently
    [HUACHUANG, "北京华创信息技术有限公司", "德胜街道", None, 35, "否"],  # line 14: duplicate
]


async def test_xlsx_import_summary_report_and_reimport(world: World, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "registry.xlsx", XLSX_ROWS)
    calls: list[tuple[int, int]] = []
    summary = await import_registry(world.db, path, progress=lambda d, t: calls.append((d, t)))

    assert (summary.rows, summary.added, summary.updated, summary.unchanged) == (11, 7, 0, 0)
    assert summary.rejected == 4
    assert summary.unknown_streets == ["什刹海街道"]
    assert calls and calls[-1] == (7, 7)

    assert summary.report_path == tmp_path / "registry.rejected.csv"
    report = read_report(summary.report_path)
    assert report[0][:3] == ["行号 line", "原因 reason", "统一社会信用代码"]
    reasons = {int(line): reason for line, reason, *_ in report[1:]}
    assert sorted(reasons) == [7, 8, 11, 14]
    assert "check character" in reasons[7]
    assert "missing name" in reasons[8]
    assert "as a number" in reasons[11]
    assert "duplicate USCC" in reasons[14]
    # An unreadable employee count is a warning: the enterprise is imported without it.
    assert len(summary.warnings) == 1
    line, warning = summary.warnings[0]
    assert line == 9 and "约五十" in warning and "left empty" in warning
    assert summary.warnings_path == tmp_path / "registry.warnings.csv"

    stored = await enterprises(world)
    bytedance = stored["北京字节跳动科技有限公司"]
    assert bytedance.uscc == BYTEDANCE and bytedance.street_id == world.street_id
    assert (bytedance.employees, bytedance.has_union, bytedance.provisional) == (1200, True, False)
    assert bytedance.name_key == "字节跳动科技"
    assert stored["北京德胜农民专业合作社"].uscc == COOPERATIVE
    assert stored["北京德胜农民专业合作社"].employees == 12
    assert stored["北京某某基金会"].uscc == OTHER_BODY
    assert stored["北京华创信息技术有限公司"].street_id == world.street_id  # "德胜" → 德胜街道
    assert stored["北京无码小店有限公司"].employees == 1200
    assert stored["北京外区公司有限公司"].street_id is None
    digital = stored["北京数码港有限公司"]
    assert (digital.uscc, digital.employees) == (uscc("91110102MA07H8J9K"), None)

    before = await snapshot(world)
    again = await import_registry(world.db, path)
    assert (again.added, again.updated, again.unchanged, again.rejected) == (0, 0, 7, 4)
    assert await snapshot(world) == before

    async with world.db.read() as session:
        audits = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "registry.imported")
            )
        )
    assert [a.after["added"] for a in audits] == [7, 0]


async def test_gbk_csv_with_english_headers(world: World, tmp_path: Path) -> None:
    rows = [
        [BYTEDANCE, "北京字节跳动科技有限公司", "德胜街道", "新街口外大街 1 号", "1200", "yes"],
        [wrong_check(HUACHUANG), "北京华创信息技术有限公司", "德胜街道", "", "35", "no"],
        [COOPERATIVE, "北京德胜农民专业合作社", "DS", "", "", "1"],
        ["", "北京无码小店有限公司", "德胜街道", "", "many", "0"],
        ["", "北京无码小店二号有限公司", "德胜街道", "", "8", "也许"],
    ]
    path = write_csv(tmp_path / "registry-gbk.csv", ENGLISH, rows, "gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really GBK

    summary = await import_registry(world.db, path)
    assert (summary.added, summary.rejected) == (4, 1)
    report = read_report(tmp_path / "registry-gbk.rejected.csv")
    assert report[0][2:] == ENGLISH
    assert [row[0] for row in report[1:]] == ["3"]
    assert report[1][3] == "北京华创信息技术有限公司"  # the original cells, readable
    assert [line for line, _ in summary.warnings] == [5, 6]
    assert "many" in summary.warnings[0][1] and "has_union" in summary.warnings[1][1]
    warnings = read_report(tmp_path / "registry-gbk.warnings.csv")
    assert [row[0] for row in warnings[1:]] == ["5", "6"]

    stored = await enterprises(world)
    assert stored["北京字节跳动科技有限公司"].has_union is True
    assert stored["北京德胜农民专业合作社"].uscc == COOPERATIVE
    assert stored["北京无码小店有限公司"].employees is None
    assert stored["北京无码小店二号有限公司"].employees == 8

    again = await import_registry(world.db, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)


async def test_utf8_bom_csv_updates_and_adopts_provisional(world: World, tmp_path: Path) -> None:
    # Workers already named two employers that are not in the registry yet.
    for seq in range(3):
        await approve_one(world, seq, "字节跳动（北京）科技有限公司")
    await approve_one(world, 10, "庆丰餐饮管理")
    first = write_csv(
        tmp_path / "first.csv",
        CHINESE,
        [[HUACHUANG, "北京华创信息技术有限公司", "德胜街道", "", "35", "否"]],
        "utf-8-sig",
    )
    assert (await import_registry(world.db, first)).added == 1
    assert not (tmp_path / "first.rejected.csv").exists()

    rows = [
        [BYTEDANCE, "北京字节跳动科技有限公司", "德胜街道", "", "1200", "是"],  # adopts
        [HUACHUANG, "北京华创信息技术有限公司", "德胜街道", "西城区 2 号", "40", "是"],  # update
        ["", "北京庆丰餐饮管理有限公司", "德胜街道", "", "80", "否"],  # adopts, no USCC
        [QINGFENG[:10], "北京坏码有限公司", "德胜街道", "", "1", "否"],  # too short
    ]
    path = write_csv(tmp_path / "registry.csv", CHINESE, rows, "utf-8-sig")
    summary = await import_registry(world.db, path)
    assert (summary.added, summary.updated, summary.adopted, summary.rejected) == (0, 3, 2, 1)

    stored = await enterprises(world)
    bytedance = stored["北京字节跳动科技有限公司"]
    assert (bytedance.uscc, bytedance.provisional, bytedance.member_count) == (BYTEDANCE, False, 3)
    qingfeng = stored["北京庆丰餐饮管理有限公司"]
    assert (qingfeng.uscc, qingfeng.provisional, qingfeng.member_count) == (None, False, 1)
    async with world.db.read() as session:
        members = await session.scalar(
            select(func.count(Member.id)).where(Member.enterprise_id == bytedance.id)
        )
    assert members == 3
    huachuang = stored["北京华创信息技术有限公司"]
    assert (huachuang.employees, huachuang.has_union, huachuang.address) == (
        40,
        True,
        "西城区 2 号",
    )

    again = await import_registry(world.db, path)
    assert (again.added, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 1)


async def test_a_file_without_a_name_column_is_refused(world: World, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", ["foo", "bar"], [["1", "2"]], "utf-8")
    with pytest.raises(ValueError, match="企业名称/name"):
        await import_registry(world.db, path)
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.7")
    with pytest.raises(ValueError, match=r"xlsx or \.csv"):
        await import_registry(world.db, tmp_path / "bad.pdf")
    with pytest.raises(ValueError, match="no such file"):
        await import_registry(world.db, tmp_path / "missing.csv")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"not a readable \.xlsx"):
        await import_registry(world.db, tmp_path / "broken.xlsx")


def test_decode_detects_the_encoding() -> None:
    text = "企业名称\n北京字节跳动科技有限公司\n"
    assert decode(text.encode("utf-8")) == text
    assert decode(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode(text.encode("gbk")) == text
    assert decode(text.encode("utf-16")) == text


async def test_thousands_of_rows_import_in_seconds(world: World, tmp_path: Path) -> None:
    rows = [
        [uscc(f"91110102MA{n:07d}"), f"北京测试{n}号科技有限公司", "德胜街道", "", n, "否"]
        for n in range(3000)
    ]
    path = write_csv(tmp_path / "big.csv", CHINESE, rows, "utf-8-sig")
    summary = await import_registry(world.db, path)
    assert summary.added == 3000
    again = await import_registry(world.db, path)
    assert again.unchanged == 3000
