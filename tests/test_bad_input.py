"""Invariant 9: bad input at any step of the form gets a short, polite answer and changes
nothing. The real bot runs against the emulator; every case uses a worker of its own."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select

from bot.emulator import Emulator
from bot.people import Worker, WorkerData, review_card
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.validation import beijing_today, normalise_free_text
from models import Application
from tests.conftest import make_resident_id
from tests.glyphs import EXT_B, ext_b_face, undrawable_han
from tests.live import OUTSIDER_ID, REVIEW_GROUP, STAFF_IDS, Live, live_bot, settle

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}
CRASH = "系统暂时出了点问题"
TIMEOUT = 10.0

# What each step says when it gets something it cannot use (handlers/form.py).
EXPECTS = {
    "consent": "请先阅读上面的说明，点击“同意”按钮后再填写。",
    "name": "这一步需要您输入姓名（文字）。",
    "resident_id": "这一步需要您输入 18 位身份证号（文字）。",
    "mobile": "这一步需要您分享手机号，或输入 11 位手机号。",
    "employer": "这一步需要您输入工作单位名称（文字）。",
    "job": "这一步需要您输入岗位（文字），也可以点击“跳过”。",
    "review": "请使用摘要下方的按钮修改信息或提交申请。",
}
STEPS = tuple(EXPECTS)
STATE = {step: f"Form:{step}" for step in STEPS}
# Validation wording (handlers/texts.py).
BAD_NAME = "姓名只能包含汉字（少数民族姓名可用“·”）或英文字母，请重新输入。"
RIC_FORMAT = "身份证号应为 18 位（最后一位可以是 X），请重新输入。"
MOBILE_INVALID = "手机号格式不正确，请输入 11 位手机号。"
NOT_OWN_CONTACT = "请分享您本人的手机号（点击下方按钮），或直接输入手机号。"
STALE = "这个按钮已失效，请发送 /start 重新开始。"

_user_ids = itertools.count(3001)

Send = Callable[[Emulator, int], Any]

MEDIA: dict[str, Send] = {
    "sticker": lambda emu, uid: emu.send_sticker(uid, emoji="🙂"),
    "photo": lambda emu, uid: emu.send_photo(uid, width=64, height=48),
    "voice": lambda emu, uid: emu.send_voice(uid, duration=2),
    "document": lambda emu, uid: emu.send_document(
        uid, b"%PDF-1.4\n%%EOF\n", "身份证.pdf", mime_type="application/pdf"
    ),
    "someone else's contact": lambda emu, uid: emu.send_contact(
        uid, "+8613900001111", contact_user_id=OUTSIDER_ID
    ),
}

TEXTS = {
    "4,000 characters": "工" * 4000,
    "only emoji": "😀👍🎉",
    "<b>": "<b>张三</b>",
    "<script>": "<script>alert(1)</script>",
}
# The answer to each text at the steps that validate text; consent and review always
# answer with their EXPECTS hint. Employer and job take free text: HTML there is valid
# (and escaped on display, see test_html_in_free_text_is_shown_escaped).
# Too long: the answer names the field and its limit, or the field's format.
TEXT_REPLIES = {
    "name": {"4,000 characters": "姓名最多 40 个字", "only emoji": BAD_NAME, "<b>": BAD_NAME},
    "resident_id": {"4,000 characters": RIC_FORMAT, "only emoji": RIC_FORMAT, "<b>": RIC_FORMAT},
    "mobile": {
        "4,000 characters": MOBILE_INVALID,
        "only emoji": MOBILE_INVALID,
        "<b>": MOBILE_INVALID,
    },
    "employer": {"4,000 characters": "工作单位最多 100 个字"},
    "job": {"4,000 characters": "岗位最多 60 个字"},
}
TEXT_REPLIES["name"]["<script>"] = BAD_NAME
TEXT_REPLIES["resident_id"]["<script>"] = RIC_FORMAT
TEXT_REPLIES["mobile"]["<script>"] = MOBILE_INVALID


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    path: Path = tmp_path_factory.mktemp("bad_input")
    async with live_bot(path, outbox=FAST_OUTBOX) as running:
        yield running
        assert not running.emu.internal_errors


# --- helpers ---------------------------------------------------------------------------
def data_for(user_id: int) -> WorkerData:
    return WorkerData(
        "张三",
        make_resident_id(user_id % 1000),
        "+8613812345678",
        "北京字节跳动科技有限公司",
        "程序员",
    )


def new_worker(live: Live) -> Worker:
    return live.worker(next(_user_ids), "测试职工")


async def to_step(live: Live, step: str) -> tuple[Worker, dict[str, Any]]:
    """A fresh worker whose form waits at `step`; returns the worker and the bot's prompt."""
    worker = new_worker(live)
    data = data_for(worker.user_id)
    prompt = await worker.open_form(live.point_code)
    if step == "consent":
        await settle(live)  # the state is committed with the update, just after the reply
        return worker, prompt
    mark = live.emu.mark()
    live.emu.press_button(worker.user_id, worker.user_id, prompt["message_id"], "f:consent:")
    prompt = await live.emu.wait_for(worker.user_id, "请输入您的姓名", since=mark)
    answers = (
        ("name", data.name, "请输入您的 18 位身份证号"),
        ("resident_id", data.resident_id, "请点击下方按钮分享您的手机号"),
        ("mobile", data.mobile, "请输入您的工作单位全称"),
        ("employer", data.employer, "请输入您的岗位或职务"),
        ("job", data.job, "请核对您的申请信息"),
    )
    for field, value, question in answers:
        if field == step:
            break
        prompt = await worker.say(value or "", question)
    await settle(live)
    return worker, prompt


