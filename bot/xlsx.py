"""Excel files for people: Chinese headers in bold on a frozen first row, columns wide
enough for their contents, dates as dates and numbers as numbers, and text that Excel
would run as a formula (=, +, -, @ at the start) kept as text; money (a Decimal of yuan)
with two decimals and thousands separators; a `Percent` as a percentage.

`workbook` builds a small file in memory; `write_streamed` writes a large one (100,000
rows and more) row chunk by row chunk in openpyxl's write-only mode, with the same
formatting, holding one chunk at a time."""

from __future__ import annotations

import asyncio
import io
import re
import time
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from os import PathLike
from typing import Any, BinaryIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_WIDTH = 60
# What XML 1.0 cannot hold (openpyxl refuses it): control characters but tab, LF and CR.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class Percent(float):
    """A share (0.48) that Excel shows as a percentage (48%), and keeps as a number."""

    __slots__ = ()


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
    elif isinstance(value, Percent):
        cell.number_format = "0%"
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


# ---------------------------------------------------------------------------- streamed

# Excel's rows per sheet, the header included: a longer sheet goes on in "<title> (2)".
MAX_ROWS = 1_048_576
Chunk = Sequence[Sequence[Any]]


@dataclass(frozen=True)
class StreamedSheet:
    """A sheet whose rows come in chunks (say 1,000 rows from a database cursor), from an
    async or a plain iterable. `convert`, if given, turns a chunk of raw rows into the
    rows written (decrypting, masking, labelling); it runs in a worker thread together
    with the writing, so neither holds up the event loop."""

    title: str
    headers: Sequence[str]
    chunks: AsyncIterable[Chunk] | Iterable[Chunk]
    convert: Callable[[Chunk], Chunk] | None = None


async def write_streamed(
    out: str | PathLike[str] | BinaryIO,
    sheets: Sequence[StreamedSheet],
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, ...]:
    """Write `sheets` to `out` (a path or a binary file) in openpyxl's write-only mode:
    each chunk is formatted and written to the sheet's temporary file as it arrives, so
    memory holds one chunk, not the workbook. Column widths follow the header and the
    first chunk. `progress(rows)` is called with the running total after each chunk.
    Returns the number of rows (the headers not counted) written per sheet."""
    book = await asyncio.to_thread(_write_only_book)  # importing openpyxl takes ~0.15 s
    counts: list[int] = []
    written = 0
    for sheet in sheets:
        pages = _Pages(book, sheet)
        async for chunk in _chunks(sheet.chunks):
            written += await asyncio.to_thread(pages.append, chunk)
            if progress is not None:
                progress(written)
        pages.finish()
        counts.append(pages.rows)
    await asyncio.to_thread(book.save, out)
    return tuple(counts)


def _write_only_book() -> Any:
    from openpyxl import Workbook

    return Workbook(write_only=True)


async def _chunks(chunks: AsyncIterable[Chunk] | Iterable[Chunk]) -> AsyncIterator[Chunk]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


class _Pages:
    """One StreamedSheet as written: its page, and the next one past Excel's row limit."""

    def __init__(self, book: Any, sheet: StreamedSheet) -> None:
        self.book, self.sheet = book, sheet
        self.page: Any = None
        self.widths: list[int] = []
        self.rows = 0  # of the whole sheet
        self.on_page = 0  # of the current page
        self.pages = 0

    def append(self, chunk: Chunk) -> int:
        """Convert and write one chunk (in a worker thread); the number of rows."""
        rows = self.sheet.convert(chunk) if self.sheet.convert is not None else chunk
        if self.page is None:
            self.widths = _widths(self.sheet.headers, rows)
            self._new_page()
        for index, values in enumerate(rows):
            if index % 50 == 49:
                # Hand the GIL over now and then: the event loop otherwise waits up to
                # ~50 ms for it while this thread writes; with this, under ~15 ms.
                time.sleep(0)
            if self.on_page == MAX_ROWS - 1:
                self._new_page()
            self.page.append([_streamed_cell(self.page, value) for value in values])
            self.on_page += 1
        self.rows += len(rows)
        return len(rows)

    def finish(self) -> None:
        if self.page is None:  # no rows: the headers alone
            self.widths = _widths(self.sheet.headers, ())
            self._new_page()

    def _new_page(self) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self.pages += 1
        title = self.sheet.title[:31]  # Excel's limit for a sheet name
        if self.pages > 1:
            suffix = f" ({self.pages})"
            title = self.sheet.title[: 31 - len(suffix)] + suffix
        page = self.book.create_sheet(title)
        # Write-only: widths and panes before the first row.
        for index, width in enumerate(self.widths, start=1):
            page.column_dimensions[get_column_letter(index)].width = min(width + 2, MAX_WIDTH)
        page.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for title_text in self.sheet.headers:
            cell = WriteOnlyCell(page, title_text)
            cell.font = bold
            header.append(cell)
        page.append(header)
        self.page, self.on_page = page, 0


def _widths(headers: Sequence[str], rows: Chunk) -> list[int]:
    widths = [_width(h) for h in headers]
    for values in rows:
        for index, value in enumerate(values[: len(widths)]):
            widths[index] = max(widths[index], _width(value))
    return widths


def _streamed_cell(page: Any, value: Any) -> Any:
    """A value as the write-only sheet takes it: a formatted cell where `_format` would
    format one, the plain value otherwise (cheaper)."""
    if value is None or (isinstance(value, bool | int | float) and not isinstance(value, Percent)):
        return value
    if isinstance(value, str):
        value = _ILLEGAL.sub("", value)  # control characters Excel's XML cannot hold
        if not value.startswith(FORMULA_STARTS):
            return value
    elif not isinstance(value, date | Decimal | Percent):
        return value
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(page, _plain(value))
    _format(cell)
    return cell
