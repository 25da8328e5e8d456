"""The worker's commands through the real bot: /help, /status, /card, /cancel, /lang, and
scanning a reception point's QR code again at each stage of an application."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import func, select

from bot.people import Worker, WorkerData, buttons, find_button
from models import Application, FsmRecord
from tests.conftest import make_resident_id
from tests.live import REVIEW_GROUP, Live, live_bot, settle

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}
CRASH = "系统暂时出了点问题"
TIMEOUT = 10.0

_user_ids = itertools.count(5001)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    path: Path = tmp_path_factory.mktemp("worker_commands")
    async with live_bot(path, outbox=FAST_OUTBOX) as running:
        yield running
        assert not running.emu.internal_errors


# --- helpers ---------------------------------------------------------------------------
def new_worker(live: Live, name: str = "王小明", language: str = "zh-hans") -> Worker:
    return live.worker(next(_user_ids), name, language)


def data_for(worker: Worker) -> WorkerData:
    return WorkerData(
        worker.name,
        make_resident_id(worker.user_id % 1000),
        "+8613812345678",
        "北京某某科技有限公司",
    )


async def form_of(live: Live, user_id: int) -> tuple[str | None, dict[str, Any]]:
    key = StorageKey(bot_id=live.app.me.id, chat_id=user_id, user_id=user_id)
    context = FSMContext(live.app.dispatcher.storage, key)
    return await context.get_state(), await context.get_data()


async def stored_forms(live: Live, user_id: int) -> int:
    async with live.app.db.read() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(FsmRecord)
                .where(FsmRecord.key.contains(f":{user_id}:"))
            )
            or 0
        )


async def applications(live: Live, user_id: int) -> list[tuple[str, str]]:
    async with live.app.db.read() as session:
        rows = await session.execute(
            select(Application.number, Application.status)
            .where(Application.telegram_user_id == user_id)
            .order_by(Application.id)
        )
        return [(number, status) for number, status in rows]


async def apply(live: Live, worker: Worker, data: WorkerData | None = None) -> str:
    """Apply through the poster; returns the application number once the worker has it."""
    submitted = await worker.apply(live.point_code, data or data_for(worker))
    number = submitted["text"].split("申请编号 ")[1].split("。")[0].strip()
    # The submit edits the summary; the outbox then sends the receipt. Wait for both.
    await live.emu.wait_for(worker.user_id, f"您的入会申请已提交，申请编号 {number}", since=0)
    await settle(live)
    return number


async def review_card(live: Live, number: str) -> dict[str, Any]:
    return await live.emu.wait_for(
        lambda m: (
            m["chat"]["id"] == REVIEW_GROUP
            and number in (m.get("text") or "")
            and bool(m.get("reply_markup"))
        ),
        since=0,
        timeout=TIMEOUT,
    )


async def approve(live: Live, worker: Worker, number: str) -> str:
    """Staff approve; returns the member number from the worker's notification."""
    card = await review_card(live, number)
    mark = live.emu.mark()
    await live.staff().press(card, "通过", "已通过")
    approved = await live.emu.wait_for(worker.user_id, "恭喜", since=mark, timeout=TIMEOUT)
    await live.emu.wait_for(
        lambda m: "photo" in m and m["chat"]["id"] == worker.user_id, since=mark, timeout=TIMEOUT
    )
    return approved["text"].split("会员编号：")[1].split("\n")[0]


async def reject_with_note(live: Live, worker: Worker, number: str, note: str) -> dict[str, Any]:
    """Staff reject for "other reasons" with a typed note; returns the worker's notice."""
    staff = live.staff()
    card = await review_card(live, number)
    reasons = await staff.press(card, "驳回", number)
    assert reasons is not None
    prompt = await staff.press(reasons, "其他原因", "请回复本条消息")
    assert prompt is not None
    mark = live.emu.mark()
    live.emu.send_text(staff.user_id, note, REVIEW_GROUP, reply_to=prompt["message_id"])
    return await live.emu.wait_for(worker.user_id, "未通过", since=mark, timeout=TIMEOUT)


