"""Excel files for people: Chinese headers in bold on a frozen first row, columns wide
enough for their contents, dates as dates and numbers as numbers, and text that Excel
would run as a formula (=, +, -, @ at the start) kept as text; money (a Decimal of yuan)
with two decimals and thousands separators."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_WIDTH = 60


@dataclass(frozen=True)
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


def workbook(sheets: Sequence[Sheet]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for sheet in sheets:
        page = book.create_sheet(sheet.title[:31])  # Excel's limit for a sheet name
        page.append(list(sheet.headers))
        for cell in page[1]:
            cell.font = bold
        widths = [_width(h) for h in sheet.headers]
        for values in sheet.rows:
            page.append([_plain(v) for v in values])
            for index, value in enumerate(values):
                widths[index] = max(widths[index], _width(value))
        for row in page.iter_rows(min_row=2):
            for cell in row:
                _format(cell)
        for index, width in enumerate(widths, start=1):
            page.column_dimensions[page.cell(1, index).column_letter].width = min(
                width + 2, MAX_WIDTH
            )
        page.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    # Excel has no time zones: a moment is written as Beijing wall-clock time.
    if isinstance(value, datetime) and value.tzinfo is not None:
        from bot.timefmt import local

        return local(value).replace(tzinfo=None)
    return value


def _format(cell: Any) -> None:
    value = cell.value
    if isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm"
    elif isinstance(value, date):
        cell.number_format = "yyyy-mm-dd"
    elif isinstance(value, Decimal):  # money in yuan (bot.money.decimal_yuan)
        cell.number_format = "#,##0.00"
    elif isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"  # never a formula
        cell.quotePrefix = True  # and still text when someone edits it in Excel


def _width(value: Any) -> int:
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
