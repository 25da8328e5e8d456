"""Every message within Telegram's limits and nothing lost in silence, end to end: the real
bot against the emulator with Telegram's flood control switched on."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import pytest
from aiogram.methods import SendMessage

from bot import outbox_views
from bot.emulator.faults import FloodLimits
from bot.handoff import OutboxHandoff, unseal
from bot.people import find_button
from bot.render.fonts import MissingGlyphsError
from bot.services import outbox
from tests.conftest import World, make_resident_id
from tests.live import REVIEW_GROUP, STAFF_IDS, TELEGRAM_OUTBOX, Live, live_bot, settle
from tests.test_reliability import application_id, eventually, greet, scalar, sql, submit_live

SENDS = {"sendmessage", "sendphoto", "editmessagetext", "editmessagereplymarkup"}


def refusals(live: Live) -> list[tuple[str, object]]:
    return [(c.method, c.chat_id) for c in live.emu.sent_log if c.status == 429]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def group_calls(live: Live, since: int = 0) -> list:
    return [
        c for c in live.emu.sent_log[since:]
        if c.chat_id == REVIEW_GROUP and c.method.lower() in SENDS and c.ok
    ]  # fmt: skip


async def test_a_busy_review_group_gets_no_429_and_staff_commands_still_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with live_bot(tmp_path, outbox=TELEGRAM_OUTBOX) as live:
        live.emu.set_flood_limits(FloodLimits())
        workers = list(range(3001, 3009))
        await greet(live.app, live.emu, *workers)
        numbers = [await submit_live(live, user, 300 + i) for i, user in enumerate(workers)]
        await asyncio.sleep(2.0)  # the group's queue is being drained at one a second
        reply = await live.staff().say("/whoami", "审核", chat_id=REVIEW_GROUP)
        assert "德胜街道" in reply["text"]
        for number in numbers:
            await live.emu.wait_for(REVIEW_GROUP, number, since=0, timeout=30)
        await settle(live)
        assert refusals(live) == []
        assert errors(caplog) == []
        assert not live.emu.internal_errors


async def test_card_edits_go_before_new_cards_and_pending_edits_collapse(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path, outbox=TELEGRAM_OUTBOX) as live:
        live.emu.set_flood_limits(FloodLimits())
        await greet(live.app, live.emu, 3101, *range(3102, 3108))
        first = await submit_live(live, 3101, 310)
        card = await live.emu.wait_for(REVIEW_GROUP, first, since=0)
        later = [await submit_live(live, 3102 + i, 311 + i) for i in range(6)]
        mark = len(live.emu.sent_log)
        # Staff approve the first card while six new cards wait for the group's slots;
        # meanwhile two more edits of that card are queued (as other changes would).
        live.emu.press_button(STAFF_IDS[0], REVIEW_GROUP, card["message_id"],
                              find_button(card, "通过"))  # fmt: skip
        edits_queued = "SELECT count(*) FROM outbox WHERE kind = 'review_card_edit'"
        await eventually(lambda: scalar(live.store, edits_queued) == 1, what="the card edit")
        app_id = application_id(live.store, first)
        async with live.app.db.transaction() as session:
            for _ in range(2):
                await outbox.enqueue(
                    session, REVIEW_GROUP, "review_card_edit",
                    application_id=app_id, message_id=card["message_id"],
                )  # fmt: skip
        for number in later:
            await live.emu.wait_for(REVIEW_GROUP, number, since=0, timeout=30)
        await settle(live)

        calls = group_calls(live, mark)
        target = str(card["message_id"])
        edits = [
            c for c in calls
            if c.method == "editMessageText" and str(c.params.get("message_id")) == target
        ]  # fmt: skip
        assert len(edits) == 1, [c.method for c in calls]  # three queued, one sent
        new_cards = [i for i, c in enumerate(calls) if c.method == "sendMessage"]
        assert calls.index(edits[0]) <= 1, [c.method for c in calls]
        assert len(new_cards) == 6
        statuses = sql(live.store, "SELECT status FROM outbox WHERE kind = 'review_card_edit' "
                       "ORDER BY id")  # fmt: skip
        assert sorted(s for (s,) in statuses) == ["sent", "superseded", "superseded"]
        assert refusals(live) == []


async def test_a_refused_reply_is_waited_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with live_bot(tmp_path) as live:
        await greet(live.app, live.emu, 3201)
        mark = len(live.emu.sent_log)
        live.emu.inject_error("sendMessage", 429, retry_after=2, chat_id=3201)
        reply = await live.worker(3201).say("/help", "/status")
        calls = [c for c in live.emu.sent_log[mark:] if c.method == "sendMessage"]
        assert [c.status for c in calls] == [429, 200]
        assert calls[1].at - calls[0].at >= 2.0
        assert "/status" in reply["text"]
        assert "retry_after=2" in caplog.text and errors(caplog) == []


async def test_a_reply_that_cannot_go_is_handed_to_the_outbox(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with live_bot(tmp_path) as live:
        await greet(live.app, live.emu, 3301)
        live.emu.inject_network_failure("sendMessage", count=3)  # the reply and 2 retries
        reply = await live.worker(3301).say("/help", "/status")
        assert "/status" in reply["text"]
        await settle(live)
        replies = "SELECT status, chat_id FROM outbox WHERE kind = 'reply'"
        rows = await eventually(
            lambda: (found := sql(live.store, replies)) and found[0][0] == "sent" and found,
            what="the reply to be sent from the outbox",
        )
        assert rows == [("sent", 3301)]
        assert len([m for m in live.emu.messages(3301) if "/status" in (m.get("text") or "")]) == 1
        assert "handed to the outbox" in caplog.text
        assert errors(caplog) == []  # one warning, no traceback


async def test_a_handed_over_reply_is_sealed(world: World) -> None:
    resident_id = make_resident_id(3)
    handoff = OutboxHandoff(world.db, world.cipher)
    await handoff(SendMessage(chat_id=42, text=f"请核对：身份证号 {resident_id}"))
    async with world.db.read() as session:
        from sqlalchemy import select

        from models import OutboxMessage

        row = await session.scalar(select(OutboxMessage))
    assert row.kind == "reply" and resident_id not in str(row.payload)
    assert resident_id.encode() not in base64.b64decode(row.payload["sealed"])
    opened = unseal(world.cipher, row.payload["sealed"])
    assert isinstance(opened, SendMessage) and resident_id in opened.text


async def test_a_button_answered_too_late_is_dropped_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with live_bot(tmp_path) as live:
        await greet(live.app, live.emu, 3401)
        number = await submit_live(live, 3401, 340)
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        # As for an update resumed after a restart: Telegram no longer takes the answer.
        live.emu.inject_error(
            "answerCallbackQuery", 400,
            description="Bad Request: query is too old and response timeout expired or "
            "query ID is invalid",
        )  # fmt: skip
        live.emu.press_button(STAFF_IDS[0], REVIEW_GROUP, card["message_id"],
                              find_button(card, "通过"))  # fmt: skip
        await live.emu.wait_for(3401, "恭喜", since=0)
        await settle(live)
        assert scalar(live.store, "SELECT status FROM application") == "approved"
        assert errors(caplog) == [] and "Traceback" not in caplog.text


async def test_a_notification_that_fails_for_good_is_reported_to_the_street(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path) as live:
        await greet(live.app, live.emu, 3501)
        live.emu.block_bot(3501)
        number = await submit_live(live, 3501, 350)
        report = await live.emu.wait_for(REVIEW_GROUP, "未能向申请人", since=0)
        assert number in report["text"] and "屏蔽" in report["text"]
        assert make_resident_id(350) not in report["text"]


async def test_a_card_that_cannot_be_drawn_fails_at_once_and_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def cannot_draw(*_args: object, **_kwargs: object) -> bytes:
        raise MissingGlyphsError(["\U00031350"])

    monkeypatch.setattr(outbox_views, "render_card_async", cannot_draw)
    async with live_bot(tmp_path) as live:
        await greet(live.app, live.emu, 3601)
        number = await submit_live(live, 3601, 360)
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        await live.staff().press(card, "通过", "已通过")
        report = await live.emu.wait_for(REVIEW_GROUP, "电子会员卡", since=0)
        assert number in report["text"] and "无法显示" in report["text"]
        rows = sql(live.store, "SELECT status, attempts FROM outbox WHERE kind = 'member_card'")
        assert rows == [("failed", 1)]
