"""One person's messages are handled in order, each after the previous one's state is
saved, whether the state is cached in the process (SQLite) or read from the database
every time (PostgreSQL, several processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import app as app_module
from bot.fsm_storage import DatabaseStorage
from bot.people import Worker
from tests.conftest import make_resident_id
from tests.engines import on_postgres
from tests.live import live_bot, settle
from tests.test_reliability import FAST_OUTBOX

WORKERS = 30


@pytest.mark.parametrize("cache", [True, False], ids=["state cached", "state not cached"])
async def test_name_and_id_sent_back_to_back_are_each_checked_as_what_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:
    if cache and on_postgres():
        cache = False  # PostgreSQL never caches (several processes); both runs check it

    class Storage(DatabaseStorage):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, cache=cache, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app_module, "DatabaseStorage", Storage)
    async with live_bot(tmp_path, outbox=FAST_OUTBOX) as live:
        assert (live.app.dispatcher.storage._cache is not None) == cache  # type: ignore[attr-defined]
        workers = [live.worker(20_000 + i, f"职工{i}") for i in range(WORKERS)]
        for worker in workers:
            notice = await worker.open_form(live.point_code)
            await worker.consent(notice)
        await settle(live)

        mark = live.emu.mark()
        for i, worker in enumerate(workers):  # typed without waiting for the bot
            live.emu.send_text(worker.user_id, f"李{chr(0x4E00 + i)}")
            live.emu.send_text(worker.user_id, make_resident_id(600 + i))
        await settle(live, within=60)
        await asyncio.sleep(0.2)

        right = 0
        for worker in workers:
            said = [e.message.get("text", "") for e in live.emu.bot_events[mark:]
                    if e.chat_id == worker.user_id]  # fmt: skip
            asked_mobile = any("分享您的手机号" in t for t in said)
            refused = any("请重新输入" in t for t in said)
            right += asked_mobile and not refused
        assert right == WORKERS, f"{right}/{WORKERS} workers had their id checked as an id"
        assert not live.emu.internal_errors


async def test_back_to_back_answers_land_in_the_right_fields(tmp_path: Path) -> None:
    async with live_bot(tmp_path, outbox=FAST_OUTBOX) as live:
        worker: Worker = live.worker(20_100, "王五")
        notice = await worker.open_form(live.point_code)
        await worker.consent(notice)
        for text in ("王五", make_resident_id(700), "13900000700", "北京德胜数码科技有限公司"):
            live.emu.send_text(worker.user_id, text)
        summary = await live.emu.wait_for(worker.user_id, "岗位", timeout=30)
        await settle(live)
        assert "岗位" in summary["text"]
        state = live.app.dispatcher.fsm.get_context(live.app.bot, worker.user_id, worker.user_id)
        data = await state.get_data()
        assert (data["name"], data["resident_id"], data["mobile"]) == (
            "王五",
            make_resident_id(700),
            "+8613900000700",
        )
        assert data["employer"] == "北京德胜数码科技有限公司"
