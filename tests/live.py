"""A running bot on the emulator with one street, its review group and the federation group."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import App
from bot.config import Settings
from bot.db import Database
from bot.emulator import Emulator
from bot.local import DEMO_TOKEN, DEMO_USERNAME, local_settings, running_bot
from bot.migrate import upgrade_async
from bot.people import Person, Worker
from bot.services.admin import AdminService
from bot.services.audit import Actor
from models import InboxUpdate
from tests.engines import Store, new_store

# Telegram's limits (one message a second into a chat, 20 a minute into a group) would
# make every conversation in the tests slow; tests of other things relax them, and the
# tests of the limits themselves set the real ones.
RELAXED_OUTBOX = {
    "global_per_second": 1000.0,
    "private_per_second": 1000.0,
    "group_per_minute": 100_000.0,
}
TELEGRAM_OUTBOX = {"global_per_second": 30.0, "private_per_second": 1.0, "group_per_minute": 20.0}

REVIEW_GROUP = -100500
FEDERATION_GROUP = -100900
STAFF_IDS = (501, 502, 503)
FEDERATION_ID = 901
OUTSIDER_ID = 777


@dataclass
class Live:
    emu: Emulator
    settings: Settings
    app: App
    point_code: str
    store: Store

    def worker(self, user_id: int, name: str = "职工", language: str = "zh-hans") -> Worker:
        if user_id not in self.emu.world.users:
            self.emu.add_user(user_id, name, language_code=language)
        return Worker(self.emu, user_id, name)

    def staff(self, user_id: int = STAFF_IDS[0]) -> Person:
        return Person(self.emu, user_id, f"审核员{user_id}")


async def seed(settings: Settings) -> str:
    await upgrade_async(settings.database.url)
    db = Database(settings.database.url)
    admin = AdminService(db)
    cli = Actor.cli("test")
    await admin.add_street("DS", "德胜街道", cli)
    await admin.set_review_chat("DS", REVIEW_GROUP, cli)
    code = await admin.add_point("DS", "新街口社区", "community", cli)
    for user_id in STAFF_IDS:
        await admin.add_staff(user_id, f"审核员{user_id}", "street", "DS", cli)
    await admin.add_staff(FEDERATION_ID, "区总工会李明", "federation", None, cli)
    await db.dispose()
    return code


def make_emulator_people(emu: Emulator) -> None:
    emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
    for user_id in STAFF_IDS:
        emu.add_user(user_id, f"审核员{user_id}")
    emu.add_user(FEDERATION_ID, "区总工会李明")
    emu.add_user(OUTSIDER_ID, "路人甲")
    emu.add_group(REVIEW_GROUP, "德胜街道工会审核群", [*STAFF_IDS, OUTSIDER_ID], [STAFF_IDS[0]])
    emu.add_group(FEDERATION_GROUP, "区总工会工作群", [FEDERATION_ID], [FEDERATION_ID])
    emu.add_bot_to_group(DEMO_TOKEN, REVIEW_GROUP, STAFF_IDS[0])
    emu.add_bot_to_group(DEMO_TOKEN, FEDERATION_GROUP, FEDERATION_ID)


@contextlib.asynccontextmanager
async def live_bot(
    tmp_path: Path, *, threshold: int = 25, settings: Settings | None = None, **sections: Any
) -> AsyncIterator[Live]:
    sections.setdefault("outbox", RELAXED_OUTBOX)
    async with Emulator() as emu:
        make_emulator_people(emu)
        store = new_store(tmp_path)
        if settings is not None:  # the caller's settings, on this test's database
            settings = settings.model_copy(
                update={"database": settings.database.model_copy(update={"url": store.url})}
            )
        settings = settings or local_settings(
            emu.base_url,
            store.url,
            federation_chat_id=FEDERATION_GROUP,
            threshold=threshold,
            **sections,
        )
        code = await seed(settings)
        async with running_bot(settings) as app:
            yield Live(emu, settings, app, code, store)


async def settle(live: Live, within: float = 15.0) -> None:
    """Wait until every update the emulator queued has been fetched and processed."""
    deadline = time.monotonic() + within
    while True:
        # The emulator first: an update it no longer holds was confirmed, so it is stored;
        # looking at the inbox first would miss one that is stored in between.
        queued = bool(live.emu.pending_updates())
        async with live.app.db.read() as session:
            busy = await session.scalar(
                select(InboxUpdate.update_id).where(InboxUpdate.done.is_(False)).limit(1)
            )
        if busy is None and not queued:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not finish processing its updates")
        await asyncio.sleep(0.01)


async def answer_of(live: Live, query_id: str, within: float = 15.0) -> dict[str, Any]:
    """The bot's answer to a button press (answerCallbackQuery), once it has come."""
    deadline = time.monotonic() + within
    while (answer := live.emu.callback_answers(query_id)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the press {query_id} was never answered")
        await asyncio.sleep(0.02)
    return answer
