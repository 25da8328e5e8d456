"""Importing the district's registry of non-public enterprises (非公企业法人数据库).

The file is parsed and checked first (off the event loop), then written in batches, each
batch one short write transaction: a few thousand rows take well under a second and the
bot's own writes are never held up for long. The USCC is the key; rows without one are
matched by normalised name and street. A registry row adopts a provisional enterprise
(one created from workers' free text) with the same normalised name, members and all.
Importing the same file again changes nothing.

Districts export their registries with many spellings of the same header (单位详细名称,
统一社会信用代码（18位）, 所在街道（乡镇）…); the common ones are recognised, the summary says
which column became what and which were ignored, and a file whose required columns cannot
be found is refused before anything is written. An unreadable value in an optional column
(约40人, 也许) is a warning, not a rejected enterprise: the number is taken when one can be
read, otherwise the value is left empty.

Optional columns of other names (别名, 英文名称, 品牌…; all of them are read, a cell may list
several separated by ；/、) become the enterprise's registry aliases, which the matcher
finds it by: each import of an enterprise replaces them with the file's, while aliases
added or accepted by staff stay. An alias that another active enterprise has, or that a
row above listed, is left out with a warning. A file without such a column leaves stored
aliases alone.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.changes import ENTERPRISES_TOPIC
from bot.db import Database
from bot.services.audit import Actor, record
from bot.services.enterprises import (
    ALIAS_MAX,
    ALIASES,
    alias_key,
    alias_owners,
    name_key,
    split_aliases,
)
from bot.validation import Code, ValidationError, clean_text, validate_uscc
from models import Enterprise, Street
from models.base import utcnow

Progress = Callable[[int, int], None]
BATCH = 500
NAME_MAX = 120
ADDRESS_MAX = 200
UNION_NAME_MAX = 120
UNION_CONTACT_MAX = 100
HEADER_SEARCH_ROWS = 10  # registry exports often carry a title row above the headers

# Header spellings, compared after NFKC, lower-casing, and removing spaces, "_", "*" and
# notes in brackets ("统一社会信用代码（18位）" → "统一社会信用代码").
HEADERS: dict[str, frozenset[str]] = {
    "uscc": frozenset(
        {"统一社会信用代码", "社会信用代码", "信用代码", "统一信用代码", "统一代码",
         "uscc", "creditcode", "unifiedsocialcreditcode"}
    ),
    "name": frozenset(
        {"企业名称", "名称", "单位名称", "企业名", "单位详细名称", "企业详细名称", "单位全称",
         "企业全称", "法人单位名称", "法人单位详细名称", "企业单位名称", "name", "enterprisename",
         "companyname", "enterprise", "company"}
    ),
    "street": frozenset(
        {"所属街道", "所在街道", "街道", "街道办事处", "所属街道办事处", "所在街道办事处",
         "街道乡镇", "街乡", "所属街乡", "所在街乡", "所属街乡镇", "所在街乡镇", "街乡镇",
         "乡镇街道", "所在乡镇街道", "所属乡镇街道", "street"}
    ),
    "address": frozenset(
        {"地址", "注册地址", "经营地址", "住所", "详细地址", "单位地址", "企业地址", "办公地址",
         "生产经营地址", "注册地", "住所地", "单位详细地址", "address"}
    ),
    "employees": frozenset(
        {"职工人数", "从业人数", "员工人数", "从业人员", "从业人员期末人数", "从业人员数",
         "期末从业人数", "期末从业人员", "期末从业人员数", "职工总数", "职工数", "员工数",
         "在职职工人数", "年末从业人员", "年末从业人数", "人数", "employees", "staff",
         "headcount"}
    ),
    "has_union": frozenset(
        {"是否建会", "建会", "已建会", "是否建立工会", "是否已建会", "是否建工会", "是否已建工会",
         "是否已建立工会", "建会情况", "有无工会", "是否有工会", "hasunion", "union"}
    ),
    # The enterprise's own union: where its workers are sent to join.
    "union_name": frozenset(
        {"工会名称", "企业工会名称", "工会全称", "基层工会名称", "单位工会名称", "unionname"}
    ),
    "union_contact": frozenset(
        {"工会联系人", "工会联系方式", "工会联系电话", "工会电话", "工会联系人电话",
         "工会联系人及电话", "工会联系人及联系方式", "unioncontact"}
    ),
    # Other names workers use (brands, store and English names); every such column is read.
    "aliases": frozenset(
        {"别名", "其他名称", "英文名称", "英文名", "品牌", "品牌名称", "alias", "aliases",
         "othernames", "englishname", "brand", "brandname"}
    ),
}  # fmt: skip
MULTI_COLUMN = frozenset({"aliases"})  # fields read from every column with their header
REQUIRED = ("name", "uscc")
# How the summary names each field, and how a refusal names a missing one.
FIELD_LABELS = {
    "uscc": "统一社会信用代码 uscc",
    "name": "企业名称 name",
    "street": "所属街道 street",
    "address": "地址 address",
    "employees": "职工人数 employees",
    "has_union": "是否建会 has_union",
    "union_name": "工会名称 union_name",
    "union_contact": "工会联系方式 union_contact",
    "aliases": "别名 aliases",
}
_NOTES = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|〔[^〕]*〕|<[^>]*>")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YES = frozenset({"是", "已建", "已建会", "有", "yes", "y", "true", "1", "√", "✓"})
_NO = frozenset({"否", "未建", "未建会", "无", "no", "n", "false", "0", "×", "✗"})
_NO_ALIAS = frozenset({"无", "暂无", "没有", "none", "null"})  # placeholders, not names


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
    # (header as in the file, field) for each column used; headers of columns not used.
    columns: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    # (line, message): values left empty or read in a way worth checking; rows imported.
    warnings: list[tuple[int, str]] = field(default_factory=list)
    warnings_path: Path | None = None
    # Registry aliases written and taken away (a file with a column of other names).
    aliases_added: int = 0
    aliases_removed: int = 0


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
    union_name: str | None = None
    union_contact: str | None = None
    # Other names; None when the file has no such column (the stored ones are kept).
    aliases: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str
    cells: tuple[str, ...]


class RowError(ValueError):
    """One row cannot be imported; the message goes into the report."""


class FileRefused(ValueError):
    """The file cannot be imported at all (one line, for the administrator)."""


@dataclass(frozen=True)
class ColumnPlan:
    """Which column of the file feeds which field."""

    fields: dict[str, int]  # field → column index
    used: tuple[tuple[str, str], ...]  # (header, field)
    ignored: tuple[str, ...]  # headers of columns no field uses
    aliases: tuple[int, ...] = ()  # every column of other names


@dataclass
class ParsedFile:
    header: list[str]
    rows: list[RegistryRow]
    rejected: list[Rejected]
    plan: ColumnPlan | None = None
    warnings: list[tuple[int, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------- entry point


async def import_registry(
    db: Database,
    path: Path,
    *,
    progress: Progress | None = None,
    actor: Actor | None = None,
    require_uscc: bool = True,
) -> ImportSummary:
    """Import an .xlsx or .csv registry file; see the module docstring. Without
    `require_uscc` a file with no USCC column is imported by name and street."""
    path = Path(path)
    parsed = await asyncio.to_thread(parse_file, path, require_uscc=require_uscc)
    summary = ImportSummary(rows=len(parsed.rows) + len(parsed.rejected))
    if parsed.plan is not None:
        summary.columns = list(parsed.plan.used)
        summary.ignored = list(parsed.plan.ignored)
    summary.warnings = list(parsed.warnings)
    rejected = list(parsed.rejected)
    by = (actor or Actor.cli()).name
    streets = await _street_ids(db)
    unknown: set[str] = set()
    claimed: set[int] = set()  # enterprises already matched by an earlier row
    done = 0
    for batch in _batches(parsed.rows, BATCH):
        async with db.transaction() as session:
            owners = await _apply(session, batch, streets, unknown, claimed, summary)
            await _apply_aliases(session, owners, by, summary)
            Database.flag(session, ENTERPRISES_TOPIC)
        done += len(batch)
        if progress is not None:
            progress(done, len(parsed.rows))
    summary.rejected = len(rejected)
    summary.unknown_streets = sorted(unknown)
    summary.report_path = await asyncio.to_thread(write_report, path, parsed.header, rejected)
    summary.warnings.sort(key=lambda warning: warning[0])
    summary.warnings_path = await asyncio.to_thread(write_warnings, path, summary.warnings)
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
                "warnings": len(summary.warnings),
                **_alias_counts(parsed.plan, summary),
            },
        )
    return summary


def _alias_counts(plan: ColumnPlan | None, summary: ImportSummary) -> dict[str, int]:
    """For the audit entry, when the file has other names."""
    if plan is None or not plan.aliases:
        return {}
    return {"aliases_added": summary.aliases_added, "aliases_removed": summary.aliases_removed}


def _batches(rows: Sequence[RegistryRow], size: int) -> Iterator[Sequence[RegistryRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# ---------------------------------------------------------------------------- reading


def parse_file(path: Path, *, require_uscc: bool = True) -> ParsedFile:
    """Read and check every row; raises ValueError (one clear line) for an unusable file."""
    if not path.is_file():
        raise FileRefused(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        table = _xlsx_rows(path)
    elif suffix in (".csv", ".txt"):
        table = _csv_rows(path)
    elif suffix in (".xls", ".et", ".wps"):
        raise FileRefused(f"{path.name}: save it as .xlsx (Excel 2007 or later) or .csv first")
    else:
        raise FileRefused(f"{path.name}: expected an .xlsx or .csv file")
    required = REQUIRED if require_uscc else tuple(f for f in REQUIRED if f != "uscc")
    return _parse_table(path, table, required)


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


def _plain_key(cell: object) -> str:
    """A spelling compared loosely: NFKC, lower case, no spaces, "_", "-", "*" or colons."""
    text = unicodedata.normalize("NFKC", str(cell or "")).strip().lower()
    return "".join(ch for ch in text if not ch.isspace() and ch not in "_-*:：")


def _header_key(cell: object) -> str:
    """A header compared loosely, notes in brackets dropped: 统一社会信用代码（18位）."""
    text = unicodedata.normalize("NFKC", str(cell or ""))
    return _plain_key(_NOTES.sub("", text)) or _plain_key(text)


def plan_columns(cells: Sequence[Any]) -> ColumnPlan:
    fields: dict[str, int] = {}
    used: list[tuple[str, str]] = []
    ignored: list[str] = []
    aliases: list[int] = []
    for index, cell in enumerate(cells):
        header = _text(cell)
        key = _header_key(cell)
        found = next((name for name, spellings in HEADERS.items() if key in spellings), None)
        if found in MULTI_COLUMN:
            aliases.append(index)
            used.append((header, found))
        elif found is not None and found not in fields:
            fields[found] = index
            used.append((header, found))
        elif header:  # a second column for a field, or one no field knows
            ignored.append(header)
    return ColumnPlan(fields, tuple(used), tuple(ignored), tuple(aliases))


def _find_header(
    path: Path, table: list[tuple[int, list[Any]]], required: Sequence[str]
) -> tuple[int, ColumnPlan]:
    """The first row (of the first few: exports carry title rows) that names the
    enterprise; refused with the reason when a required column is not there."""
    for position, (line, cells) in enumerate(table[:HEADER_SEARCH_ROWS]):
        plan = plan_columns(cells)
        if "name" not in plan.fields:
            continue
        missing = [name for name in required if name not in plan.fields]
        if missing:
            wanted = ", ".join(FIELD_LABELS[name] for name in missing)
            headers = ", ".join(h for h in (_text(c) for c in cells) if h) or "none"
            hint = (
                "; or give --without-uscc to match by name and street" if "uscc" in missing else ""
            )
            raise FileRefused(
                f"{path.name}: no column for {wanted} in the header row (line {line}: "
                f"{headers}); rename that column{hint}. Nothing was imported"
            )
        return position, plan
    rows = [
        (line, [h for h in map(_text, cells) if h]) for line, cells in table[:HEADER_SEARCH_ROWS]
    ]
    widest = max(rows, key=lambda row: len(row[1]), default=(0, []))
    seen = (
        f"; the widest of them (line {widest[0]}) holds: {', '.join(widest[1])}"
        if widest[1]
        else "; the file is empty"
    )
    raise FileRefused(
        f"{path.name}: no header row with 企业名称/name in the first {HEADER_SEARCH_ROWS} rows"
        f"{seen}. Nothing was imported"
    )


def _parse_table(
    path: Path, table: list[tuple[int, list[Any]]], required: Sequence[str] = REQUIRED
) -> ParsedFile:
    position, plan = _find_header(path, table, required)
    header = [_text(cell) for cell in table[position][1]]
    parsed = ParsedFile(header, [], [], plan)
    seen_uscc: dict[str, int] = {}
    seen_name: dict[tuple[str, str | None], int] = {}
    for line, cells in table[position + 1 :]:
        if all(_text(cell) == "" for cell in cells):
            continue
        notes: list[str] = []
        try:
            row = parse_row(line, cells, plan.fields, notes, alias_columns=plan.aliases)
            _check_duplicate(row, seen_uscc, seen_name)
        except RowError as error:
            parsed.rejected.append(Rejected(line, str(error), tuple(_text(c) for c in cells)))
            continue
        parsed.rows.append(row)
        parsed.warnings += [(line, note) for note in notes]
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


def parse_row(
    line: int,
    cells: Sequence[Any],
    columns: dict[str, int],
    notes: list[str] | None = None,
    *,
    alias_columns: Sequence[int] | None = None,
) -> RegistryRow:
    """One row; RowError rejects it (no name, a wrong USCC), `notes` collects warnings
    about optional values that were left empty or read loosely. `alias_columns`: the
    columns of other names (None: the file has none)."""
    notes = [] if notes is None else notes
    name = _name(_cell(cells, columns, "name"))
    has_union = _has_union(_cell(cells, columns, "has_union"), notes)
    union_name = _short(_cell(cells, columns, "union_name"), UNION_NAME_MAX, "工会名称", notes)
    union_contact = _short(
        _cell(cells, columns, "union_contact"), UNION_CONTACT_MAX, "工会联系方式", notes
    )
    if union_name is not None and has_union is None:
        has_union = True  # a union's name says that there is one
    elif union_name is not None and has_union is False:
        notes.append(
            "是否建会为“否”却填写了工会名称，请核对 / has_union is no but a union name is given"
        )
    return RegistryRow(
        line=line,
        name=name,
        key=name_key(name),
        uscc=_uscc(_cell(cells, columns, "uscc")),
        street=_text(_cell(cells, columns, "street")) or None,
        address=_address(_cell(cells, columns, "address"), notes),
        employees=_employees(_cell(cells, columns, "employees"), notes),
        has_union=has_union,
        union_name=union_name.replace("(", "（").replace(")", "）") if union_name else None,
        union_contact=union_contact,
        aliases=_aliases(cells, alias_columns, name_key(name), notes) if alias_columns else None,
    )


def _aliases(
    cells: Sequence[Any], columns: Sequence[int], own_key: str, notes: list[str]
) -> tuple[str, ...]:
    """The other names in the row's alias cells, each once (by alias key), without the
    enterprise's own name; one too long for the column is left out (noted)."""
    found: dict[str, str] = {}
    for index in columns:
        cell = cells[index] if index < len(cells) else None
        for alias in split_aliases(unicodedata.normalize("NFKC", _text(cell))):
            key = alias_key(alias)
            if len(alias) > ALIAS_MAX:
                notes.append(
                    f"别名“{alias[:20]}…”超过 {ALIAS_MAX} 字，已略过 / an alias longer than "
                    f"{ALIAS_MAX} characters was left out"
                )
            elif key and key != own_key and alias.lower() not in _NO_ALIAS:
                found.setdefault(key, alias)
    return tuple(found.values())


