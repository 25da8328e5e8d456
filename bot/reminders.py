"""Founding-case reminders, run inside the bot process by the sender (one process), at
start and then every `federation.reminders_every_minutes`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.config import FederationSettings
from bot.services.founding import FoundingService
from models.base import utcnow

log = logging.getLogger(__name__)


async def reminder_loop(
    service: FoundingService, settings: FederationSettings, stop: asyncio.Event
) -> None:
    """Until `stop` is set. Errors are logged by type and the loop goes on."""
    interval = settings.reminders_every_minutes * 60
    while not stop.is_set():
        try:
            sent = await service.send_reminders(
                utcnow(), idle=settings.case_idle, preparing=settings.case_preparing
            )
        except Exception as error:
            log.error("case reminders failed: %s", type(error).__name__, exc_info=error)
        else:
            if sent.preparing or sent.idle:
                log.info(
                    "case reminders: %d preparing too long, %d idle", sent.preparing, sent.idle
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
