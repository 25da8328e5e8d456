"""Reading an activity's time as staff type it, in Beijing time: "2026-12-20 14:00-16:00"
(also 2026/12/20, 2026年12月20日, a full-width colon, 至 or ~ between the times), and a
moment such as a sign-up deadline: "2026-12-19 18:00"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.timefmt import BEIJING

_DAY = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
_TIME = r"(\d{1,2})\s*[:：]\s*(\d{2})"
_SPAN = re.compile(rf"^\s*{_DAY}\s*{_TIME}\s*(?:-|—|–|~|～|至|到)\s*{_TIME}\s*$")
_MOMENT = re.compile(rf"^\s*{_DAY}\s*{_TIME}\s*$")


class TimeFormatError(ValueError):
    """The text is not a time as we ask for it (the message says how to write one)."""


def _moment(year: str, month: str, day: str, hour: str, minute: str) -> datetime:
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=BEIJING)
    except ValueError:
        raise TimeFormatError("no such date or time") from None
    return local.astimezone(UTC)


def parse_span(text: str) -> tuple[datetime, datetime]:
    """The start and end (UTC) of "YYYY-MM-DD HH:MM-HH:MM"; the end is on the same day."""
    match = _SPAN.match(text)
    if match is None:
        raise TimeFormatError("write it as YYYY-MM-DD HH:MM-HH:MM")
    year, month, day, hour, minute, end_hour, end_minute = match.groups()
    start = _moment(year, month, day, hour, minute)
    end = _moment(year, month, day, end_hour, end_minute)
    if end <= start:
        raise TimeFormatError("the end must be after the start")
    return start, end


def parse_moment(text: str) -> datetime:
    """A moment (UTC) from "YYYY-MM-DD HH:MM"."""
    match = _MOMENT.match(text)
    if match is None:
        raise TimeFormatError("write it as YYYY-MM-DD HH:MM")
    return _moment(*match.groups())