def _short(cell: object, limit: int, label: str, notes: list[str]) -> str | None:
    """An optional one-line text, spaces collapsed; cut at `limit` (noted)."""
    text = " ".join(unicodedata.normalize("NFKC", _text(cell)).split())
    if len(text) > limit:
        notes.append(f"{label}超过 {limit} 字，已截断 / {label} cut to {limit} characters")
        text = text[:limit]
    return text or None


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


def _address(cell: object, notes: list[str]) -> str | None:
    text = " ".join(_text(cell).split())
    if len(text) > ADDRESS_MAX:
        notes.append(f"地址超过 {ADDRESS_MAX} 字，已截断 / address cut to {ADDRESS_MAX} characters")
        text = text[:ADDRESS_MAX]
    return text or None


def _employees(cell: object, notes: list[str]) -> int | None:
    """A whole number; 1,200 and 40人 as they are, 约40人 read as 40 (noted), anything
    else left empty (noted)."""
    if cell is None or isinstance(cell, bool):
        return None
    raw = _text(cell)
    if isinstance(cell, int):
        value = cell
    elif isinstance(cell, float) and cell.is_integer():
        value = int(cell)
    else:
        text = unicodedata.normalize("NFKC", raw).replace(",", "").replace(" ", "")
        text = text.removesuffix("人").removesuffix("名")
        if not text:
            return None
        if text.isdigit():
            value = int(text)
        else:
            numbers = _NUMBER.findall(text)
            if len(numbers) != 1 or "-" in text or "." in numbers[0]:
                notes.append(
                    f"职工人数“{raw}”不是整数，已留空 / employees {raw!r} is not a whole number; "
                    "left empty"
                )
                return None
            value = int(numbers[0])
            notes.append(f"职工人数“{raw}”读作 {value} / employees {raw!r} read as {value}")
    if value < 0 or value > 10_000_000:
        notes.append(
            f"职工人数不合理，已留空 / implausible number of employees {raw!r}; left empty"
        )
        return None
    return value


