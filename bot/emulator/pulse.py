"""A broadcast wake-up: every waiter is released when something changes."""

from __future__ import annotations

import asyncio


class Pulse:
    """Like asyncio.Condition.notify_all, but callable from plain (sync) code."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, within: float | None) -> bool:
        """True if woken, False on timeout."""
        event = self._event
        try:
            async with asyncio.timeout(within):
                await event.wait()
        except TimeoutError:
            return False
        return True
