"""Forged callback data pressed on another message of the bot (a modified client): the
press is refused politely, nothing changes, and above all the message it was pressed on
is not edited (a forged employer choice once replaced a review card and took its Approve
and Reject buttons away). Through the real bot and the emulator."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.callbacks import AlertCb, EmployerCb, FormCb, ReviewCb
from bot.people import Worker, WorkerData, find_button
from bot.services.intake import IntakeService
from bot.views.privacy import PrivacyCb
from handlers.enterprise_admin import MergeCb
from models import Application, Enterprise, Street, ThresholdAlert
from tests.conftest import make_draft, make_resident_id
from tests.live import (
    FEDERATION_GROUP,
    FEDERATION_ID,
    REVIEW_GROUP,
    STAFF_IDS,
    Live,
    live_bot,
    settle,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}
TIMEOUT = 10.0
_seq = itertools.count(400)
_workers = itertools.count(9501)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    path: Path = tmp_path_factory.mktemp("forged")
    # Threshold 2: the second approval at an enterprise alerts the federation group.
    async with live_bot(path, threshold=2, outbox=FAST_OUTBOX) as running:
        yield running
        assert not running.emu.internal_errors


async def new_card(live: Live, employer: str = "北京字节跳动科技有限公司") -> tuple[int, dict]:
    intake: IntakeService = live.app.dispatcher.workflow_data["intake"]
    async with live.app.db.read() as session:
        street_id = await session.scalar(select(Street.id).where(Street.code == "DS"))
    seq = next(_seq)
    draft = make_draft(SimpleNamespace(street_id=street_id), seq, employer)  # type: ignore[arg-type]
    submitted = await intake.submit(7000 + seq, draft)
    card = await live.emu.wait_for(REVIEW_GROUP, submitted.number, since=0, timeout=TIMEOUT)
    async with live.app.db.read() as session:
        app_id = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    return int(app_id), card


async def press(live: Live, user_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
    """A forged press of `data` on `message`; the bot's answer, once it is all processed."""
    chat = message["chat"]["id"]
    query = live.emu.press_button(user_id, chat, message["message_id"], data, forge=True)
    deadline = time.monotonic() + TIMEOUT
    while (answer := live.emu.callback_answers(query)) is None:
        assert time.monotonic() < deadline, "the press was not answered"
        await asyncio.sleep(0.02)
    await settle(live)
    await asyncio.sleep(0.3)  # an edit would go through the outbox: give it time to show
    return answer


def current(live: Live, message: dict[str, Any]) -> dict[str, Any]:
    return live.emu.message(message["chat"]["id"], message["message_id"])


async def application(live: Live, app_id: int) -> Application:
    async with live.app.db.read() as session:
        return await session.get_one(Application, app_id)


# --- the review card -------------------------------------------------------------------


async def test_forged_employer_choice_on_a_review_card_is_refused(live: Live) -> None:
    app_id, card = await new_card(live)
    async with live.app.db.transaction() as session:
        other = Enterprise(name="西城早点铺", name_key="西城早点铺", provisional=False)
        session.add(other)
        await session.flush()
        other_id = other.id
    before = await application(live, app_id)
    staff = live.staff()
    # Also with the employer step open for this card (it remembers the card to edit).
    await staff.press(card, "更改单位", "请回复本条消息")
    card = current(live, card)

    answer = await press(
        live, staff.user_id, card, EmployerCb(app=app_id, enterprise=other_id).pack()
    )

    assert answer["show_alert"] and "审核卡片" in (answer["text"] or "")
    assert current(live, card) == card  # still the card, with 通过 and 驳回
    assert find_button(card, "通过") and find_button(card, "驳回")
    assert (await application(live, app_id)).enterprise_id == before.enterprise_id
    await staff.press(card, "通过", "已通过")  # the card still works


