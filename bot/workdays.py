"""Working days in China: public holidays off, make-up days (调休) on, from the maintained
`chinesecalendar` package. A year it has no data for falls back to Monday to Friday, said
once in the log (the package is updated each year when the State Council publishes the
next year's holidays)."""

from __future__ import annotations

import logging
from datetime import date, timedelta

log = logging.getLogger(__name__)

_without_data: set[int] = set()


def is_workday(day: date) -> bool:
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _without_data:
            _without_data.add(day.year)
            log.warning(
                "no holiday data for %d: counting Monday to Friday as working days "
                "(upgrade the chinesecalendar package)",
                day.year,
            )
        return day.weekday() < 5


def add_workdays(start: date, count: int) -> date:
    """The day `count` working days after `start` (`start` itself not counted)."""
    day = start
    while count > 0:
        day += timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day


def workdays_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        days += is_workday(day)
    return days
