"""Yuan as people type and read them, fen as the ledger keeps them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.money import decimal_yuan, parse_yuan, yuan


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1200", 120000),
        ("1200.5", 120050),
        ("1200.50", 120050),
        ("1,200.50", 120050),
        ("1,234,567.89", 123456789),
        ("¥1200", 120000),
        ("￥ 12.3", 1230),
        ("1200元", 120000),
        (" 0.01 ", 1),
        ("0.1", 10),
        ("0", 0),
        ("19.99", 1999),  # a float would make 1998.9999…
    ],
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("-5", "negative"),
        ("¥-5", "negative"),
        ("1.234", "two decimals"),
        ("0.001", "two decimals"),
        ("abc", "not an amount"),
        ("", "not an amount"),
        ("1e3", "not an amount"),
        ("NaN", "not an amount"),
        ("Infinity", "not an amount"),
        ("12,00", "not an amount"),  # commas group thousands, never decimals
        ("1,2000", "not an amount"),
        ("1200.", "not an amount"),
        (".5", "not an amount"),
        ("+5", "not an amount"),
        ("١٢", "not an amount"),  # digits of another script
        ("1 200", "not an amount"),
        ("99999999999999", "too large"),
    ],
)
def test_parse_yuan_refuses(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_yuan(text)


@pytest.mark.parametrize(
    ("fen", "text"),
    [(120050, "1,200.50 元"), (0, "0.00 元"), (1, "0.01 元"), (-5, "-0.05 元"),
     (-123456789, "-1,234,567.89 元"), (100, "1.00 元")],
)  # fmt: skip
def test_yuan(fen: int, text: str) -> None:
    assert yuan(fen) == text


def test_round_trip_and_decimal_yuan() -> None:
    for fen in (0, 1, 9, 10, 99, 100, 101, 120050, 999_999_99):
        assert parse_yuan(yuan(fen)) == fen
        assert decimal_yuan(fen) == Decimal(fen) / 100
        whole, cents = str(decimal_yuan(fen)).split(".")
        assert len(cents) == 2 and int(whole) * 100 + int(cents) == fen
