"""The Bot API emulator on an event loop of its own thread, for tests that run the real
command line in-process (`bot.cli.main` runs its own event loop with asyncio.run)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

from bot.emulator import Emulator


@contextlib.contextmanager
def emulator_thread(bots: dict[str, str]) -> Iterator[Emulator]:
    """An emulator serving `bots` (token → username) until the block ends."""
    loop = asyncio.new_event_loop()
    emu = Emulator()
    ready = threading.Event()

    async def start() -> None:
        for token, username in bots.items():
            emu.add_bot(token, username, "工会入会助手")
        await emu.start()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="emulator", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the emulator did not start")
    try:
        yield emu
    finally:
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def unused_port() -> int:
    """A loopback port where nothing listens (the kernel just handed it out and took it
    back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: what a filtered address looks
    like to an HTTP client."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])
