"""Invariant 4 end to end: what the bot must tell a person survives Telegram refusing (429,
dropped connections), the process stopping after a commit, and blocked users; and the
sender keeps to the per-chat rate limit. Real bot, real SQLite file, the emulator."""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.app import load_keys
from bot.db import Database
from bot.local import running_bot
from bot.people import find_button
from bot.services.intake import IntakeService
from models import OutboxMessage
from models.base import utcnow
from tests.conftest import make_resident_id
from tests.engines import Store
from tests.live import REVIEW_GROUP, STAFF_IDS, TELEGRAM_OUTBOX, live_bot
from tests.test_reliability import (
    application_id,
    eventually,
    greet,
    harness,
    scalar,
    sql,
    submit_direct,
    submit_live,
)

SENDS = ("sendMessage", "sendPhoto")


def outbox_row(store: Store, chat_id: int, kind: str) -> tuple:
    rows = sql(
        store,
        "SELECT status, attempts, last_error FROM outbox WHERE chat_id = ? AND kind = ?",
        chat_id,
        kind,
    )
    assert len(rows) == 1, rows
    return rows[0]


def sent_row(store: Store, chat_id: int, kind: str) -> tuple | None:
    row = outbox_row(store, chat_id, kind)
    return row if row[0] == "sent" else None


def all_sent(store: Store) -> bool:
    return scalar(store, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0


def received_messages(emu, chat_id: int, number: str) -> list[dict]:
    return [m for m in emu.messages(chat_id) if number in (m.get("text") or "")]


async def test_429_is_retried_after_retry_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with live_bot(tmp_path) as live:
        emu = live.emu
        await greet(live.app, emu, 1601)
        mark = len(emu.sent_log)
        emu.inject_error("sendMessage", 429, retry_after=1, chat_id=1601)
        number = await submit_live(live, 1601, 161)
        await emu.wait_for(1601, number, since=0)

        calls = [c for c in emu.sent_log[mark:] if c.method == "sendMessage" and c.chat_id == 1601]
        assert [c.status for c in calls] == [429, 200]
        assert calls[1].at - calls[0].at >= 1.0, "sent again before retry_after had passed"
        row = await eventually(lambda: sent_row(live.store, 1601, "application_received"))
        assert row == ("sent", 1, "429 retry_after")
        assert len(received_messages(emu, 1601, number)) == 1
        assert "to retry in 1.0s: 429 retry_after" in caplog.text


async def test_dropped_connections_are_retried(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        emu, db = live.emu, live.store
        await greet(live.app, emu, 1611, 1612)
        mark = len(emu.sent_log)
        # The next two sendMessage calls get no response at all (whichever chat they are for).
        emu.inject_network_failure("sendMessage", count=2)
        number = await submit_live(live, 1611, 171)
        await emu.wait_for(1611, number, since=0)
        await emu.wait_for(REVIEW_GROUP, number, since=0)
        dropped = [c for c in emu.sent_log[mark:] if c.method == "sendMessage" and c.status == 0]
        assert len(dropped) == 2
        assert len(received_messages(emu, 1611, number)) == 1
        assert len(received_messages(emu, REVIEW_GROUP, number)) == 1
        await eventually(lambda: all_sent(db), what="every row to be sent")
        assert scalar(db, "SELECT count(*) FROM outbox") == 2

        # The call took effect but its response was lost: still delivered, row sent.
        mark = len(emu.sent_log)
        emu.inject_network_failure("sendMessage", after_processing=True)
        number = await submit_live(live, 1612, 172)
        await emu.wait_for(1612, number, since=0)
        await emu.wait_for(REVIEW_GROUP, number, since=0)
        await eventually(lambda: all_sent(db), what="every row to be sent")
        assert [c.status for c in emu.sent_log[mark:] if c.method == "sendMessage"].count(0) == 1
        assert 1 <= len(received_messages(emu, 1612, number)) <= 2  # at least once


async def test_rows_left_pending_are_sent_after_a_restart(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        emu = h.emu
        async with running_bot(h.settings) as app:
            await greet(app, emu, 1621, 1622)

        # The bot is down. Two commits happen with no sender alive: as if the process died
        # right after committing. One row also carries a lease of a process that died
        # mid-send; it must not be sent again before the lease runs out.
        keys = load_keys(h.settings)
        db = Database(h.settings.database.url)
        intake = IntakeService(db, keys.cipher, keys.hasher)
        committed = await submit_direct(intake, h.point_code, 1621, 181)
        leased = await submit_direct(intake, h.point_code, 1622, 182)
        lease_ends = utcnow() + timedelta(seconds=1.5)
        async with db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.chat_id == 1622)
                .values(attempts=1, next_attempt_at=lease_ends)
            )
        await db.dispose()
        assert scalar(h.store, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 4

        async with running_bot(h.settings):
            first = await emu.wait_for(1621, committed, since=0)
            await emu.wait_for(REVIEW_GROUP, committed, since=0)
            await emu.wait_for(REVIEW_GROUP, leased, since=0)
            await emu.wait_for(1622, leased, since=0)
            assert first["text"].startswith("📮")
            sends = [
                c for c in emu.calls("sendMessage", 1622) if c.ok and leased in c.params["text"]
            ]
            assert sends[0].wall >= lease_ends.timestamp(), "sent while another lease held it"
            await eventually(lambda: all_sent(h.store), what="every row to be sent")
        assert len(received_messages(emu, 1622, leased)) == 1
        assert application_id(h.store, leased)


async def test_blocked_user_fails_the_row_without_personal_data_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with live_bot(tmp_path) as live:
        emu = live.emu
        await greet(live.app, emu, 1631)
        emu.block_bot(1631)
        number = await submit_live(live, 1631, 191)
        await emu.wait_for(REVIEW_GROUP, number, since=0)  # other chats are unaffected
        status = await eventually(
            lambda: (
                outbox_row(live.store, 1631, "application_received")[0] == "failed"
                and outbox_row(live.store, 1631, "application_received")
            ),
            what="the row to fail",
        )
        assert status == ("failed", 1, "TelegramForbiddenError")
        assert not received_messages(emu, 1631, number)

        failures = [r for r in caplog.records if "failed for good" in r.getMessage()]
        assert len(failures) == 1 and failures[0].levelno == logging.ERROR
        assert "application_received" in failures[0].getMessage()
        personal = [make_resident_id(191), "13900000191", "职工191", "1631"]
        leaked = [p for p in personal if p in failures[0].getMessage()]
        assert leaked == [], failures[0].getMessage()
        leaked = [p for p in personal[:3] if p in caplog.text]
        assert leaked == [], "personal data in the logs"


async def test_one_private_chat_gets_at_most_one_message_a_second(tmp_path: Path) -> None:
    async with live_bot(tmp_path, outbox=TELEGRAM_OUTBOX) as live:
        emu = live.emu
        await greet(live.app, emu, 1641)
        mark = len(emu.sent_log)
        number = await submit_live(live, 1641, 201)
        card = await emu.wait_for(REVIEW_GROUP, number, since=0)
        emu.press_button(STAFF_IDS[0], REVIEW_GROUP, card["message_id"], find_button(card, "通过"))
        await emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == 1641, since=0)

        sends = [c for c in emu.sent_log[mark:] if c.method in SENDS and c.chat_id == 1641]
        assert [c.method for c in sends] == ["sendMessage", "sendMessage", "sendPhoto"]
        assert all(c.ok for c in sends)
        gaps = [round(b.at - a.at, 3) for a, b in itertools.pairwise(sends)]
        assert min(gaps) >= 0.95, f"messages to one chat {gaps}s apart"
