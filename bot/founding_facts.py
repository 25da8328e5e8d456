"""What each stage of a founding case records, and reading it from what staff type.

Staff answer one prompt per stage in the federation group, a fact per line ("日期：…" or
just the value); the command line gives the same facts as options. Both end in the same
frozen values, checked here: dates that are real, not in the future and in order; names
as on an identity card; the union's USCC (GB 32100) with registration-authority code 8
(工会), as a union's legal-person certificate carries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.validation import ValidationError, clean_text, validate_name, validate_uscc

ROLE_MAX = 20
DOCUMENT_MAX = 60
UNION_NAME_MAX = 120
CONTACT_MAX = 100
NOTE_MAX = 200
PEOPLE_MAX = 30  # a preparatory group or committee; more is a pasted list gone wrong

_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# "日期：2026-12-01", "主席: 张伟": a label before a colon is dropped.
_LABEL = re.compile(r"^[^:：]{1,12}[:：]\s*")
_SEPARATORS = re.compile(r"[，,、；;/\s]+")


class FactError(ValueError):
    """A typed fact that cannot be recorded. `code` says what is wrong; `line` (1-based)
    and `value` point at it, for an answer that names the line. str() is the command
    line's text."""

    def __init__(self, code: str, line: int | None = None, value: str = "", **extra: Any) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{code}" + (f" ({value})" if value else ""))
        self.code, self.line, self.value, self.extra = code, line, value, extra


@dataclass(frozen=True)
class Preparing:
    """筹备组 approved by the upper union: the date and its members (name, role)."""

    approved_on: date
    group: tuple[tuple[str, str], ...]

    def record(self) -> dict[str, Any]:
        return {"date": self.approved_on.isoformat(), "group": [list(p) for p in self.group]}


@dataclass(frozen=True)
class Assembly:
    """会员大会 held: the date, the committee elected and its chair. `close_relatives`
    answers the art. 10 question (is a committee member a close relative of the
    enterprise's main manager?); None is not answered yet."""

    held_on: date
    committee: tuple[str, ...]
    chair: str
    close_relatives: bool | None = None

    def record(self) -> dict[str, Any]:
        return {
            "date": self.held_on.isoformat(),
            "committee": list(self.committee),
            "chair": self.chair,
            "close_relatives": self.close_relatives,
        }


@dataclass(frozen=True)
class Approved:
    """上级工会批复: the date and the approval's document number."""

    approved_on: date
    document: str

    def record(self) -> dict[str, Any]:
        return {"date": self.approved_on.isoformat(), "document": self.document}


@dataclass(frozen=True)
class Founded:
    """The enterprise union: its name, its own USCC, its founding date and a contact."""

    name: str
    uscc: str
    founded_on: date
    contact: str

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uscc": self.uscc,
            "date": self.founded_on.isoformat(),
            "contact": self.contact,
        }


StageFacts = Preparing | Assembly | Approved | Founded
FACTS_OF = {"preparing": Preparing, "assembly": Assembly, "approved": Approved, "founded": Founded}


def fact_date(facts: StageFacts) -> date:
    if isinstance(facts, Preparing | Approved):
        return facts.approved_on
    if isinstance(facts, Assembly):
        return facts.held_on
    return facts.founded_on


# ---------------------------------------------------------------------------- one value


def parse_date(raw: str, today: date, *, line: int | None = None) -> date:
    """2026-12-01, 2026/12/1, 2026.12.1, 2026年12月1日 or 20261201; not after today."""
    text = unicodedata.normalize("NFKC", _unlabel(raw)).strip()
    found = _DATE.match(text) or _COMPACT_DATE.match(text)
    if found is None:
        raise FactError("date.format", line, raw.strip())
    try:
        value = date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        raise FactError("date.format", line, raw.strip()) from None
    if value > today:
        raise FactError("date.future", line, value.isoformat())
    if value.year < 1950:
        raise FactError("date.format", line, raw.strip())
    return value


def person_name(raw: str, *, line: int | None = None) -> str:
    try:
        return validate_name(raw)
    except ValidationError:
        raise FactError("name", line, raw.strip()) from None


def short_text(raw: str, limit: int, *, line: int | None = None, code: str = "text") -> str:
    try:
        return clean_text(_unlabel(raw), max_len=limit)
    except ValidationError as error:
        raise FactError(f"{code}.{'long' if error.code == 'text.too_long' else 'empty'}",
                        line, raw.strip(), limit=limit) from None  # fmt: skip


