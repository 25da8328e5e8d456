"""Membership transfers, carried out by the sender process: started in a chat or at the
command line, run here batch by batch, and resumed after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.services.membership import MembershipService

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # how soon a transfer started in another process is picked up


async def transfer_loop(service: MembershipService, stop: asyncio.Event) -> None:
    """Until `stop` is set. Errors are logged by type and the transfer is tried again."""
    while not stop.is_set():
        try:
            for transfer_id in await service.running():
                while not stop.is_set() and await service.run_batch(transfer_id):
                    pass
        except Exception as error:
            log.error("membership transfer failed: %s", type(error).__name__, exc_info=error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