def fsm(live: Live, user_id: int) -> FSMContext:
    key = StorageKey(bot_id=live.app.me.id, chat_id=user_id, user_id=user_id)
    return FSMContext(live.app.dispatcher.storage, key)


async def snapshot(live: Live, user_id: int) -> tuple[str | None, dict[str, Any]]:
    context = fsm(live, user_id)
    return await context.get_state(), await context.get_data()


async def applications(live: Live, user_id: int) -> list[str]:
    async with live.app.db.read() as session:
        rows = await session.scalars(
            select(Application.number).where(Application.telegram_user_id == user_id)
        )
        return list(rows)


async def reply_to(live: Live, user_id: int, send: Send) -> dict[str, Any]:
    """Do `send` and return the bot's first message after it (once processing is over)."""
    mark = live.emu.mark()
    send(live.emu, user_id)
    reply = await live.emu.wait_for(user_id, since=mark, timeout=TIMEOUT)
    await settle(live)
    return reply


async def answer_of(live: Live, query_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while (answer := live.emu.callback_answers(query_id)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"callback query {query_id} was never answered")
        await asyncio.sleep(0.01)
    await settle(live)
    return answer


def assert_healthy(live: Live, user_id: int) -> None:
    """No crash: no emulator errors, no error reply, every Bot API call to the chat ok."""
    assert not live.emu.internal_errors
    for message in live.emu.messages(user_id):
        assert CRASH not in (message.get("text") or ""), message.get("text")
    failed = [
        (call.method, call.description)
        for call in live.emu.sent_log
        if str(call.chat_id) in {str(user_id), str(REVIEW_GROUP)} and not call.ok
    ]
    assert not failed
    for answer in live.emu.callback_answers():
        assert CRASH not in (answer.get("text") or "")


async def assert_refused(
    live: Live, worker: Worker, send: Send, expected: str, what: str
) -> dict[str, Any]:
    """`send` gets `expected` as the answer and changes neither the form nor the database."""
    before = await snapshot(live, worker.user_id)
    reply = await reply_to(live, worker.user_id, send)
    assert expected in (reply.get("text") or ""), f"{what}: {reply.get('text')!r}"
    assert len(reply["text"]) < 200, f"{what}: the answer should be short"
    assert await snapshot(live, worker.user_id) == before, f"{what} changed the form"
    assert await applications(live, worker.user_id) == [], f"{what} stored an application"
    assert_healthy(live, worker.user_id)
    return reply


def text(value: str) -> Send:
    return lambda emu, uid: emu.send_text(uid, value)


# --- every step, unexpected kinds of message --------------------------------------------
@pytest.mark.parametrize("step", STEPS)
async def test_media_and_foreign_contacts_are_refused_at_every_step(live: Live, step: str) -> None:
    worker, _ = await to_step(live, step)
    assert (await snapshot(live, worker.user_id))[0] == STATE[step]
    for kind, send in MEDIA.items():
        expected = EXPECTS[step]
        if step == "mobile" and kind == "someone else's contact":
            expected = NOT_OWN_CONTACT
        await assert_refused(live, worker, send, expected, f"{kind} at {step}")


@pytest.mark.parametrize("step", STEPS)
async def test_bad_text_is_refused_at_every_step(live: Live, step: str) -> None:
    worker, _ = await to_step(live, step)
    replies = TEXT_REPLIES.get(step, dict.fromkeys(TEXTS, EXPECTS[step]))
    for kind, expected in replies.items():
        await assert_refused(live, worker, text(TEXTS[kind]), expected, f"{kind} at {step}")


@pytest.mark.parametrize("step", ["employer", "job"])
@pytest.mark.parametrize("value", ["😀👍🎉", "。。。", "——"], ids=["emoji", "dots", "dashes"])
async def test_free_text_without_letters_is_refused(live: Live, step: str, value: str) -> None:
    # An employer of only emoji or punctuation is no employer: it would become an
    # enterprise of its own (all-punctuation names even share one empty name key).
    worker, _ = await to_step(live, step)
    field = "单位" if step == "employer" else "岗位"
    reply = await assert_refused(live, worker, text(value), field, f"{value!r} as {step}")
    assert "请核对" not in reply["text"] and "岗位或职务" not in reply["text"]


# --- field by field -------------------------------------------------------------------
async def test_name_with_zero_width_characters_is_accepted_after_stripping(live: Live) -> None:
    worker, _ = await to_step(live, "name")
    reply = await worker.say("张\u200b三\u200d", "身份证号")
    assert "请输入您的 18 位身份证号" in reply["text"]
    await settle(live)
    state, data = await snapshot(live, worker.user_id)
    assert state == STATE["resident_id"] and data["name"] == "张三"
    assert_healthy(live, worker.user_id)


# The member card's fonts decide which names can be taken: the name check asks the app's
# own font stack (bot/render/fonts.py), the one its cards are drawn with.
NO_GLYPH = "暂时无法在会员卡上显示"


async def test_name_with_a_character_no_font_has_is_refused_naming_it(live: Live) -> None:
    lacking = undrawable_han(live.app.dispatcher["fonts"])
    worker, _ = await to_step(live, "name")
    reply = await assert_refused(live, worker, text(f"张{lacking}"), NO_GLYPH, "undrawable")
    assert f"姓名中的“{lacking}”暂时无法在会员卡上显示" in reply["text"]
    assert "请改用常用写法，或到街道工会服务站办理" in reply["text"]
    # The worker can go on with the common form of the name.
    await worker.say("张三", "请输入您的 18 位身份证号")


async def test_staff_entering_an_undrawable_name_are_told_to_agree_on_another(
    live: Live,
) -> None:
    lacking = undrawable_han(live.app.dispatcher["fonts"])
    clerk = Worker(live.emu, STAFF_IDS[2], "审核员503")
    await clerk.say("/assist", "代录纸质申请")
    notice = live.emu.last_message(clerk.user_id)
    await clerk.press(notice, "职工已同意", "职工的姓名")
    await settle(live)
    reply = await assert_refused(live, clerk, text(f"李{lacking}"), NO_GLYPH, "assisted")
    assert f"“{lacking}”" in reply["text"] and "请与职工商量改用常用写法" in reply["text"]
    assert "服务站" not in reply["text"]  # the clerk is the service station


async def test_name_with_an_extension_b_character_is_accepted(live: Live) -> None:
    ext_b_face(live.app.dispatcher["fonts"])  # the app has a font with Extension B
    worker, _ = await to_step(live, "name")
    await worker.say(f"龙{EXT_B}", "请输入您的 18 位身份证号")
    await settle(live)
    state, data = await snapshot(live, worker.user_id)
    assert state == STATE["resident_id"] and data["name"] == f"龙{EXT_B}"
    assert_healthy(live, worker.user_id)


def _wrong_check_digit(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last == "X" else str((int(last) + 1) % 10))


def _fifteen_year_old() -> str:
    return make_resident_id(15, birth=date(beijing_today().year - 15, 1, 1))


BAD_IDS = {
    "wrong check digit": (_wrong_check_digit(make_resident_id(11)), "身份证号校验位不正确"),
    "15-digit old id": ("110102900517001", "这是 15 位的旧身份证号"),
    "15-year-old": (_fifteen_year_old(), "年满 16 周岁的职工才能申请入会"),
    "17 digits": (make_resident_id(12)[:17], "身份证号应为 18 位"),
    "future birth date": (make_resident_id(13, birth=date(2099, 1, 1)), "出生日期在未来"),
    "unknown region": (make_resident_id(14, region="990000"), "地区代码不正确"),
}


@pytest.mark.parametrize("kind", BAD_IDS)
async def test_bad_resident_ids_are_refused(live: Live, kind: str) -> None:
    value, expected = BAD_IDS[kind]
    worker, _ = await to_step(live, "resident_id")
    await assert_refused(live, worker, text(value), expected, kind)


BAD_MOBILES: dict[str, tuple[Send, str]] = {
    "landline": (text("010-6601 2345"), "这不是手机号码（可能是座机）"),
    "foreign mobile": (text("+44 7911 123456"), "目前只支持中国大陆手机号"),
    "Hong Kong mobile": (text("+852 9123 4567"), "目前只支持中国大陆手机号"),
    "letters": (text("138-CALL-ME"), "手机号格式不正确"),
    "too few digits": (text("1381234567"), "手机号格式不正确"),
    "someone else's contact": (
        lambda emu, uid: emu.send_contact(uid, "8613900001111", contact_user_id=OUTSIDER_ID),
        NOT_OWN_CONTACT,
    ),
    "a contact without a user id": (
        lambda emu, uid: emu.send_contact(uid, "8613900001111", contact_user_id=None),
        NOT_OWN_CONTACT,
    ),
}


@pytest.mark.parametrize("kind", BAD_MOBILES)
async def test_bad_mobiles_are_refused(live: Live, kind: str) -> None:
    send, expected = BAD_MOBILES[kind]
    worker, _ = await to_step(live, "mobile")
    await assert_refused(live, worker, send, expected, kind)


async def test_own_contact_is_accepted(live: Live) -> None:
    worker, _ = await to_step(live, "mobile")
    await worker.share_contact("8613812345678", "请输入您的工作单位全称")
    await settle(live)
    state, data = await snapshot(live, worker.user_id)
    assert state == STATE["employer"] and data["mobile"] == "+8613812345678"


# --- forged buttons ---------------------------------------------------------------------
FORGED = [
    ("review", "f:edit:password", "无法识别的操作。"),
    ("review", "f:edit:", "无法识别的操作。"),
    ("review", "f:edit:street_id", "无法识别的操作。"),
    ("consent", "f:submit:", STALE),
    ("name", "f:submit:", STALE),
    ("job", "f:submit:", STALE),
    ("employer", "f:skip:", STALE),
    ("mobile", "f:edit:name", STALE),
    ("review", "f:street:1", STALE),
    ("name", "f:submit", "这个按钮已失效。"),
    ("name", "f:edit:name:extra", "这个按钮已失效。"),
    ("review", "rv:approve:not-a-number", "这个按钮已失效。"),
    ("name", "garbage", "这个按钮已失效。"),
    ("name", "f:lang:fr", "无法识别"),
]


@pytest.mark.parametrize(
    ("step", "data", "expected"), FORGED, ids=[f"{step} {data}" for step, data, _ in FORGED]
)
async def test_forged_buttons_are_refused(live: Live, step: str, data: str, expected: str) -> None:
    worker, prompt = await to_step(live, step)
    before = await snapshot(live, worker.user_id)
    messages = len(live.emu.messages(worker.user_id))
    query = live.emu.press_button(
        worker.user_id, worker.user_id, prompt["message_id"], data, forge=True
    )
    answer = await answer_of(live, query)
    assert expected in (answer["text"] or ""), f"{data} at {step}: {answer}"
    assert answer["show_alert"]
    assert await snapshot(live, worker.user_id) == before
    assert len(live.emu.messages(worker.user_id)) == messages
    assert await applications(live, worker.user_id) == []
    assert_healthy(live, worker.user_id)


async def test_consent_pressed_again_later_says_it_is_recorded(live: Live) -> None:
    # What a double tap looks like once the first tap moved the form on.
    worker, prompt = await to_step(live, "name")
    before = await snapshot(live, worker.user_id)
    messages = len(live.emu.messages(worker.user_id))
    query = live.emu.press_button(
        worker.user_id, worker.user_id, prompt["message_id"], "f:consent:", forge=True
    )
    answer = await answer_of(live, query)
    assert "已记录您的同意" in answer["text"] and not answer["show_alert"]
    assert await snapshot(live, worker.user_id) == before
    assert len(live.emu.messages(worker.user_id)) == messages
    assert_healthy(live, worker.user_id)


async def test_street_step_refuses_unknown_streets_and_stickers(live: Live) -> None:
    worker = new_worker(live)
    await worker.say("/start", "街道列表")
    await settle(live)
    streets = live.emu.last_message(worker.user_id)
    assert streets is not None
    before = await snapshot(live, worker.user_id)
    assert before[0] == "Form:street"
    for data in ("f:street:999", "f:street:abc", "f:street:"):
        query = live.emu.press_button(
            worker.user_id, worker.user_id, streets["message_id"], data, forge=True
        )
        answer = await answer_of(live, query)
        assert answer["text"] == "无法识别的街道，请重新选择。", data
        assert await snapshot(live, worker.user_id) == before
    await assert_refused(
        live,
        worker,
        MEDIA["sticker"],
        "请点击上面的按钮选择您所在的街道。",
        "sticker at the street step",
    )


# --- HTML never breaks a message -----------------------------------------------------------
async def test_html_in_free_text_is_shown_escaped(live: Live) -> None:
    worker, _ = await to_step(live, "name")
    employer = "<b>张三</b> & <script>alert(1)</script>有限公司"
    job = "<i>工程师</i> & <a href='x'>"
    await worker.say("Anne-Marie O'Neil", "身份证号")
    await worker.say(make_resident_id(worker.user_id % 1000), "手机号")
    await worker.say("13812345678", "工作单位")
    await worker.say(employer, "岗位")
    summary = await worker.say(job, "请核对")
    shown_employer = normalise_free_text(employer)
    assert "姓名：Anne-Marie O'Neil" in summary["text"]
    assert f"工作单位：{shown_employer}" in summary["text"]
    assert f"岗位：{job}" in summary["text"]
    # Escaped text is plain text: no entity came out of the user's tags.
    assert all(e["type"] == "bold" for e in summary.get("entities", []))

    mark = live.emu.mark()
    await worker.press(summary, "提交申请", "已提交")
    received = await live.emu.wait_for(worker.user_id, "申请编号", since=mark)
    number = received["text"].split("申请编号 ")[1].split("。")[0]
    submitted = live.emu.message(worker.user_id, summary["message_id"])
    assert f"工作单位：{shown_employer}" in submitted["text"]

    card = await live.emu.wait_for(REVIEW_GROUP, number, since=mark)
    assert "姓名：Anne-Marie O'Neil" in card["text"]
    assert shown_employer in card["text"]
    assert {e["type"] for e in card.get("entities", [])} <= {"bold"}
    assert review_card(live.emu, REVIEW_GROUP, number)["text"] == card["text"]
    assert_healthy(live, worker.user_id)


# --- /start with payloads that lead nowhere -----------------------------------------------
async def _retired_code(live: Live) -> str:
    admin = AdminService(live.app.db)
    code = await admin.add_point("DS", "已撤销的受理点", "building", Actor.cli("test"))
    await admin.retire_point(code, Actor.cli("test"))
    return code


@pytest.mark.parametrize(
    "payload", ["nope", "a" * 65, "../../etc", "pUnknown0000", "v-not-a-card", "RETIRED"]
)
async def test_unknown_start_payload_offers_the_online_channel(live: Live, payload: str) -> None:
    if payload == "RETIRED":
        payload = await _retired_code(live)
    worker = new_worker(live)
    mark = live.emu.mark()
    live.emu.send_text(worker.user_id, f"/start {payload}")
    explanation = await live.emu.wait_for(worker.user_id, "二维码已失效", since=mark)
    assert "您仍可以在线申请" in explanation["text"]
    streets = await live.emu.wait_for(worker.user_id, "街道列表", since=mark)
    labels = [b["text"] for row in streets["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["德胜街道"]
    await settle(live)
    assert (await snapshot(live, worker.user_id)) == ("Form:street", {})
    assert await applications(live, worker.user_id) == []
    assert_healthy(live, worker.user_id)