def assert_healthy(live: Live, user_id: int) -> None:
    assert not live.emu.internal_errors
    for message in live.emu.messages(user_id):
        assert CRASH not in (message.get("text") or "")
    assert all(c.ok for c in live.emu.sent_log if str(c.chat_id) == str(user_id))


# --- /help ---------------------------------------------------------------------------------
async def test_help_lists_the_commands(live: Live) -> None:
    worker = new_worker(live)
    reply = await worker.say("/help", "工会入会助手")
    for command in ("/start", "/status", "/card", "/cancel", "/lang", "/help"):
        assert command in reply["text"]
    assert_healthy(live, worker.user_id)


# --- /status and /card through an application's life ----------------------------------------
async def test_status_and_card_from_applying_to_membership(live: Live) -> None:
    worker = new_worker(live)
    before = await worker.say("/status")
    assert before["text"] == "您还没有提交过入会申请。发送 /start 开始申请。"
    no_card = await worker.say("/card")
    assert no_card["text"] == "您还不是会员，暂无会员卡。发送 /status 查看申请进度。"

    number = await apply(live, worker)
    during = await worker.say("/status", number)
    assert f"申请 {number}（" in during["text"] and "：审核中" in during["text"]
    assert "会员编号" not in during["text"]

    # Scanning again while the application is open says where it stands.
    again = await worker.say(f"/start {live.point_code}")
    assert again["text"] == (f"您的申请 {number} 正在审核中，请耐心等待。发送 /status 可查看进度。")
    assert await form_of(live, worker.user_id) == (None, {})

    member_number = await approve(live, worker, number)
    assert member_number.startswith("DS-")
    after = await worker.say("/status", member_number)
    text = after["text"]
    assert f"🪪 会员编号：{member_number}" in text and "所属工会：" in text
    assert "“四个一”会员服务：" in text
    assert "✅ 一张会员卡" in text
    assert "⏳ 一张会员服务卡" in text and "普惠制服务" in text and "一次工会活动" in text
    assert f"申请 {number}（" in text and "：已通过" in text

    mark = live.emu.mark()
    await worker.say("/card", "正在为您生成电子会员卡")
    photo = await live.emu.wait_for(
        lambda m: "photo" in m and m["chat"]["id"] == worker.user_id, since=mark, timeout=TIMEOUT
    )
    assert member_number in photo["caption"]
    assert photo["photo"] and live.emu.file_bytes(photo["photo"][-1]["file_id"])

    # A member who scans a poster again is told they are already a member.
    scanned = await worker.say(f"/start {live.point_code}")
    assert scanned["text"] == (
        f"您已经是工会会员了（会员编号 {member_number}）。发送 /card 可查看电子会员卡。"
    )
    assert await form_of(live, worker.user_id) == (None, {})
    assert await applications(live, worker.user_id) == [(number, "approved")]
    assert_healthy(live, worker.user_id)


async def test_rejection_shows_the_reason_and_the_worker_can_apply_again(live: Live) -> None:
    worker = new_worker(live, "李小红")
    data = data_for(worker)
    number = await apply(live, worker, data)
    note = "照片不清楚 <请重拍> & 补充"
    notice = await reject_with_note(live, worker, number, note)
    assert f"原因：其他原因：{note}" in notice["text"]

    status = await worker.say("/status", number)
    assert f"申请 {number}（" in status["text"]
    assert f"：未通过，原因：其他原因：{note}" in status["text"]
    no_card = await worker.say("/card")
    assert "您还不是会员" in no_card["text"]

    # The same person applies again, through the same poster.
    second = await apply(live, worker, data)
    assert second != number
    assert await applications(live, worker.user_id) == [
        (number, "rejected"),
        (second, "submitted"),
    ]
    status = await worker.say("/status", second)
    assert "：审核中" in status["text"] and "：未通过" in status["text"]
    assert_healthy(live, worker.user_id)