def union_uscc(raw: str, *, line: int | None = None) -> str:
    """A union's USCC: a valid GB 32100 code whose registration-authority code is 8."""
    try:
        code = validate_uscc(_unlabel(raw))
    except ValidationError as error:
        raise FactError(error.code, line, raw.strip()) from None
    if code[0] != "8":
        raise FactError("uscc.not_union", line, code)
    return code


def people(lines: list[tuple[int, str]]) -> tuple[tuple[str, str], ...]:
    """ "姓名 职务" per line (张伟 组长, 李娜：副组长); names must not repeat."""
    found: list[tuple[str, str]] = []
    for number, text in lines:
        parts = [p for p in re.split(r"[\s:：,，、]+", text.strip()) if p]
        if len(parts) < 2:
            raise FactError("person.role", number, text.strip())
        name = person_name(parts[0], line=number)
        role = short_text(" ".join(parts[1:]), ROLE_MAX, line=number, code="role")
        if any(name == seen for seen, _ in found):
            raise FactError("person.twice", number, name)
        found.append((name, role))
    if not found:
        raise FactError("people.none")
    if len(found) > PEOPLE_MAX:
        raise FactError("people.many", None, "", limit=PEOPLE_MAX)
    return tuple(found)


def names(raw: str, *, line: int | None = None) -> tuple[str, ...]:
    """Several names on one line, separated by 、，, spaces or semicolons."""
    found: list[str] = []
    for part in _SEPARATORS.split(_unlabel(raw)):
        if not part:
            continue
        name = person_name(part, line=line)
        if name in found:
            raise FactError("person.twice", line, name)
        found.append(name)
    if not found:
        raise FactError("people.none", line)
    if len(found) > PEOPLE_MAX:
        raise FactError("people.many", line, "", limit=PEOPLE_MAX)
    return tuple(found)


# ---------------------------------------------------------------------------- a whole reply


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _need(lines: list[tuple[int, str]], count: int) -> None:
    if len(lines) < count:
        raise FactError("lines.missing", None, "", needed=count, given=len(lines))


def read_preparing(text: str, today: date) -> Preparing:
    """Line 1 the approval date, then one member per line: 张伟 组长."""
    lines = _lines(text)
    _need(lines, 2)
    approved_on = parse_date(lines[0][1], today, line=lines[0][0])
    return Preparing(approved_on, people(lines[1:]))


def read_assembly(text: str, today: date) -> Assembly:
    """Line 1 the date, line 2 the chair, line 3 (and more) the committee's names."""
    lines = _lines(text)
    _need(lines, 3)
    held_on = parse_date(lines[0][1], today, line=lines[0][0])
    chair = person_name(_unlabel(lines[1][1]), line=lines[1][0])
    committee: tuple[str, ...] = ()
    for number, line in lines[2:]:
        committee += names(line, line=number)
    return assembly(held_on, committee, chair)


def assembly(
    held_on: date, committee: tuple[str, ...], chair: str, close_relatives: bool | None = None
) -> Assembly:
    """The committee holds its chair (added when left out) and no name twice."""
    if len(set(committee)) != len(committee):
        raise FactError("person.twice")
    if chair not in committee:
        committee = (chair, *committee)
    if len(committee) > PEOPLE_MAX:
        raise FactError("people.many", None, "", limit=PEOPLE_MAX)
    return Assembly(held_on, committee, chair, close_relatives)


def read_approved(text: str, today: date) -> Approved:
    """Line 1 the date, line 2 the document number (西工发〔2026〕12号)."""
    lines = _lines(text)
    _need(lines, 2)
    approved_on = parse_date(lines[0][1], today, line=lines[0][0])
    number, raw = lines[1]
    return Approved(approved_on, short_text(raw, DOCUMENT_MAX, line=number, code="document"))


def read_founded(text: str, today: date) -> Founded:
    """Lines: the union's name, its USCC, the founding date, a contact."""
    lines = _lines(text)
    _need(lines, 4)
    (n1, name), (n2, code), (n3, when), (n4, contact) = lines[:4]
    return Founded(
        short_text(name, UNION_NAME_MAX, line=n1, code="union_name"),
        union_uscc(code, line=n2),
        parse_date(when, today, line=n3),
        short_text(contact, CONTACT_MAX, line=n4, code="contact"),
    )


READERS = {
    "preparing": read_preparing,
    "assembly": read_assembly,
    "approved": read_approved,
    "founded": read_founded,
}


def _unlabel(text: str) -> str:
    return _LABEL.sub("", text.strip(), count=1)
