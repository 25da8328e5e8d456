"""The registry import finds columns by the headers districts really use, says which column
became what and which were ignored, refuses a file whose required columns are missing
before writing anything, and treats an unreadable optional value as a warning."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.services.registry import FileRefused, import_registry, parse_row
from tests.conftest import World
from tests.engines import Store
from tests.test_cli import run, write_config
from tests.test_registry_import import BYTEDANCE, COOPERATIVE, HUACHUANG, QINGFENG, enterprises

DISTRICT_HEADERS = [
    "序号",
    "单位详细名称",
    "统一社会信用代码（18位）",
    "法定代表人",
    "所在街道（乡镇）",
    "注册地址",
    "从业人员期末人数",
    "是否建立工会",
]
DISTRICT_ROWS: list[list[object]] = [
    [
        1,
        "北京字节跳动科技有限公司",
        BYTEDANCE,
        "张一鸣",
        "德胜街道",
        "新街口外大街 1 号",
        1200,
        "是",
    ],
    [2, "北京华创信息技术有限公司", HUACHUANG, "李四", "德胜街道", None, "约40人", "否"],
    [3, "北京德胜农民专业合作社", COOPERATIVE, "王五", "德胜", "", "若干", "未建"],
]


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["2026年西城区法人单位名录"])  # title rows above the header, as exported
    sheet.append(["填报单位：区统计局"])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def write_gbk_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="gbk") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def test_the_districts_own_headers_are_recognised(world: World, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "名录.xlsx", DISTRICT_HEADERS, DISTRICT_ROWS)
    summary = await import_registry(world.db, path)

    assert summary.columns == [
        ("单位详细名称", "name"),
        ("统一社会信用代码（18位）", "uscc"),
        ("所在街道（乡镇）", "street"),
        ("注册地址", "address"),
        ("从业人员期末人数", "employees"),
        ("是否建立工会", "has_union"),
    ]
    assert summary.ignored == ["序号", "法定代表人"]
    assert (summary.added, summary.rejected) == (3, 0)

    stored = await enterprises(world)
    bytedance = stored["北京字节跳动科技有限公司"]
    assert (bytedance.uscc, bytedance.street_id, bytedance.employees, bytedance.has_union) == (
        BYTEDANCE,
        world.street_id,
        1200,
        True,
    )
    assert bytedance.address == "新街口外大街 1 号"
    huachuang = stored["北京华创信息技术有限公司"]
    assert (huachuang.uscc, huachuang.employees, huachuang.has_union) == (HUACHUANG, 40, False)
    cooperative = stored["北京德胜农民专业合作社"]
    assert (cooperative.uscc, cooperative.employees) == (COOPERATIVE, None)

    assert [(line, "约40人" in text, "读作 40" in text) for line, text in summary.warnings[:1]] == [
        (5, True, True)
    ]
    assert summary.warnings[1][0] == 6 and "若干" in summary.warnings[1][1]
    assert len(summary.warnings) == 2

    again = await import_registry(world.db, path)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


GBK_HEADERS = ["企业名称(全称)", "社会信用代码", "街道", "经营地址", "职工人数（人）", "已建会"]


async def test_other_spellings_in_a_gbk_csv(world: World, tmp_path: Path) -> None:
    rows = [
        ["北京字节跳动科技有限公司", BYTEDANCE, "德胜街道", "新街口外大街 1 号", "1,200", "是"],
        ["北京庆丰餐饮管理有限公司", QINGFENG, "DS", "", "80人", "否"],
    ]
    path = write_gbk_csv(tmp_path / "registry.csv", GBK_HEADERS, rows)
    summary = await import_registry(world.db, path)
    assert [field for _, field in summary.columns] == [
        "name",
        "uscc",
        "street",
        "address",
        "employees",
        "has_union",
    ]
    assert summary.ignored == [] and summary.warnings == []
    stored = await enterprises(world)
    assert stored["北京字节跳动科技有限公司"].employees == 1200
    qingfeng = stored["北京庆丰餐饮管理有限公司"]
    assert (qingfeng.uscc, qingfeng.street_id, qingfeng.employees) == (
        QINGFENG,
        world.street_id,
        80,
    )


async def test_a_second_column_for_the_same_field_is_reported_as_ignored(
    world: World, tmp_path: Path
) -> None:
    header = ["企业名称", "统一社会信用代码", "注册地址", "经营地址"]
    rows = [["北京字节跳动科技有限公司", BYTEDANCE, "注册在此", "经营在彼"]]
    summary = await import_registry(world.db, write_gbk_csv(tmp_path / "r.csv", header, rows))
    assert ("注册地址", "address") in summary.columns
    assert summary.ignored == ["经营地址"]
    assert (await enterprises(world))["北京字节跳动科技有限公司"].address == "注册在此"


async def test_a_file_without_a_recognisable_uscc_column_is_refused_before_anything(
    world: World, store: Store, tmp_path: Path
) -> None:
    header = ["单位详细名称", "机构代码", "所在街道（乡镇）", "从业人员期末人数"]
    rows = [["北京字节跳动科技有限公司", BYTEDANCE, "德胜街道", 1200]]
    path = write_xlsx(tmp_path / "changed.xlsx", header, rows)
    with pytest.raises(FileRefused) as caught:
        await import_registry(world.db, path)
    message = str(caught.value)
    assert "统一社会信用代码" in message and "机构代码" in message
    assert "--without-uscc" in message and "Nothing was imported" in message
    assert store.scalar("SELECT count(*) FROM enterprise") == 0
    assert store.scalar("SELECT count(*) FROM audit_log WHERE action = 'registry.imported'") == 0
    assert not (tmp_path / "changed.rejected.csv").exists()

    # Asked for explicitly, it imports by name and street and says what it ignored.
    summary = await import_registry(world.db, path, require_uscc=False)
    assert summary.added == 1 and summary.ignored == ["机构代码"]
    assert (await enterprises(world))["北京字节跳动科技有限公司"].uscc is None


async def test_a_file_without_a_name_column_names_what_it_saw(
    world: World, store: Store, tmp_path: Path
) -> None:
    header = ["纳税人名字", "统一社会信用代码"]
    path = write_gbk_csv(tmp_path / "r.csv", header, [["北京某公司", BYTEDANCE]])
    with pytest.raises(FileRefused) as caught:
        await import_registry(world.db, path)
    assert "企业名称/name" in str(caught.value) and "纳税人名字" in str(caught.value)
    assert store.scalar("SELECT count(*) FROM enterprise") == 0


@pytest.mark.parametrize(
    ("cell", "expected", "warned"),
    [
        (40, 40, False),
        (12.0, 12, False),
        ("40", 40, False),
        ("40人", 40, False),
        ("1,200", 1200, False),
        ("１２０", 120, False),  # full-width digits
        ("约40人", 40, True),
        ("40余人", 40, True),
        ("30-40人", None, True),
        ("约五十", None, True),
        ("12.5", None, True),
        ("-3", None, True),
        ("", None, False),
        (None, None, False),
    ],
)
def test_employee_counts_are_read_when_a_number_can_be_read(
    cell: object, expected: int | None, warned: bool
) -> None:
    notes: list[str] = []
    row = parse_row(2, ["北京某某有限公司", cell], {"name": 0, "employees": 1}, notes)
    assert row.employees == expected
    assert bool(notes) == warned, notes


@pytest.fixture
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("UNIONBOT__"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("_clean_environment")
def test_the_command_shows_the_columns_ignored_columns_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    path = write_xlsx(tmp_path / "名录.xlsx", DISTRICT_HEADERS, DISTRICT_ROWS)
    code, out, err = run(capsys, config, "enterprises", "import", str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        "columns: 单位详细名称 → name, 统一社会信用代码（18位） → uscc, 所在街道（乡镇） → street, "
        "注册地址 → address, 从业人员期末人数 → employees, 是否建立工会 → has_union"
    )
    assert lines[1] == "ignored columns: 序号, 法定代表人"
    assert lines[2].startswith("3 rows: 3 added") and lines[2].endswith("2 warnings")
    assert lines[3].startswith("  line 5: 职工人数“约40人”读作 40")
    assert f"{tmp_path / '名录.warnings.csv'}" in out

    broken = write_xlsx(tmp_path / "broken.xlsx", ["单位详细名称", "代码"], [["某公司", "x"]])
    code, out, err = run(capsys, config, "enterprises", "import", str(broken))
    assert code == 2 and out == ""
    assert err.startswith("unionbot: broken.xlsx: no column for 统一社会信用代码")
    assert err.count("\n") == 1
    code, out, err = run(capsys, config, "enterprises", "import", str(broken), "--without-uscc")
    assert code == 0 and "ignored columns: 代码" in out