async def test_the_same_person_from_another_account_is_told_where_it_stands(live: Live) -> None:
    first = new_worker(live)
    data = data_for(first)
    number = await apply(live, first, data)

    other = new_worker(live, "王小明")
    notice = await other.open_form(live.point_code)
    await other.consent(notice)
    await other.say(data.name, "身份证号")
    reply = await other.say(data.resident_id)
    assert f"您已有一份正在审核的申请（编号 {number}，" in reply["text"]
    assert "发送 /status 可查看进度" in reply["text"]
    await settle(live)
    assert await form_of(live, other.user_id) == (None, {})
    assert await applications(live, other.user_id) == []


# --- /cancel -----------------------------------------------------------------------------
async def test_cancel_mid_form_stores_nothing_and_start_begins_afresh(live: Live) -> None:
    worker = new_worker(live)
    data = data_for(worker)
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    await worker.say(data.name, "身份证号")
    await worker.say(data.resident_id, "手机号")
    assert live.emu.reply_keyboard(worker.user_id) is not None  # the contact button

    cancelled = await worker.say("/cancel")
    assert cancelled["text"] == "已取消，您填写的信息没有保存。需要时发送 /start 重新开始。"
    await settle(live)
    assert await form_of(live, worker.user_id) == (None, {})
    assert await stored_forms(live, worker.user_id) == 0
    assert await applications(live, worker.user_id) == []
    assert live.emu.reply_keyboard(worker.user_id) is None

    # Typing on is no longer part of a form.
    reply = await worker.say(data.mobile)
    assert "我没有听懂" in reply["text"]

    notice = await worker.open_form(live.point_code)
    assert "个人信息处理说明" in notice["text"]
    question = await worker.say("你好")
    assert "请先阅读上面的说明" in question["text"]
    await settle(live)
    state, form = await form_of(live, worker.user_id)
    assert state == "Form:consent"
    assert not {"name", "resident_id", "mobile", "consent_at"} & set(form)
    assert_healthy(live, worker.user_id)


async def test_cancel_without_a_form(live: Live) -> None:
    worker = new_worker(live)
    reply = await worker.say("/cancel")
    assert reply["text"] == "当前没有正在填写的内容。"
    assert await stored_forms(live, worker.user_id) == 0


# --- languages ---------------------------------------------------------------------------
async def test_lang_switches_to_english_and_back(live: Live) -> None:
    worker = new_worker(live)
    menu = await worker.say("/lang", "Choose your language")
    assert {label for label, _ in buttons(menu)} == {"中文", "English"}
    switched = await worker.press(menu, "English", "Language switched to English.")
    assert switched is not None and not switched.get("reply_markup")

    help_text = await worker.say("/help")
    assert help_text["text"].startswith("I am the union membership assistant.")
    status = await worker.say("/status")
    assert status["text"] == "You have not applied for membership yet. Send /start to apply."
    card = await worker.say("/card")
    assert card["text"].startswith("You are not a member yet")
    online = await worker.say("/start", "Streets:")
    assert "德胜街道" in [label for label, _ in buttons(online)]
    notice = await worker.say(f"/start {live.point_code}", "Welcome!")
    assert "How we handle your personal information" in notice["text"]
    assert find_button(notice, "I agree")
    name_question = await worker.press(notice, "I agree", "Please enter your name")
    assert name_question is not None
    cancelled = await worker.say("/cancel")
    assert cancelled["text"].startswith("Cancelled.")
    nonsense = await worker.say("hello?")
    assert nonsense["text"].startswith("Sorry, I didn't understand that.")

    menu = await worker.say("/lang", "Choose your language")
    await worker.press(menu, "中文", "语言已切换为中文。")
    back = await worker.say("/help")
    assert back["text"].startswith("我是工会入会助手")
    assert_healthy(live, worker.user_id)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "I am the union membership assistant."),
        ("en-GB", "I am the union membership assistant."),
        ("zh-hans", "我是工会入会助手"),
        ("zh-hant", "我是工会入会助手"),
        ("fr", "我是工会入会助手"),
    ],
)
async def test_telegram_language_sets_the_default(live: Live, language: str, expected: str) -> None:
    worker = new_worker(live, "Alex", language=language)
    reply = await worker.say("/help")
    assert reply["text"].startswith(expected)
    status = await worker.say("/status")
    english = expected.startswith("I am")
    assert status["text"].startswith("You have not applied" if english else "您还没有提交过")
