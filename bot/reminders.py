"""Reminders, run inside the bot process by the sender (one process), at start and then
every `federation.reminders_every_minutes`: founding cases that stall, review groups'
daily digests of waiting applications, alerts nobody followed up, the day-before
reminders of activities and the federation's weekly digest."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.config import FederationSettings
from bot.services.activities import ActivityService
from bot.services.founding import FoundingService
from bot.services.service_levels import ServiceLevels
from bot.services.weekly_digest import WeeklyDigests
from models.base import utcnow

log = logging.getLogger(__name__)


async def reminder_loop(
    founding: FoundingService,
    service_levels: ServiceLevels,
    activities: ActivityService,
    weekly: WeeklyDigests,
    settings: FederationSettings,
    stop: asyncio.Event,
) -> None:
    """Until `stop` is set. Errors are logged by type and the loop goes on."""
    interval = settings.reminders_every_minutes * 60
    while not stop.is_set():
        try:
            now = utcnow()
            cases = await founding.send_reminders(
                now, idle=settings.case_idle, preparing=settings.case_preparing
            )
            due = await service_levels.send_due(now)
            reminded = await activities.send_reminders(now)
            if await weekly.send_due(now):
                log.info("reminders: the weekly digest is on its way to the federation group")
        except Exception as error:
            log.error("reminders failed: %s", type(error).__name__, exc_info=error)
        else:
            if cases.preparing or cases.idle or due.digests or due.alert_reminders or reminded:
                log.info(
                    "reminders: %d cases preparing too long, %d idle, %d review digests, "
                    "%d alerts not followed up, %d members reminded of tomorrow's activities",
                    cases.preparing, cases.idle, due.digests, due.alert_reminders, reminded,
                )  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
