"""Running the real bot against the local Bot API emulator (tests, demo, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.app import App, build_app
from bot.config import Settings
from bot.pii import generate_key
from bot.runner import serve

DEMO_TOKEN = "7000000001:unionbot-local-emulator-token"
DEMO_USERNAME = "unionbot_demo_bot"


def local_settings(
    api_base: str,
    database: Path | str,
    *,
    federation_chat_id: int | None = None,
    threshold: int = 25,
    token: str = DEMO_TOKEN,
    **sections: dict[str, Any],
) -> Settings:
    """Settings for a bot talking to the emulator, with fresh keys. `database` is a SQLite
    file or a database URL."""
    url = database if isinstance(database, str) else f"sqlite+aiosqlite:///{database}"
    data: dict[str, Any] = {
        "telegram": {"token": token, "api_base": api_base, "bot_username": DEMO_USERNAME},
        "database": {"url": url},
        # No weekly digest unless asked: it would go out at start on some weekdays only.
        "federation": {
            "chat_id": federation_chat_id,
            "founding_threshold": threshold,
            "weekly_digest_day": 0,
        },
        "security": {"data_key": generate_key(), "lookup_key": generate_key()},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return Settings.model_validate(data)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, *, webhook: bool = False) -> AsyncIterator[App]:
    """Build the app, serve it in the background, and stop it cleanly on exit."""
    app = await build_app(settings, webhook=webhook)
    stop = asyncio.Event()
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    task = asyncio.create_task(serve(app, stop, webhook=webhook, on_ready=on_ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        await app.close()
        task.result()  # raises what went wrong at start
    try:
        yield app
    finally:
        stop.set()
        await task
        await app.close()
