"""The retention job, run inside the bot process: at start, then every `every_hours`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.config import RetentionSettings
from bot.inbox import Inbox
from bot.services.privacy import PrivacyService

log = logging.getLogger(__name__)

# After a failed run, try again sooner than the regular interval (but never more often).
RETRY_SECONDS = 600.0


async def retention_loop(
    service: PrivacyService,
    settings: RetentionSettings,
    stop: asyncio.Event,
    inbox: Inbox | None = None,
) -> None:
    """Purge abandoned forms, anonymise old rejections and forget handled updates older
    than the de-duplication window, until `stop` is set.

    Errors are logged (by type: the traceback, never personal data) and the loop goes on.
    """
    interval = settings.every_hours * 3600
    while not stop.is_set():
        wait = interval
        try:
            result = await service.run_retention(
                drafts_days=settings.drafts_days, rejected_days=settings.rejected_days
            )
            updates = await inbox.purge() if inbox is not None else 0
        except Exception as error:
            log.error("retention run failed: %s", type(error).__name__, exc_info=error)
            wait = min(interval, RETRY_SECONDS)
        else:
            log.info(
                "retention: %d abandoned forms deleted, %d rejected applications anonymised, "
                "%d old updates forgotten",
                result.drafts_deleted,
                result.rejected_anonymised,
                updates,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
