"""Service levels: what a street promises a waiting worker, one daily digest per review
group of the applications waiting too long, and a reminder to the federation group of
founding alerts nobody followed up. Days are working days (bot/workdays.py), times
Beijing time; every reminder is claimed in the database, so it goes out once however
many processes look."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update

from bot import timefmt, workdays
from bot.config import ServiceSettings
from bot.db import Database, dialect_insert
from bot.services import outbox
from models import Application, DailyDigest, Street, ThresholdAlert

ALERTS = ThresholdAlert.__table__


@dataclass(frozen=True)
class Promise:
    street: str
    review_days: int
    due: date  # the last working day of the promise
    contact: str | None


@dataclass(frozen=True)
class Waiting:
    application_id: int
    number: str
    name: str
    submitted_at: datetime
    working_days: int
    late: bool  # past the street's promise


@dataclass
class Sent:
    digests: int = 0
    alert_reminders: int = 0


class ServiceLevels:
    def __init__(
        self, db: Database, settings: ServiceSettings, *, federation_chat_id: int | None
    ) -> None:
        self.db = db
        self.settings = settings
        self.federation_chat_id = federation_chat_id

    def promised_days(self, street: Street) -> int:
        return street.review_days or self.settings.review_days

    async def promise(self, street_id: int, submitted_at: datetime) -> Promise:
        async with self.db.read() as session:
            street = await session.get_one(Street, street_id)
        days = self.promised_days(street)
        due = workdays.add_workdays(timefmt.local(submitted_at).date(), days)
        return Promise(street.name, days, due, street.contact)

    async def waiting(self, street_id: int, now: datetime) -> list[Waiting]:
        """Applications of the street waiting at least `digest_after_days` working days,
        longest first."""
        today = timefmt.local(now).date()
        async with self.db.read() as session:
            street = await session.get_one(Street, street_id)
            rows = await session.execute(
                select(Application.id, Application.number, Application.name,
                       Application.submitted_at)
                .where(Application.street_id == street_id, Application.status == "submitted")
                .order_by(Application.submitted_at)
            )  # fmt: skip
            promised = self.promised_days(street)
            found = []
            for app_id, number, name, submitted_at in rows:
                days = workdays.workdays_between(timefmt.local(submitted_at).date(), today)
                if days >= self.settings.digest_after_days:
                    found.append(Waiting(app_id, number, name, submitted_at, days, days > promised))
        return found

    async def send_due(self, now: datetime) -> Sent:
        """The digests once the day's digest time has passed, and the alert reminders."""
        sent = Sent()
        local = timefmt.local(now)
        today = local.date()
        if local.time() >= self.settings.digest_at and workdays.is_workday(today):
            digested = select(DailyDigest.street_id).where(DailyDigest.day == today)
            async with self.db.read() as session:  # the streets not done today, only
                streets = list(
                    await session.execute(
                        select(Street.id, Street.review_chat_id).where(
                            Street.review_chat_id.is_not(None), Street.id.not_in(digested)
                        )
                    )
                )
            for street_id, chat_id in streets:
                waiting = await self.waiting(street_id, now)
                async with self.db.transaction() as session:
                    claimed = await session.scalar(
                        dialect_insert(session)(DailyDigest.__table__)
                        .values(street_id=street_id, day=today, waiting=len(waiting))
                        .on_conflict_do_nothing()
                        .returning(DailyDigest.__table__.c.street_id)
                    )
                    if claimed is not None and waiting:
                        await outbox.enqueue(
                            session, chat_id, "review_digest", street_id=street_id,
                            day=today.isoformat(),
                        )  # fmt: skip
                        sent.digests += 1
        sent.alert_reminders = await self._remind_alerts(now)
        return sent

    async def _remind_alerts(self, now: datetime) -> int:
        if self.federation_chat_id is None:
            return 0
        today = timefmt.local(now).date()
        async with self.db.read() as session:
            open_alerts = list(
                await session.execute(
                    select(ALERTS.c.id, ALERTS.c.created_at).where(
                        ALERTS.c.followed_by_name.is_(None), ALERTS.c.reminded_at.is_(None)
                    )
                )
            )
        reminded = 0
        for alert_id, created_at in open_alerts:
            created = timefmt.local(created_at).date()
            if workdays.workdays_between(created, today) < self.settings.alert_followup_days:
                continue
            async with self.db.transaction() as session:
                result = await session.execute(
                    update(ALERTS)
                    .where(
                        ALERTS.c.id == alert_id,
                        ALERTS.c.followed_by_name.is_(None),
                        ALERTS.c.reminded_at.is_(None),
                    )
                    .values(reminded_at=now)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    await outbox.enqueue(
                        session, self.federation_chat_id, "alert_reminder", alert_id=alert_id
                    )
                    reminded += 1
        return reminded
