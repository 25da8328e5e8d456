"""Webhook mode end to end: the emulator POSTs updates with the secret header; the bot
stores each update before answering 200, refuses strangers, and ignores repeats."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import aiohttp

from bot.emulator import Emulator
from bot.local import local_settings, running_bot
from bot.people import Worker
from bot.runner import SECRET_HEADER
from tests.engines import new_store
from tests.live import FEDERATION_GROUP, make_emulator_people, seed
from tests.test_reliability import scalar

SECRET = "s3cret-Token_for-the-webhook"
FRESH_UPDATE_ID = 9_000_001


def free_port() -> int:
    """A port free now, and outside the ephemeral range when that is known: a port from
    bind(0) could be taken by an outgoing connection before the bot listens on it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    candidates = random.sample(range(10_000, low), min(50, low - 10_000)) if low > 10_050 else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port")


def help_update(user_id: int, name: str) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": name, "language_code": "zh-hans"}
    return {
        "update_id": FRESH_UPDATE_ID,
        "message": {
            "message_id": 90_001,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": name},
            "from": user,
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


async def test_webhook_mode(tmp_path: Path) -> None:
    port = free_port()
    store = new_store(tmp_path)
    async with Emulator() as emu:
        make_emulator_people(emu)
        hook = {"url": f"http://127.0.0.1:{port}", "secret": SECRET, "listen_port": port}
        settings = local_settings(
            emu.base_url, store.url, federation_chat_id=FEDERATION_GROUP, telegram={"webhook": hook}
        )
        code = await seed(settings)
        async with running_bot(settings, webhook=True) as app:
            webhook = emu.world.bot().webhook
            assert webhook is not None and webhook.secret_token == SECRET

            # A whole exchange, delivered by the emulator's POSTs.
            emu.add_user(1701, "周七")
            worker = Worker(emu, 1701, "周七")
            notice = await worker.open_form(code)
            await worker.consent(notice)
            await worker.say("周七", "身份证号")
            assert not emu.calls("getUpdates")

            url = f"http://127.0.0.1:{port}{settings.telegram.webhook.path}"
            body = help_update(1701, "周七")
            stored = "SELECT count(*) FROM inbox_update WHERE update_id = ?"

            def help_answers() -> int:
                return len([m for m in emu.messages(1701) if "/card" in (m.get("text") or "")])

            async with aiohttp.ClientSession() as http:
                for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}):
                    async with http.post(url, json=body, headers=headers) as response:
                        assert response.status == 401, headers
                await app.processor.drain()
                assert scalar(store, stored, FRESH_UPDATE_ID) == 0
                assert help_answers() == 0

                async with http.post(url, json=body, headers={SECRET_HEADER: SECRET}) as response:
                    assert response.status == 200
                    # Stored before the 200: the row is there the moment the answer is.
                    assert scalar(store, stored, FRESH_UPDATE_ID) == 1
                await app.processor.drain()
                await emu.wait_for(1701, "/card", since=0)

                async with http.post(url, json=body, headers={SECRET_HEADER: SECRET}) as response:
                    assert response.status == 200
                await app.processor.drain()

                bad = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
                async with http.post(url, data=b"{not json", headers=bad) as response:
                    assert response.status == 400

            assert scalar(store, stored, FRESH_UPDATE_ID) == 1
            assert help_answers() == 1
            assert scalar(store, "SELECT state FROM fsm_state") == "Form:resident_id"
            assert not emu.internal_errors
