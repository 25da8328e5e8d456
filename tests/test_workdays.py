"""Working days follow China's public holidays and make-up days, and fall back to Monday
to Friday (logged once) for a year without data."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from bot import workdays


def test_holidays_and_make_up_days() -> None:
    assert not workdays.is_workday(date(2026, 10, 1))  # National Day
    assert not workdays.is_workday(date(2026, 2, 17))  # Spring Festival
    assert workdays.is_workday(date(2026, 2, 14))  # a Saturday made a working day (调休)
    assert workdays.is_workday(date(2026, 12, 7))  # an ordinary Monday
    # Five working days from Wednesday 30 September 2026 cross the Golden Week.
    assert workdays.add_workdays(date(2026, 9, 30), 1) > date(2026, 10, 7)
    assert workdays.workdays_between(date(2026, 12, 4), date(2026, 12, 7)) == 1  # Fri → Mon


def test_a_year_without_data_counts_monday_to_friday_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    far = date(2099, 6, 1)  # a Monday
    with caplog.at_level(logging.WARNING, logger="bot.workdays"):
        assert workdays.is_workday(far)
        assert not workdays.is_workday(date(2099, 6, 6))  # Saturday
        assert workdays.add_workdays(far, 5) == date(2099, 6, 8)
    assert [r.message for r in caplog.records].count(
        "no holiday data for 2099: counting Monday to Friday as working days "
        "(upgrade the chinesecalendar package)"
    ) == 1
