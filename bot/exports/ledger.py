"""The subsidy ledger (经费台账) under the export entry point. The workbook is the subsidy
service's own (SubsidyService.ledger_xlsx: 明细, 按街道, 按活动); a street's export keeps
that street's rows of it: the entries charged to the street, the street's budget lines,
and per activity the street's part (its members who came, the amount charged to the
street), summed from the kept entries the way the service sums all of them."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.money import decimal_yuan
from bot.xlsx import Sheet, workbook

DETAILS, BY_STREET, BY_ACTIVITY = "明细", "按街道", "按活动"
# Columns of 明细: posting, kind, date, activity id, activity, street, member, amount, ...
D_ACTIVITY, D_STREET, D_MEMBER, D_AMOUNT = 3, 5, 6, 7
S_STREET = 1  # 按街道: year, street, ...
A_ACTIVITY = 0  # 按活动: activity id, title, street, date, attendees, net, per member


def entries(data: bytes) -> int:
    """The number of entries (rows of 明细) in a ledger workbook."""
    sheets = _read(data)
    return len(sheets[DETAILS][1])


def for_street(data: bytes, street: str) -> tuple[bytes, int]:
    """The ledger workbook cut to one street (by name, as the ledger names streets), and
    its number of entries."""
    sheets = _read(data)
    headers, details = sheets[DETAILS]
    kept = [row for row in details if row[D_STREET] == street]
    street_headers, streets = sheets[BY_STREET]
    activity_headers, activities = sheets[BY_ACTIVITY]
    net: dict[Any, int] = defaultdict(int)
    members: dict[Any, set[Any]] = defaultdict(set)
    for row in kept:
        net[row[D_ACTIVITY]] += _fen(row[D_AMOUNT])
        members[row[D_ACTIVITY]].add(row[D_MEMBER])
    ours = []
    for row in activities:
        activity = row[A_ACTIVITY]
        if activity not in net:
            continue
        count = len(members[activity])
        ours.append((*row[:4], count, decimal_yuan(net[activity]),
                     decimal_yuan(net[activity] // count)))  # fmt: skip
    return (
        workbook([
            Sheet(DETAILS, headers, kept),
            Sheet(BY_STREET, street_headers, [r for r in streets if r[S_STREET] == street]),
            Sheet(BY_ACTIVITY, activity_headers, ours),
        ]),
        len(kept),
    )  # fmt: skip


def _read(data: bytes) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """Each sheet's headers and rows, with money back to Decimal yuan and dates to dates
    (a spreadsheet keeps both as numbers)."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        sheets = {}
        for page in book.worksheets:
            rows = page.iter_rows(values_only=True)
            headers = tuple(str(h) for h in next(rows, ()))
            money = {i for i, h in enumerate(headers) if "（元）" in h}
            sheets[page.title] = (
                headers,
                [tuple(_value(v, i in money) for i, v in enumerate(row)) for row in rows],
            )
        return sheets
    finally:
        book.close()


def _value(value: Any, money: bool) -> Any:
    if money and isinstance(value, int | float):
        return Decimal(repr(value)).quantize(Decimal("0.01"))
    if isinstance(value, datetime):
        return value.date() if value == datetime(value.year, value.month, value.day) else value
    return value


def _fen(amount: Decimal | date | None) -> int:
    if not isinstance(amount, Decimal):
        return 0
    return int(amount.scaleb(2))
