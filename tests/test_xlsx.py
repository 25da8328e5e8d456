"""Excel files for people (bot/xlsx.py), read back with openpyxl."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook

from bot.xlsx import Sheet, workbook

HEADERS = ("会员编号", "姓名", "入会日期", "转入时间", "人数", "备注")


def test_headers_dates_numbers_widths_and_no_formulas() -> None:
    data = workbook(
        [
            Sheet(
                "会员名册",
                HEADERS,
                [
                    ("DS-2026-00001", "张三", date(2026, 3, 1),
                     datetime(2026, 11, 30, 16, 30, tzinfo=UTC), 12, "=HYPERLINK(\"x\",\"y\")"),
                    ("DS-2026-00002", "李四", date(2026, 3, 2), None, 3, "+1-2"),
                ],
            )
        ]
    )  # fmt: skip
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "会员名册" and sheet.freeze_panes == "A2"
    assert tuple(c.value for c in sheet[1]) == HEADERS
    assert sheet["A1"].font.b
    assert sheet["C2"].value == datetime(2026, 3, 1) and sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet["D2"].value == datetime(2026, 12, 1, 0, 30)  # Beijing time
    assert sheet["E2"].value == 12 and sheet["E2"].data_type == "n"
    for cell in (sheet["F2"], sheet["F3"]):  # text that Excel would run stays text
        assert cell.data_type == "s" and cell.quotePrefix
    assert sheet.column_dimensions["A"].width >= len("DS-2026-00001")
