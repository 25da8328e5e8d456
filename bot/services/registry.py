"""Importing the district's registry of non-public enterprises (非公企业法人数据库).

The file is parsed and checked first (off the event loop), then written in batches, each
batch one short write transaction: a few thousand rows take well under a second and the
bot's own writes are never held up for long. The USCC is the key; rows without one are
matched by normalised name and street. A registry row adopts a provisional enterprise
(one created from workers' free text) with the same normalised name, members and all.
Importing the same file again changes nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Row, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.services.audit import Actor, record
from bot.services.enterprises import ENTERPRISES_TOPIC, name_key
from bot.validation import Code, ValidationError, clean_text, validate_uscc
from models import Enterprise, Street
from models.base import utcnow

Progress = Callable[[int, int], None]
BATCH = 500
NAME_MAX = 120
ADDRESS_MAX = 200
HEADER_SEARCH_ROWS = 10  # registry exports often carry a title row above the headers

# Header spellings, compared after NFKC, lower-casing and removing spaces and "_".
HEADERS: dict[str, frozenset[str]] = {
    "uscc": frozenset({"统一社会信用代码", "社会信用代码", "信用代码", "uscc", "creditcode"}),
    "name": frozenset({"企业名称", "名称", "单位名称", "企业名", "name", "enterprisename"}),
    "street": frozenset({"所属街道", "街道", "街道办事处", "street"}),
    "address": frozenset({"地址", "注册地址", "经营地址", "住所", "address"}),
    "employees": frozenset({"职工人数", "从业人数", "员工人数", "employees", "staff"}),
    "has_union": frozenset({"是否建会", "建会", "已建会", "hasunion", "union"}),
}
_YES = frozenset({"是", "已建", "已建会", "有", "yes", "y", "true", "1", "√", "✓"})
_NO = frozenset({"否", "未建", "未建会", "无", "no", "n", "false", "0", "×", "✗"})


@dataclass
class ImportSummary:
    rows: int = 0
    added: int = 0
    updated: int = 0  # including provisional enterprises adopted by a registry row
    unchanged: int = 0
    rejected: int = 0
    adopted: int = 0
    report_path: Path | None = None
    # Street names in the file that match no configured street; rows imported without one.
    unknown_streets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegistryRow:
    line: int
    name: str
    key: str
    uscc: str | None
    street: str | None
    address: str | None
    employees: int | None
    has_union: bool | None


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str
    cells: tuple[str, ...]


class RowError(ValueError):
    """One row cannot be imported; the message goes into the report."""


@dataclass
class ParsedFile:
    header: list[str]
    rows: list[RegistryRow]
    rejected: list[Rejected]


# ---------------------------------------------------------------------------- entry point


async def import_registry(
    db: Database,
    path: Path,
    *,
    progress: Progress | None = None,
    actor: Actor | None = None,
) -> ImportSummary:
    """Import an .xlsx or .csv registry file; see the module docstring."""
    path = Path(path)
    parsed = await asyncio.to_thread(parse_file, path)
    summary = ImportSummary(rows=len(parsed.rows) + len(parsed.rejected))
    rejected = list(parsed.rejected)
    streets = await _street_ids(db)
    unknown: set[str] = set()
    claimed: set[int] = set()  # enterprises already matched by an earlier row
    done = 0
    for batch in _batches(parsed.rows, BATCH):
        async with db.transaction() as session:
            await _apply(session, batch, streets, unknown, claimed, summary)
            Database.flag(session, ENTERPRISES_TOPIC)
        done += len(batch)
        if progress is not None:
            progress(done, len(parsed.rows))
    summary.rejected = len(rejected)
    summary.unknown_streets = sorted(unknown)
    summary.report_path = await asyncio.to_thread(write_report, path, parsed.header, rejected)
    async with db.transaction() as session:
        await record(
            session,
            actor or Actor.cli(),
            "registry.imported",
            "registry",
            path.name[:40],
            after={
                "added": summary.added,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "rejected": summary.rejected,
            },
        )
    return summary


def _batches(rows: Sequence[RegistryRow], size: int) -> Iterator[Sequence[RegistryRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# ---------------------------------------------------------------------------- reading


def parse_file(path: Path) -> ParsedFile:
    """Read and check every row; raises ValueError (one clear line) for an unusable file."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        table = _xlsx_rows(path)
    elif suffix in (".csv", ".txt"):
        table = _csv_rows(path)
    else:
        raise ValueError(f"{path.name}: expected an .xlsx or .csv file")
    return _parse_table(path, table)


def _xlsx_rows(path: Path) -> list[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise ValueError(f"{path.name}: not a readable .xlsx file ({error})") from None
    try:
        sheet = workbook.worksheets[0]
        return [
            (number, list(values))
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else GBK
    (read as GB 18030, its superset, so rare characters in names survive)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError("the file is neither UTF-8 nor GBK text") from None


def _csv_rows(path: Path) -> list[tuple[int, list[Any]]]:
    try:
        text = decode(path.read_bytes())
    except ValueError as error:
        raise ValueError(f"{path.name}: {error}") from None
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[Any]]] = []
    start = 1
    for cells in reader:
        rows.append((start, cells))
        start = reader.line_num + 1  # a quoted cell may span lines
    return rows


