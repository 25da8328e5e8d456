"""Reliability end to end: restarts, re-deliveries, racing staff, forged buttons, load.

Everything runs through real parts: a real SQLite file, the real bot talking HTTP to the
emulator, the real dispatcher. Helpers here are shared with test_outbox and test_webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.app import App
from bot.callbacks import FormCb, ReviewCb
from bot.config import Settings
from bot.emulator import Emulator
from bot.local import local_settings, running_bot
from bot.people import Worker, WorkerData, buttons, find_button, review_card
from bot.services.intake import Draft, IntakeService
from models.base import utcnow
from tests.conftest import make_resident_id
from tests.engines import Store, new_store
from tests.live import (
    FEDERATION_GROUP,
    OUTSIDER_ID,
    RELAXED_OUTBOX,
    REVIEW_GROUP,
    STAFF_IDS,
    Live,
    live_bot,
    make_emulator_people,
    seed,
)

T = TypeVar("T")
EMPLOYER = "北京德胜数码科技有限公司"
FAST_OUTBOX = RELAXED_OUTBOX


# --- helpers ---------------------------------------------------------------------------
@dataclass
class Harness:
    """The emulator and a seeded database, with no bot running: tests start (and restart)
    the bot themselves with `running_bot(h.settings)`."""

    emu: Emulator
    settings: Settings
    point_code: str
    store: Store

    def worker(self, user_id: int, name: str = "职工") -> Worker:
        if user_id not in self.emu.world.users:
            self.emu.add_user(user_id, name)
        return Worker(self.emu, user_id, name)


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, **sections: Any) -> AsyncIterator[Harness]:
    sections.setdefault("outbox", RELAXED_OUTBOX)
    async with Emulator() as emu:
        make_emulator_people(emu)
        store = new_store(tmp_path)
        settings = local_settings(
            emu.base_url, store.url, federation_chat_id=FEDERATION_GROUP, threshold=25, **sections
        )
        code = await seed(settings)
        yield Harness(emu, settings, code, store)


def sql(store: Store, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the bot's database with a separate plain connection."""
    return store.sql(query, *params)


def scalar(store: Store, query: str, *params: Any) -> Any:
    return store.scalar(query, *params)


async def eventually(check: Callable[[], T], timeout: float = 10.0, what: str = "it") -> T:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def greet(app: App, emu: Emulator, *user_ids: int) -> None:
    """Each worker says /start, so the bot may write to them (Telegram's 403 rule); returns
    once the bot has finished answering."""
    for user_id in user_ids:
        if user_id not in emu.world.users:
            emu.add_user(user_id, f"职工{user_id}")
    mark = emu.mark()
    for user_id in user_ids:
        emu.send_text(user_id, "/start")
    waiting = set(user_ids)

    def all_answered() -> bool:
        for event in emu.bot_events[mark:]:
            waiting.discard(event.chat_id)
        return not waiting

    await eventually(all_answered, 15, "the bot to answer /start")
    await app.processor.drain()


def make_draft(street_id: int, point_id: int | None, seq: int, employer: str = EMPLOYER) -> Draft:
    return Draft(
        street_id=street_id,
        point_id=point_id,
        consent_at=utcnow(),
        notice_version="2026-11",
        name=f"职工{seq}",
        resident_id=make_resident_id(seq),
        gender="male" if seq % 2 else "female",
        birth_date=date(1990, 5, 17),
        mobile=f"+86139{seq:08d}",
        employer=employer,
        job=None,
        language="zh",
    )


async def submit_direct(intake: IntakeService, point_code: str, user_id: int, seq: int) -> str:
    """An application committed straight through the service (as the form would)."""
    point = await intake.point_by_code(point_code)
    assert point is not None
    submitted = await intake.submit(user_id, make_draft(point.street_id, point.id, seq))
    return submitted.number


async def submit_live(live: Live, user_id: int, seq: int) -> str:
    number = await submit_direct(
        live.app.dispatcher.workflow_data["intake"], live.point_code, user_id, seq
    )
    live.app.sender.wake()
    return number