def _has_union(cell: object, notes: list[str]) -> bool | None:
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
    notes.append(
        f"是否建会“{_text(cell)}”应为 是/否，已留空 / has_union {_text(cell)!r} is not yes or "
        "no; left empty"
    )
    return None


# ---------------------------------------------------------------------------- writing

_COLUMNS = ("id", "name", "name_key", "uscc", "street_id", "provisional", "address")
_COLUMNS += ("employees", "has_union", "union_name", "union_contact", "merged_into_id")
ENTERPRISES = Enterprise.__table__


async def _street_ids(db: Database) -> dict[str, int]:
    """Street names and codes as registry files spell them: 德胜街道, 德胜, DS."""
    async with db.read() as session:
        streets = list(await session.execute(select(Street.id, Street.code, Street.name)))
    found: dict[str, int] = {}
    for street_id, code, name in streets:
        for spelling in (code, name, name.removesuffix("街道"), name.removesuffix("街道办事处")):
            found.setdefault(_plain_key(spelling), street_id)
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
        "union_name": keep(row.union_name, "union_name", None),
        "union_contact": keep(row.union_contact, "union_contact", None),
    }


async def _apply(
    session: AsyncSession,
    batch: Sequence[RegistryRow],
    streets: dict[str, int],
    unknown: set[str],
    claimed: set[int],
    summary: ImportSummary,
) -> list[tuple[int, RegistryRow]]:
    """Write the batch's enterprises; (enterprise id, row) for each row."""
    existing = await _existing(session, batch)
    inserts: list[dict[str, Any]] = []
    inserted: list[RegistryRow] = []
    owners: list[tuple[int, RegistryRow]] = []
    updates: list[dict[str, Any]] = []
    now = utcnow()
    for row in batch:
        street_id = None
        if row.street is not None:
            street_id = streets.get(_plain_key(row.street))
            if street_id is None:
                unknown.add(row.street)
        current, adopted = _find(row, street_id, existing, claimed)
        values = _values(row, street_id, current)
        if current is None:
            extra = {"status": "active", "member_count": 0, "created_at": now, "updated_at": now}
            inserts.append(values | extra)
            inserted.append(row)
            summary.added += 1
            continue
        claimed.add(current.id)
        owners.append((current.id, row))
        if all(getattr(current, column) == value for column, value in values.items()):
            summary.unchanged += 1
            continue
        updates.append(values | {"_id": current.id, "updated_at": now})
        summary.updated += 1
        summary.adopted += adopted
    if inserts:
        # Ids in the order of the rows (batched INSERT … RETURNING): the aliases need them.
        statement = insert(ENTERPRISES).returning(ENTERPRISES.c.id, sort_by_parameter_order=True)
        ids = (await session.execute(statement, inserts)).scalars().all()
        owners += zip(ids, inserted, strict=True)
    if updates:
        statement = (
            update(ENTERPRISES)
            .where(ENTERPRISES.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in updates[0] if name != "_id"})
        )
        await session.execute(statement, updates)
    return owners


