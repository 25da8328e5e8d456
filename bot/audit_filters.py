"""What `unionbot audit` is asked for: its filters as parsed from the command line."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.timefmt import BEIJING

DEFAULT_LIMIT = 50
_MOMENT = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2})(:\d{2})?)?$")


@dataclass(frozen=True)
class Period:
    """A Beijing-time bound given on the command line, and how much time it covers."""

    start: datetime
    span: timedelta

    @property
    def end(self) -> datetime:
        return self.start + self.span


@dataclass(frozen=True)
class AuditFilter:
    actor: int | None = None
    cli_actor: bool = False  # --actor cli: entries made at the command line
    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: Period | None = None
    until: Period | None = None
    limit: int | None = None

    def describe(self) -> dict[str, Any]:
        """The filters as given, for the export's own audit entry."""
        subject = ":".join(part for part in (self.subject_type, self.subject_id) if part)
        found = {
            "actor": "cli" if self.cli_actor else self.actor,
            "action": self.action,
            "subject": subject or None,
            "since": self.since.start.isoformat() if self.since else None,
            "until": self.until.end.isoformat() if self.until else None,
            "limit": self.limit,
        }
        return {key: value for key, value in found.items() if value is not None}


def parse_moment(text: str) -> Period:
    """`2026-11-24`, `2026-11-24 09:30` or `2026-11-24 09:30:15`, Beijing time."""
    match = _MOMENT.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: use YYYY-MM-DD or 'YYYY-MM-DD HH:MM'")
    day, minute, second = match.groups()
    try:
        start = datetime.fromisoformat(f"{day} {minute or '00:00'}{second or ''}")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    span = timedelta(seconds=1) if second else timedelta(minutes=1) if minute else timedelta(days=1)
    return Period(start.replace(tzinfo=BEIJING), span)


def parse_actor(text: str) -> int | str:
    if text.lower() == "cli":
        return "cli"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a Telegram user id, or 'cli'") from None


def filter_of(args: argparse.Namespace) -> AuditFilter:
    subject_type, _, subject_id = (args.subject or "").partition(":")
    return AuditFilter(
        actor=args.actor if isinstance(args.actor, int) else None,
        cli_actor=args.actor == "cli",
        action=args.action,
        subject_type=subject_type or None,
        subject_id=subject_id or None,
        since=args.since,
        until=args.until,
        limit=args.limit,
    )


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