def application_id(store: Store, number: str) -> int:
    return int(scalar(store, "SELECT id FROM application WHERE number = ?", number))


async def answered(emu: Emulator, query_ids: list[str], timeout: float = 10.0) -> list[dict]:  # noqa: ASYNC109
    await eventually(
        lambda: all(emu.callback_answers(q) is not None for q in query_ids),
        timeout,
        f"answers to {len(query_ids)} button presses",
    )
    return [emu.callback_answers(q) for q in query_ids]


def decided_card(emu: Emulator, number: str, verdict: str) -> dict | None:
    card = review_card(emu, REVIEW_GROUP, number)
    if verdict in card["text"] and not card.get("reply_markup"):
        return card
    return None


def staff_states(store: Store) -> list[tuple[str, str]]:
    """Conversation states kept for people in the review group."""
    return sql(store, "SELECT key, state FROM fsm_state WHERE key LIKE ?", f"%:{REVIEW_GROUP}:%")


def plaintext_on_disk(store: Store, values: list[str]) -> list[tuple[str, str]]:
    """(file, value) for each value found in plain text in the database as it sits on disk
    (SQLite: the file and its write-ahead log; PostgreSQL: the database's files and WAL)."""
    return [
        (path.name, value)
        for path in store.files()
        for value in values
        if any(form in path.read_bytes() for form in plain_forms(value))
    ]


def table_page_bytes(store: Store, table: str) -> bytes:
    return store.table_bytes(table)


def plain_forms(value: str) -> list[bytes]:
    return [value.encode(), value.encode("utf-16-le"), json.dumps(value).encode()]


