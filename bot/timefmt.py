"""Times are stored in UTC and shown in Beijing time (no daylight saving)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "CST")


def local(moment: datetime) -> datetime:
    return moment.astimezone(BEIJING)


def minute(moment: datetime) -> str:
    return local(moment).strftime("%Y-%m-%d %H:%M")


def day(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        moment = local(moment).date()
    return moment.isoformat()


def age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
