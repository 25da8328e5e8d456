"""Money is integer fen (分) everywhere it is stored or added up; yuan (元) only at the edges,
as people type and read it. Decimal, never float: 0.1 + 0.2 yuan must be 30 fen exactly."""

from __future__ import annotations

import re
from decimal import Decimal

# Plain digits, or digits grouped by thousands with commas; at most two decimals.
_AMOUNT = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.(?P<fraction>[0-9]+))?")
_CURRENCY = ("¥", "￥", "RMB", "CNY")
# Far above any budget, and well inside a BIGINT column.
MAX_FEN = 10**15


def parse_yuan(text: str) -> int:
    """Fen from what a person typed: "1200", "1200.5", "1,200.50", "¥1200", "1200元".
    A ValueError says what is wrong (negative, more than two decimals, not a number)."""
    cleaned = text.strip()
    for sign in _CURRENCY:
        cleaned = cleaned.removeprefix(sign)
    cleaned = cleaned.removesuffix("元").strip()
    if cleaned.startswith("-"):
        raise ValueError(f"an amount cannot be negative: {text.strip()!r}")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise ValueError(f"not an amount in yuan: {text.strip()!r} (e.g. 1200 or 1,200.50)")
    fraction = match["fraction"]
    if fraction is not None and len(fraction) > 2:
        raise ValueError(f"at most two decimals (fen) in an amount: {text.strip()!r}")
    fen = int(Decimal(cleaned.replace(",", "")) * 100)
    if fen >= MAX_FEN:
        raise ValueError(f"amount too large: {text.strip()!r}")
    return fen


def decimal_yuan(fen: int) -> Decimal:
    """Yuan with exactly two decimals, for spreadsheets and tab-separated reports."""
    return Decimal(fen).scaleb(-2)


def yuan(fen: int) -> str:
    """For people: 120050 → "1,200.50 元"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d} 元"