# --- 1. a half-filled form survives a restart (invariant 6) -----------------------------
async def test_half_filled_form_survives_a_restart(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        worker = h.worker(1101, "李四")
        data = WorkerData("李四", make_resident_id(111), "+8613900001111", EMPLOYER, "工程师")
        async with running_bot(h.settings) as app:
            notice = await worker.open_form(h.point_code)
            await worker.consent(notice)
            await worker.say(data.name, "身份证号")
            await worker.say(data.resident_id, "手机号")
            await app.processor.drain()  # the update is done, its state saved

            # Half filled: the state and the (encrypted) answers are in the database.
            rows = sql(h.store, "SELECT key, state, data_cipher FROM fsm_state")
            assert [(state) for _, state, _ in rows] == ["Form:mobile"]
            key, _, blob = rows[0]
            assert "1101" in key and blob
            for form in plain_forms(data.resident_id):
                assert form not in blob and form not in key.encode()
            pages = table_page_bytes(h.store, "fsm_state")
            for form in plain_forms(data.resident_id) + plain_forms("13900001111"):
                assert form not in pages, "plaintext in the fsm_state table's pages"

        # The bot is stopped; a new process on the same file and settings takes over.
        assert sql(h.store, "SELECT state FROM fsm_state") == [("Form:mobile",)]
        async with running_bot(h.settings):
            restarted = h.emu.mark()
            await worker.say("13900001111", "工作单位")
            await worker.say(data.employer, "岗位")
            summary = await worker.say(data.job or "", "请核对")
            # Answers given to the first process are all there (decrypted by the second).
            for given in (data.name, data.resident_id, "13900001111", "新街口社区"):
                assert given in summary["text"], given
            asked = [e.message.get("text", "") for e in h.emu.bot_events[restarted:]]
            assert not [t for t in asked if "姓名" in t and "请核对" not in t], asked
            received = await worker.submit(summary)
            number = received["text"].split("申请编号 ")[1].split("。")[0]
            card = await h.emu.wait_for(REVIEW_GROUP, number, since=0)
            assert "李四" in card["text"] and data.resident_id not in card["text"]

        rows = sql(
            h.store,
            "SELECT status, telegram_user_id, name, job FROM application WHERE number = ?",
            number,
        )
        assert rows == [("submitted", 1101, "李四", "工程师")]
        assert sql(h.store, "SELECT count(*) FROM fsm_state") == [(0,)]
        assert not h.emu.internal_errors


async def test_no_plaintext_personal_data_on_disk_while_a_form_is_filled(tmp_path: Path) -> None:
    """Invariant 7 for every copy the bot keeps, not only the FSM table: the database file
    and its write-ahead log never hold a typed id number or mobile number in plain text."""
    async with harness(tmp_path) as h:
        worker = h.worker(1102, "钱五")
        resident_id = make_resident_id(112)
        async with running_bot(h.settings) as app:
            notice = await worker.open_form(h.point_code)
            await worker.consent(notice)
            await worker.say("钱五", "身份证号")
            await worker.say(resident_id, "手机号")
            await worker.say("13900001112", "工作单位")
            await app.processor.drain()
            found = plaintext_on_disk(h.store, [resident_id, "13900001112"])
            assert found == [], "personal data stored in plain text while the form is filled"
        found = plaintext_on_disk(h.store, [resident_id, "13900001112"])
        assert found == [], "personal data stored in plain text after the bot stopped"


# --- 2. re-delivered updates have no second effect (invariant 5) ------------------------
async def test_redelivered_updates_have_no_second_effect(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        emu = h.emu
        worker = h.worker(1201, "赵六")
        data = WorkerData("赵六", make_resident_id(121), "+8613900001201", EMPLOYER)
        async with running_bot(h.settings) as app:
            received = await worker.apply(h.point_code, data)
            number = received["text"].split("申请编号 ")[1].split("。")[0]
            card = await emu.wait_for(REVIEW_GROUP, number, since=0)
            await Worker(emu, STAFF_IDS[0], "审核员").press(card, "通过", "已通过")
            await emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == 1201, since=0)
            await eventually(
                lambda: (
                    scalar(h.store, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0
                ),
                what="the outbox to drain",
            )

            history = emu.updates()

            def update_of(test: Callable[[dict], bool]) -> int:
                found = [u["update_id"] for u in history if test(u)]
                assert len(found) == 1, found
                return found[0]

            submit_data = FormCb(action="submit").pack()
            replayed = sorted(
                [
                    update_of(lambda u: u.get("callback_query", {}).get("data") == submit_data),
                    update_of(
                        lambda u: u.get("callback_query", {}).get("data", "").startswith("rv:app")
                    ),
                    update_of(lambda u: u.get("message", {}).get("text", "").startswith("/start ")),
                    update_of(lambda u: u.get("message", {}).get("text") == data.name),
                ]
            )
            calls_before = len(emu.sent_log)
            events_before = emu.mark()

            # Once while the bot runs...
            for update_id in replayed:
                emu.redeliver(update_id)
            await eventually(lambda: not emu.pending_updates(), what="the re-deliveries")
            await app.processor.drain()

        # ...and once more to a new process (the inbox outlives the process).
        for update_id in replayed:
            emu.redeliver(update_id)
        async with running_bot(h.settings) as app:
            await eventually(lambda: not emu.pending_updates(), what="the re-deliveries")
            await app.processor.drain()
            await asyncio.sleep(0.3)  # give a (wrong) second effect's outbox row time to go

        said = [
            (c.method, c.chat_id)
            for c in emu.sent_log[calls_before:]
            if c.method not in ("getUpdates", "getMe", "setMyCommands", "deleteWebhook")
        ]
        assert said == [], f"re-delivered updates made the bot act again: {said}"
        assert emu.bot_events[events_before:] == []
        db = h.store
        assert scalar(db, "SELECT count(*) FROM application WHERE telegram_user_id = 1201") == 1
        assert scalar(db, "SELECT count(*) FROM member WHERE telegram_user_id = 1201") == 1
        assert scalar(db, "SELECT count(*) FROM outbox WHERE chat_id = 1201") == 3
        assert scalar(db, "SELECT count(*) FROM audit_log WHERE action LIKE 'application.%'") == 2
        placeholders = ",".join("?" * len(replayed))
        stored = f"SELECT count(*) FROM inbox_update WHERE update_id IN ({placeholders})"
        assert scalar(db, stored, *replayed) == len(replayed)
        assert [m["text"] for m in emu.messages(1201) if "申请编号" in (m.get("text") or "")]
        assert len([m for m in emu.messages(REVIEW_GROUP) if number in m.get("text", "")]) == 1


# --- 3. staff decisions: once, by staff only, forged data refused (invariants 1, 9) ----
async def test_staff_decide_once_and_others_change_nothing(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        emu, db = live.emu, live.store
        await greet(live.app, emu, 1301, 1302)
        first = await submit_live(live, 1301, 131)
        second = await submit_live(live, 1302, 132)
        card = await emu.wait_for(REVIEW_GROUP, first, since=0)
        other = await emu.wait_for(REVIEW_GROUP, second, since=0)
        approve = find_button(card, "通过")

        # 501 double-clicks while 502 presses too: all three presses queued at once.
        presses = [
            emu.press_button(STAFF_IDS[0], REVIEW_GROUP, card["message_id"], approve),
            emu.press_button(STAFF_IDS[1], REVIEW_GROUP, card["message_id"], approve),
            emu.press_button(STAFF_IDS[0], REVIEW_GROUP, card["message_id"], approve),
        ]
        answers = await answered(emu, presses)
        await eventually(lambda: decided_card(emu, first, "已通过"), what="the decided card")

        assert scalar(db, "SELECT count(*) FROM member") == 1
        winner = scalar(db, "SELECT decided_by_name FROM application WHERE number = ?", first)
        assert winner in ("审核员501", "审核员502")
        wins = [a for a in answers if a["text"].startswith("已通过，会员编号")]
        losses = [a for a in answers if a not in wins]
        assert len(wins) == 1 and len(losses) == 2, answers
        for loss in losses:
            assert f"这份申请已由 {winner} 于" in loss["text"] and loss["text"].endswith("通过。")
            assert loss["show_alert"]
        approvals = "SELECT count(*) FROM audit_log WHERE action = 'application.approved'"
        assert scalar(db, approvals) == 1
        assert winner in decided_card(emu, first, "已通过")["text"]  # type: ignore[index]
        await emu.wait_for(1301, "恭喜", since=0)

        # Now nobody may change anything: an outsider, and forged callback data.
        other_id = application_id(db, second)
        before = emu.message(REVIEW_GROUP, other["message_id"])
        events_before = emu.mark()
        refusal = "只有本街道工会的审核人员可以处理这份申请。"
        attempts: list[tuple[int, str, bool, str]] = [
            (OUTSIDER_ID, find_button(other, "通过"), False, refusal),
            (OUTSIDER_ID, find_button(other, "驳回"), False, refusal),
            (
                OUTSIDER_ID,
                ReviewCb(action="reason", app=other_id, reason="duplicate").pack(),
                True,
                refusal,
            ),
            (
                OUTSIDER_ID,
                ReviewCb(action="reason", app=other_id, reason="other").pack(),
                True,
                refusal,
            ),
            (STAFF_IDS[0], "rv:approve:999999:", True, "找不到这份申请。"),
            (STAFF_IDS[0], "rv:reject:999999:", True, "找不到这份申请。"),
            (STAFF_IDS[0], "rv:approve:999999", True, "这个按钮已失效。"),
            (STAFF_IDS[0], "rv:approve:-5:", True, "这个按钮已失效。"),
            (STAFF_IDS[0], "rv:approve:abc", True, "这个按钮已失效。"),
            (STAFF_IDS[0], "rv:approve", True, "这个按钮已失效。"),
            (STAFF_IDS[0], secrets.token_hex(32), True, "这个按钮已失效。"),
            (STAFF_IDS[0], "🙂" * 16, True, "这个按钮已失效。"),
            (STAFF_IDS[0], f"rv:reason:{other_id}:bogus", True, "无法识别的操作。"),
            (STAFF_IDS[0], f"rv:approve:{application_id(db, first)}:", True, "这份申请已由"),
            (STAFF_IDS[0], "rv:approve:" + "9" * 40 + ":", True, "这个按钮已失效。"),
        ]
        for _user, data, _forge, _expected in attempts:
            assert len(data.encode()) <= 64
        presses = [
            emu.press_button(user, REVIEW_GROUP, other["message_id"], data, forge=forge)
            for user, data, forge, _expected in attempts
        ]
        answers = await answered(emu, presses)
        await live.app.processor.drain()
        await asyncio.sleep(0.3)  # anything wrongly queued in the outbox would go out now
        assert emu.message(REVIEW_GROUP, other["message_id"]) == before
        assert [e for e in emu.bot_events[events_before:] if e.chat_id == REVIEW_GROUP] == []
        assert scalar(db, "SELECT status FROM application WHERE number = ?", second) == "submitted"
        assert scalar(db, "SELECT count(*) FROM member") == 1
        assert staff_states(db) == []  # no half-started reject note
        decisions = "SELECT count(*) FROM audit_log WHERE action IN (?, ?)"
        assert scalar(db, decisions, "application.approved", "application.rejected") == 1
        assert not emu.internal_errors

        # Each press got a clear, polite toast saying why nothing happened.
        unclear = [
            (user, data, answer["text"], answer["show_alert"])
            for (user, data, _forge, expected), answer in zip(attempts, answers, strict=True)
            if not (answer["text"] and answer["text"].startswith(expected) and answer["show_alert"])
        ]
        assert unclear == [], "presses answered without a clear refusal"


# --- 4. reject with a reason, from the buttons or typed ---------------------------------
async def test_reject_with_a_listed_reason_and_with_a_typed_one(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        emu, db = live.emu, live.store
        await greet(live.app, emu, 1401, 1402)
        first = await submit_live(live, 1401, 141)
        second = await submit_live(live, 1402, 142)
        staff = STAFF_IDS[1]

        async def open_reasons(number: str) -> dict:
            card = await emu.wait_for(REVIEW_GROUP, number, since=0)
            emu.press_button(staff, REVIEW_GROUP, card["message_id"], find_button(card, "驳回"))

            def reasons_shown() -> dict | None:
                now = emu.message(REVIEW_GROUP, card["message_id"])
                return now if any("材料不完整" in t for t, _ in buttons(now)) else None

            return await eventually(reasons_shown, what="the reason buttons")

        # A listed reason.
        card = await open_reasons(first)
        assert [t for t, _ in buttons(card)][-1] == "↩️ 返回"
        press = emu.press_button(
            staff, REVIEW_GROUP, card["message_id"], find_button(card, "材料不完整")
        )
        assert (await answered(emu, [press]))[0]["text"] == "已驳回"
        told = await emu.wait_for(1401, "未通过审核", since=0)
        assert (
            first in told["text"]
            and "原因：材料不完整" in told["text"]
            and "/start" in told["text"]
        )
        decided = await eventually(lambda: decided_card(emu, first, "已驳回"), what="the card")
        assert (
            "已驳回</b>（材料不完整）" in decided["text"]
            or "已驳回（材料不完整）" in decided["text"]
        )
        assert "审核员502" in decided["text"]

        # "Other": the bot asks for the reason; staff answer by replying to that prompt
        # (group privacy mode: the bot only sees replies to its own messages).
        card = await open_reasons(second)
        mark = emu.mark()
        emu.press_button(staff, REVIEW_GROUP, card["message_id"], find_button(card, "其他原因"))
        prompt = await emu.wait_for(REVIEW_GROUP, "驳回原因", since=mark)
        assert "审核员502" in prompt["text"]
        sent = [c for c in emu.calls("sendMessage", REVIEW_GROUP) if "驳回原因" in c.params["text"]]
        markup = sent[-1].params.get("reply_markup") or "{}"
        markup = json.loads(markup) if isinstance(markup, str) else markup
        assert markup.get("force_reply") is True, f"the prompt has no ForceReply: {markup}"
        assert prompt.get("reply_to_message", {}).get("message_id") == card["message_id"]
        note = "营业执照上的单位名称与所填不符"
        emu.send_text(staff, note, REVIEW_GROUP, reply_to=prompt["message_id"])
        told = await emu.wait_for(1402, "未通过审核", since=0)
        assert f"原因：其他原因：{note}" in told["text"] and "/start" in told["text"]
        decided = await eventually(lambda: decided_card(emu, second, "已驳回"), what="the card")
        assert note in decided["text"] and "审核员502" in decided["text"]

        rows = sql(
            db,
            "SELECT status, reject_reason, reject_note, decided_by_user_id FROM application "
            "ORDER BY id",
        )
        assert rows == [
            ("rejected", "incomplete", None, staff),
            ("rejected", "other", note, staff),
        ]
        assert (
            scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'application.rejected'") == 2
        )
        assert staff_states(db) == []
        assert scalar(db, "SELECT count(*) FROM member") == 0

        # A rejected worker may apply again.
        worker = Worker(emu, 1401, "职工1401")
        notice = await worker.open_form(live.point_code)
        assert "个人信息处理说明" in notice["text"]
        assert not emu.internal_errors


# --- 5. 120 simultaneous approvals of 40 applications -----------------------------------
async def test_120_simultaneous_approvals(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    count = 40
    workers = list(range(150_001, 150_001 + count))
    async with live_bot(tmp_path, outbox=FAST_OUTBOX) as live:
        emu, db = live.emu, live.store
        await greet(live.app, emu, *workers)
        intake = live.app.dispatcher.workflow_data["intake"]
        numbers = [
            await submit_direct(intake, live.point_code, user_id, 500 + i)
            for i, user_id in enumerate(workers)
        ]
        live.app.sender.wake()

        def cards() -> list[dict] | None:
            found = {
                n: m for m in emu.messages(REVIEW_GROUP) for n in numbers if n in m.get("text", "")
            }
            return [found[n] for n in numbers] if len(found) == count else None

        posted = await eventually(cards, 15, "40 review cards")
        started = time.monotonic()
        presses = [
            emu.press_button(staff, REVIEW_GROUP, card["message_id"], find_button(card, "通过"))
            for card in posted
            for staff in STAFF_IDS
        ]
        assert len(presses) == 120
        answers = await answered(emu, presses, timeout=30)
        await eventually(
            lambda: all(decided_card(emu, n, "已通过") for n in numbers), 30, "40 decided cards"
        )
        elapsed = time.monotonic() - started

        wins = [a for a in answers if a["text"].startswith("已通过，会员编号")]
        losses = [a for a in answers if a["text"].startswith("这份申请已由")]
        assert len(wins) == count and len(losses) == 2 * count, [a["text"] for a in answers]
        assert scalar(db, "SELECT count(*) FROM member WHERE status = 'active'") == count
        assert scalar(db, "SELECT count(DISTINCT application_id) FROM member") == count
        assert sql(db, "SELECT member_count FROM enterprise") == [(count,)]
        assert sql(db, "SELECT threshold, member_count FROM threshold_alert") == [(25, 25)]
        assert scalar(db, "SELECT count(*) FROM application WHERE status = 'approved'") == count
        approvals = "SELECT count(*) FROM audit_log WHERE action = 'application.approved'"
        assert scalar(db, approvals) == count
        alert = await emu.wait_for(FEDERATION_GROUP, "建会提示", since=0)
        await asyncio.sleep(0.3)
        assert [
            m["message_id"]
            for m in emu.messages(FEDERATION_GROUP)
            if m.get("from", {}).get("is_bot")
        ] == [alert["message_id"]]
        assert "database is locked" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        assert not emu.internal_errors
        print(f"120 presses decided in {elapsed:.2f}s")
