"""The federation's weekly digest: once a week, on the configured day and Beijing time
(or as soon after as the bot runs that week), the federation group is told what changed
in the last seven days, who is close to the threshold and which founding cases are stuck.
The week is claimed by one INSERT, so it goes once whichever process looks; the figures
are read when the message is sent."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot import timefmt
from bot.db import Database, dialect_insert
from bot.services import outbox
from models import WeeklyDigest

WEEKS = WeeklyDigest.__table__


class WeeklyDigests:
    def __init__(self, db: Database, federation_chat_id: int | None, day: int, at: time) -> None:
        self.db = db
        self.chat_id = federation_chat_id
        self.day, self.at = day, at

    async def send_due(self, now: datetime) -> bool:
        """Queue this week's digest if it is due and not sent yet."""
        if self.chat_id is None or self.day == 0:
            return False
        local = timefmt.local(now)
        year, week, weekday = local.isocalendar()
        if (weekday, local.time()) < (self.day, self.at):
            return False
        key = f"{year}-W{week:02d}"
        until = local.date() - timedelta(days=1)
        async with self.db.transaction() as session:
            claimed = await session.scalar(
                dialect_insert(session)(WEEKS)
                .values(week=key, sent_at=now)
                .on_conflict_do_nothing()
                .returning(WEEKS.c.week)
            )
            if claimed is None:
                return False
            days = {"since": (until - timedelta(days=6)).isoformat(), "until": until.isoformat()}
            await outbox.enqueue_many(session, [
                (self.chat_id, "weekly_digest", {"week": key, **days}),
                (self.chat_id, "weekly_digest_chart", {"week": key}),
            ])  # fmt: skip
            return True
