"""Updates stored but not processed (the process died) are handled once after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import load_keys
from bot.db import Database
from bot.emulator import Emulator
from bot.inbox import Inbox
from bot.local import local_settings, running_bot
from tests.engines import new_store
from tests.live import make_emulator_people, seed


async def test_stored_update_is_resumed_once_after_a_restart(tmp_path: Path) -> None:
    async with Emulator() as emu:
        make_emulator_people(emu)
        settings = local_settings(emu.base_url, new_store(tmp_path).url)
        await seed(settings)
        emu.add_user(7001, "孙七")
        emu.send_text(7001, "/help")
        [update] = [u for u in emu.pending_updates() if u.get("message", {}).get("text") == "/help"]
        bot_id = int(settings.telegram.token.get_secret_value().split(":")[0])

        # The last process stored the update, confirmed it to Telegram, and died.
        db = Database(settings.database.url)
        assert await Inbox(db, bot_id, load_keys(settings).cipher).store([update]) == [update]
        await db.dispose()

        async with running_bot(settings):
            await emu.wait_for(7001, "/status", since=0)
            await asyncio.sleep(0.5)  # the same update, polled again, must change nothing
        help_replies = [m for m in emu.messages(7001) if "/status" in (m.get("text") or "")]
        assert len(help_replies) == 1
        assert help_replies[0]["chat"]["id"] == 7001  # parsed with Telegram's field names