async def _apply_aliases(
    session: AsyncSession,
    owners: Sequence[tuple[int, RegistryRow]],
    by: str,
    summary: ImportSummary,
) -> None:
    """Make each enterprise's registry aliases the row's: those no longer listed go,
    new ones come; aliases added or accepted by staff stay (and win over the same registry
    alias).
    Unchanged aliases are left as they are, so a second import changes nothing."""
    wanted = {
        enterprise_id: {alias_key(alias): alias for alias in row.aliases}
        for enterprise_id, row in owners
        if row.aliases is not None
    }
    if not wanted:
        return
    stored = await session.execute(
        select(ALIASES.c.id, ALIASES.c.enterprise_id, ALIASES.c.alias, ALIASES.c.alias_key,
               ALIASES.c.source)
        .where(ALIASES.c.enterprise_id.in_(list(wanted)))
    )  # fmt: skip
    kept: set[tuple[int, str]] = set()  # (enterprise, key) that stays as stored
    gone: list[int] = []
    for alias_id, enterprise_id, alias, key, source in stored:
        if source != "registry" or wanted[enterprise_id].get(key) == alias:
            kept.add((enterprise_id, key))
        else:
            gone.append(alias_id)
    if gone:
        await session.execute(delete(ALIASES).where(ALIASES.c.id.in_(gone)))
    now = utcnow()
    lines = {enterprise_id: row.line for enterprise_id, row in owners}
    owner = await alias_owners(session, (key for listed in wanted.values() for key in listed))
    new = []
    for enterprise_id, listed in wanted.items():
        for key, alias in listed.items():
            if (enterprise_id, key) in kept:
                continue
            holder = owner.setdefault(key, (enterprise_id, ""))  # the first row wins
            if holder[0] != enterprise_id:  # the matcher could not tell the two apart
                summary.warnings.append((lines[enterprise_id], _taken_note(alias, holder[1])))
                continue
            new.append({
                "enterprise_id": enterprise_id, "alias": alias, "alias_key": key,
                "source": "registry", "created_at": now, "created_by_name": by,
            })  # fmt: skip
    if new:
        await session.execute(insert(ALIASES), new)
    summary.aliases_added += len(new)
    summary.aliases_removed += len(gone)


def _taken_note(alias: str, holder: str) -> str:
    """An alias another enterprise has (`holder`, or one listed earlier in the file)."""
    whose = f"“{holder}”" if holder else "文件中前面一家企业"
    return (
        f"别名“{alias}”已是{whose}的别名，已略过 / the alias {alias!r} belongs to "
        f"{holder or 'an enterprise listed earlier'} and was left out"
    )


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


def warnings_path_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}.warnings.csv")


def write_warnings(path: Path, warnings: list[tuple[int, str]]) -> Path | None:
    """Rows imported with a value left empty or read loosely, for checking by hand."""
    report = warnings_path_for(path)
    if not warnings:
        report.unlink(missing_ok=True)
        return None
    with report.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["行号 line", "提示 warning"])
        writer.writerows(warnings)
    return report