def _header_key(cell: object) -> str:
    text = unicodedata.normalize("NFKC", str(cell or "")).strip().lower()
    return "".join(ch for ch in text if not ch.isspace() and ch not in "_-*:：")


def _columns(cells: Sequence[Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = _header_key(cell)
        for field_name, spellings in HEADERS.items():
            if key in spellings and field_name not in found:
                found[field_name] = index
    return found


def _find_header(path: Path, table: list[tuple[int, list[Any]]]) -> tuple[int, dict[str, int]]:
    for position, (_line, cells) in enumerate(table[:HEADER_SEARCH_ROWS]):
        columns = _columns(cells)
        if "name" in columns:
            return position, columns
    raise ValueError(
        f"{path.name}: no header row with 企业名称/name in the first {HEADER_SEARCH_ROWS} rows"
    )


def _parse_table(path: Path, table: list[tuple[int, list[Any]]]) -> ParsedFile:
    position, columns = _find_header(path, table)
    header = [_text(cell) for cell in table[position][1]]
    parsed = ParsedFile(header, [], [])
    seen_uscc: dict[str, int] = {}
    seen_name: dict[tuple[str, str | None], int] = {}
    for line, cells in table[position + 1 :]:
        if all(_text(cell) == "" for cell in cells):
            continue
        try:
            row = parse_row(line, cells, columns)
            _check_duplicate(row, seen_uscc, seen_name)
        except RowError as error:
            parsed.rejected.append(Rejected(line, str(error), tuple(_text(c) for c in cells)))
            continue
        parsed.rows.append(row)
    return parsed


def _check_duplicate(
    row: RegistryRow, seen_uscc: dict[str, int], seen_name: dict[tuple[str, str | None], int]
) -> None:
    if row.uscc is not None:
        if row.uscc in seen_uscc:
            raise RowError(f"统一社会信用代码与第 {seen_uscc[row.uscc]} 行重复 / duplicate USCC")
        seen_uscc[row.uscc] = row.line
        return
    if (row.key, row.street) in seen_name:
        line = seen_name[(row.key, row.street)]
        raise RowError(f"企业名称和街道与第 {line} 行重复 / duplicate name and street")
    seen_name[(row.key, row.street)] = row.line


# ---------------------------------------------------------------------------- one row


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _cell(cells: Sequence[Any], columns: dict[str, int], name: str) -> Any:
    index = columns.get(name)
    return cells[index] if index is not None and index < len(cells) else None


def parse_row(line: int, cells: Sequence[Any], columns: dict[str, int]) -> RegistryRow:
    name = _name(_cell(cells, columns, "name"))
    return RegistryRow(
        line=line,
        name=name,
        key=name_key(name),
        uscc=_uscc(_cell(cells, columns, "uscc")),
        street=_text(_cell(cells, columns, "street")) or None,
        address=_address(_cell(cells, columns, "address")),
        employees=_employees(_cell(cells, columns, "employees")),
        has_union=_has_union(_cell(cells, columns, "has_union")),
    )


def _name(cell: object) -> str:
    try:
        name = clean_text(_text(cell), NAME_MAX)
    except ValidationError as error:
        if error.code == Code.TEXT_TOO_LONG:
            raise RowError(f"企业名称超过 {NAME_MAX} 字 / name too long") from None
        raise RowError("缺少企业名称 / missing name") from None
    # Registered names use full-width brackets; one form keeps re-imports unchanged.
    return name.replace("(", "（").replace(")", "）")


def _uscc(cell: object) -> str | None:
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        # An 18-digit number loses its last digits as an Excel number.
        raise RowError(
            "统一社会信用代码被存成了数字，请把该列设为文本 / USCC stored as a number; "
            "format the column as text"
        )
    text = _text(cell)
    if not text:
        return None
    try:
        return validate_uscc(text)
    except ValidationError as error:
        if error.code == Code.USCC_CHECKSUM:
            raise RowError(
                f"统一社会信用代码校验位错误 / USCC check character is wrong: {text}"
            ) from None
        raise RowError(
            f"统一社会信用代码格式错误 / USCC must be 18 digits or capital letters: {text}"
        ) from None


def _address(cell: object) -> str | None:
    text = " ".join(_text(cell).split())
    if len(text) > ADDRESS_MAX:
        raise RowError(f"地址超过 {ADDRESS_MAX} 字 / address too long")
    return text or None


def _employees(cell: object) -> int | None:
    if cell is None or isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        value = cell
    elif isinstance(cell, float) and cell.is_integer():
        value = int(cell)
    else:
        text = unicodedata.normalize("NFKC", _text(cell)).replace(",", "").removesuffix("人")
        if not text:
            return None
        if not text.isdigit():
            raise RowError(f"职工人数不是整数 / employees is not a whole number: {_text(cell)}")
        value = int(text)
    if value < 0 or value > 10_000_000:
        raise RowError(f"职工人数不合理 / implausible number of employees: {value}")
    return value


def _has_union(cell: object) -> bool | None:
    if cell is None:
        return None
    if isinstance(cell, bool):
        return cell
    text = unicodedata.normalize("NFKC", _text(cell)).lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise RowError(f"是否建会应为 是/否 / has_union must be yes or no: {_text(cell)}")


# ---------------------------------------------------------------------------- writing

_COLUMNS = ("id", "name", "name_key", "uscc", "street_id", "provisional", "address")
_COLUMNS += ("employees", "has_union", "merged_into_id")
ENTERPRISES = Enterprise.__table__


async def _street_ids(db: Database) -> dict[str, int]:
    """Street names and codes as registry files spell them: 德胜街道, 德胜, DS."""
    async with db.read() as session:
        streets = list(await session.execute(select(Street.id, Street.code, Street.name)))
    found: dict[str, int] = {}
    for street_id, code, name in streets:
        for spelling in (code, name, name.removesuffix("街道"), name.removesuffix("街道办事处")):
            found.setdefault(_header_key(spelling), street_id)
    return found


async def _existing(session: AsyncSession, batch: Sequence[RegistryRow]) -> list[Row]:
    usccs = {row.uscc for row in batch if row.uscc}
    keys = {row.key for row in batch}
    columns = [ENTERPRISES.c[name] for name in _COLUMNS]
    condition = or_(
        ENTERPRISES.c.uscc.in_(usccs),
        and_(ENTERPRISES.c.name_key.in_(keys), ENTERPRISES.c.merged_into_id.is_(None)),
    )
    result = await session.execute(select(*columns).where(condition).order_by(ENTERPRISES.c.id))
    return list(result)


def _find(
    row: RegistryRow, street_id: int | None, existing: Iterable[Row], claimed: set[int]
) -> tuple[Row | None, bool]:
    """(the enterprise this row describes, whether a provisional one is adopted)."""
    free = [e for e in existing if e.id not in claimed]
    if row.uscc is not None:
        for enterprise in free:
            if enterprise.uscc == row.uscc:
                return enterprise, False
    same_name = [e for e in free if e.name_key == row.key and e.merged_into_id is None]
    for enterprise in same_name:  # imported earlier, perhaps still without a USCC
        registered_here = not enterprise.provisional and enterprise.street_id == street_id
        if registered_here and (row.uscc is None or enterprise.uscc is None):
            return enterprise, False
    for enterprise in same_name:
        if enterprise.provisional and enterprise.uscc is None:
            return enterprise, True
    return None, False


def _values(row: RegistryRow, street_id: int | None, current: Row | None) -> dict[str, Any]:
    """The columns the row sets; an empty cell keeps what is stored."""

    def keep(value: Any, column: str, default: Any) -> Any:
        if value is not None:
            return value
        return getattr(current, column) if current is not None else default

    return {
        "name": row.name,
        "name_key": row.key,
        "uscc": keep(row.uscc, "uscc", None),
        "street_id": keep(street_id, "street_id", None),
        "provisional": False,
        "address": keep(row.address, "address", None),
        "employees": keep(row.employees, "employees", None),
        "has_union": keep(row.has_union, "has_union", False),
    }


async def _apply(
    session: AsyncSession,
    batch: Sequence[RegistryRow],
    streets: dict[str, int],
    unknown: set[str],
    claimed: set[int],
    summary: ImportSummary,
) -> None:
    existing = await _existing(session, batch)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    now = utcnow()
    for row in batch:
        street_id = None
        if row.street is not None:
            street_id = streets.get(_header_key(row.street))
            if street_id is None:
                unknown.add(row.street)
        current, adopted = _find(row, street_id, existing, claimed)
        values = _values(row, street_id, current)
        if current is None:
            extra = {"status": "active", "member_count": 0, "created_at": now, "updated_at": now}
            inserts.append(values | extra)
            summary.added += 1
            continue
        claimed.add(current.id)
        if all(getattr(current, column) == value for column, value in values.items()):
            summary.unchanged += 1
            continue
        updates.append(values | {"_id": current.id, "updated_at": now})
        summary.updated += 1
        summary.adopted += adopted
    if inserts:
        await session.execute(insert(ENTERPRISES), inserts)
    if updates:
        statement = (
            update(ENTERPRISES)
            .where(ENTERPRISES.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in updates[0] if name != "_id"})
        )
        await session.execute(statement, updates)


# ---------------------------------------------------------------------------- report


def report_path_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected.csv")


def write_report(path: Path, header: list[str], rejected: list[Rejected]) -> Path | None:
    """The rejected rows next to the input, UTF-8 with BOM so Excel shows the Chinese."""
    report = report_path_for(path)
    if not rejected:
        report.unlink(missing_ok=True)  # a report from an earlier run would mislead
        return None
    with report.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["行号 line", "原因 reason", *header])
        for item in rejected:
            writer.writerow([item.line, item.reason, *item.cells])
    return report