@pytest.mark.parametrize("action", ["approve", "reject", "back", "reason", "employer"])
async def test_forged_review_press_for_another_application_is_refused(
    live: Live, action: str
) -> None:
    target_id, target_card = await new_card(live)
    _, card = await new_card(live)
    fields: dict[str, Any] = {"reason": "incomplete"} if action == "reason" else {}
    data = ReviewCb(action=action, app=target_id, **fields).pack()

    answer = await press(live, STAFF_IDS[0], card, data)

    assert answer["show_alert"] and "审核卡片" in (answer["text"] or ""), answer
    assert current(live, card) == card
    assert current(live, target_card) == target_card
    assert (await application(live, target_id)).status == "submitted"
    prompts = [m for m in live.emu.messages(REVIEW_GROUP) if "请回复本条消息" in m.get("text", "")]
    assert all(m["reply_to_message"]["message_id"] != card["message_id"] for m in prompts)


# --- the federation group --------------------------------------------------------------


async def test_forged_alert_and_merge_presses_on_other_messages_are_refused(live: Live) -> None:
    for _ in range(2):
        _, card = await new_card(live, "德润昌物流")
        await live.staff().press(card, "通过", "已通过")
    alert = await live.emu.wait_for(FEDERATION_GROUP, "德润昌物流", since=0, timeout=TIMEOUT)
    federation = live.staff(FEDERATION_ID)
    found = await federation.say("/search 德润昌", "德润昌物流", FEDERATION_GROUP)
    async with live.app.db.read() as session:
        alert_id = await session.scalar(
            select(ThresholdAlert.id).order_by(ThresholdAlert.id.desc())
        )

    answer = await press(
        live, FEDERATION_ID, found, AlertCb(action="follow", alert=alert_id).pack()
    )
    assert answer["show_alert"] and current(live, found) == found
    async with live.app.db.read() as session:
        assert (await session.get_one(ThresholdAlert, alert_id)).followed_by_name is None

    for action in ("cancel", "do"):
        data = MergeCb(action=action, src=1, dst=2).pack()
        answer = await press(live, FEDERATION_ID, alert, data)
        assert answer["show_alert"] and current(live, alert) == alert, action
    await federation.press(alert, "我来跟进", "跟进人")  # the alert still works


# --- a worker's private chat -----------------------------------------------------------


async def worker_at_summary(live: Live) -> tuple[Worker, dict[str, Any], dict[str, Any]]:
    worker = live.worker(next(_workers), "王五")
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    data = WorkerData("王五", make_resident_id(next(_seq)), "13911112222", "西城早点铺")
    summary = await worker.fill(data, share_contact=False)
    return worker, current(live, notice), summary


@pytest.mark.parametrize(
    "data",
    [
        FormCb(action="submit").pack(),
        FormCb(action="cancel").pack(),
        FormCb(action="edit", value="employer").pack(),
        FormCb(action="lang", value="en").pack(),
    ],
)
async def test_forged_form_buttons_on_another_message_are_refused(live: Live, data: str) -> None:
    worker, notice, summary = await worker_at_summary(live)
    answer = await press(live, worker.user_id, notice, data)
    assert answer["show_alert"] and "按钮" in (answer["text"] or ""), answer
    assert current(live, notice) == notice and current(live, summary) == summary
    async with live.app.db.read() as session:
        mine = await session.scalar(
            select(Application.id).where(Application.telegram_user_id == worker.user_id)
        )
    assert mine is None
    await worker.submit(summary)  # the summary still works, in Chinese


async def test_forged_deletion_confirmation_on_another_message_is_refused(live: Live) -> None:
    worker, _, summary = await worker_at_summary(live)
    received = await worker.submit(summary)
    plan = await worker.say("/delete", "删除我的信息")
    token = find_button(plan, "确认删除")
    answer = await press(live, worker.user_id, received, token)
    assert answer["show_alert"] and current(live, received) == received
    async with live.app.db.read() as session:
        kept = await session.scalar(
            select(Application.anonymised_at).where(Application.telegram_user_id == worker.user_id)
        )
    assert kept is None  # nothing deleted
    assert PrivacyCb.unpack(token).action == "confirm"
    await worker.press(plan, "确认删除", "已删除")
