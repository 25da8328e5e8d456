"""The Bot API emulator, driven over real HTTP by the real aiogram Bot and Dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    BotCommandScopeChatMember,
    BotCommandScopeDefault,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from PIL import Image

from bot.emulator import Emulator, EmulatorError, FloodLimits

TOKEN = "123456:TEST-token"
ALICE, BOB, STAFF_GROUP = 1001, 1002, -1001234567890


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    emulator.add_bot(TOKEN, "unionbot", "UnionBot")
    emulator.add_user(ALICE, "张", "三", username="zhangsan")
    emulator.add_user(BOB, "李四")
    async with emulator:
        yield emulator
    assert emulator.internal_errors == []


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    async with Bot(TOKEN, session=session) as client:
        yield client


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=text, callback_data=data) for text, data in pairs]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def demo_router() -> Router:
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message) -> None:
        await message.answer(
            "<b>申请</b> #7",
            parse_mode="HTML",
            reply_markup=keyboard(("Approve", "ok:7"), ("Reject", "no:7")),
        )

    @router.callback_query(F.data.startswith("ok:"))
    async def approve(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("申请 #7 approved")
        await query.answer("Approved")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    return router


@contextlib.asynccontextmanager
async def polling(bot: Bot, router: Router) -> AsyncIterator[Dispatcher]:
    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        yield dp
    finally:
        await dp.stop_polling()
        await task


# --- long polling with the real Dispatcher --------------------------------------------------


async def test_text_round_trip_through_dispatcher(emu: Emulator, bot: Bot) -> None:
    async with polling(bot, demo_router()):
        sent = emu.send_text(ALICE, "你好")
        reply = await emu.wait_for(ALICE, "echo: 你好", timeout=5)
    assert sent["from"]["id"] == ALICE and sent["chat"]["type"] == "private"
    assert reply["from"] == {
        "id": 123456,
        "is_bot": True,
        "first_name": "UnionBot",
        "username": "unionbot",
    }
    assert reply["message_id"] > sent["message_id"]
    assert [m["text"] for m in emu.messages(ALICE)] == ["你好", "echo: 你好"]


async def test_buttons_callback_answer_and_edit_in_place(emu: Emulator, bot: Bot) -> None:
    async with polling(bot, demo_router()):
        command = emu.send_command(ALICE, "start")
        card = await emu.wait_for(ALICE, "申请", timeout=5)
        query_id = emu.press_button(ALICE, ALICE, card["message_id"], "ok:7")
        edited = await emu.wait_for(ALICE, "approved", timeout=5)
        for _ in range(50):  # the answer may arrive just after the edit
            if emu.callback_answers(query_id):
                break
            await asyncio.sleep(0.02)
    assert command["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    assert card["entities"] == [{"offset": 0, "length": 2, "type": "bold"}]
    assert edited["message_id"] == card["message_id"] and "edit_date" in edited
    assert "reply_markup" not in edited  # editMessageText without markup drops the keyboard
    assert emu.callback_answers(query_id)["text"] == "Approved"
    transcript = emu.transcript_text()
    assert "[Approve] [Reject]" in transcript and "(toast): Approved" in transcript


# --- getUpdates semantics --------------------------------------------------------------------


async def test_get_updates_offset_confirms_and_limit(emu: Emulator, bot: Bot) -> None:
    for text in ("one", "two", "three"):
        emu.send_text(ALICE, text)
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    again = await bot.get_updates()  # nothing confirmed yet: same updates again
    assert [u.update_id for u in again][:2] == [u.update_id for u in first]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["three"]
    last = await bot.get_updates(offset=-1)
    assert [u.update_id for u in last] == [rest[-1].update_id]


async def test_get_updates_long_poll_returns_as_soon_as_an_update_arrives(
    emu: Emulator, bot: Bot
) -> None:
    began = time.monotonic()
    assert await bot.get_updates(timeout=0) == []
    assert time.monotonic() - began < 0.5

    asyncio.get_running_loop().call_later(0.2, emu.send_text, ALICE, "late")
    began = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    assert 0.15 < time.monotonic() - began < 2
    assert updates[0].message and updates[0].message.text == "late"

    began = time.monotonic()
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == []
    assert time.monotonic() - began >= 0.9


async def test_allowed_updates_filters_new_updates(emu: Emulator, bot: Bot) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    emu.send_text(ALICE, "ignored")
    assert await bot.get_updates() == []
    await bot.get_updates(allowed_updates=[])  # back to the default set
    emu.send_text(ALICE, "seen")
    assert [u.message.text for u in await bot.get_updates() if u.message] == ["seen"]


async def test_redeliver_keeps_update_id(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "pay once")
    (update,) = await bot.get_updates()
    assert await bot.get_updates(offset=update.update_id + 1) == []
    emu.redeliver(update.update_id)
    (again,) = await bot.get_updates(offset=update.update_id + 1)
    assert again.update_id == update.update_id
    assert again.message and again.message.text == "pay once"
    assert await bot.get_updates(offset=update.update_id + 1) == []


# --- validation like Telegram ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<blink>x</blink>", 'Unsupported start tag "blink" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<a href="https://t.me>x</a>', "Unclosed start tag at byte offset 0"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
async def test_malformed_html_is_rejected(emu: Emulator, bot: Bot, html: str, reason: str) -> None:
    emu.send_text(ALICE, "hi")
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(ALICE, html, parse_mode="HTML")
    assert caught.value.message == f"Bad Request: can't parse entities: {reason}"


async def test_html_entities_come_back_parsed_with_utf16_offsets(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    text = (
        '😀 <b>粗</b> <a href="https://example.org">link</a> <code>x</code> '
        '<tg-spoiler>s</tg-spoiler> &lt;tag&gt; &amp; &#36; <pre><code class="language-py">'
        "p</code></pre>"
    )
    message = await bot.send_message(ALICE, text, parse_mode="HTML")
    assert message.text == "😀 粗 link x s <tag> & $ p"
    entities = [(e.type, e.offset, e.length) for e in message.entities or []]
    assert entities == [
        ("bold", 3, 1),
        ("text_link", 5, 4),
        ("code", 10, 1),
        ("spoiler", 12, 1),
        ("pre", 24, 1),
    ]
    assert message.entities and message.entities[1].url == "https://example.org/"
    assert message.entities[4].language == "py"


async def test_text_limits(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    assert (await bot.send_message(ALICE, "字" * 4096)).text == "字" * 4096
    with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
        await bot.send_message(ALICE, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
        await bot.send_message(ALICE, " \n ")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ALICE, BufferedInputFile(png(10, 10), "p.png"), caption="c" * 1025)
    trimmed = await bot.send_message(ALICE, "\n  hello \n")
    assert trimmed.text == "hello"


async def test_callback_data_longer_than_64_bytes_is_rejected(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    ok = await bot.send_message(ALICE, "ok", reply_markup=keyboard(("A", "审" * 21)))  # 63 B
    assert ok.reply_markup is not None
    with pytest.raises(TelegramBadRequest, match="Bad Request: BUTTON_DATA_INVALID"):
        await bot.send_message(ALICE, "no", reply_markup=keyboard(("A", "x" * 65)))


async def test_chat_errors(emu: Emulator, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message(424242, "who?")
    with pytest.raises(
        TelegramForbiddenError, match="Forbidden: bot can't initiate conversation with a user"
    ):
        await bot.send_message(BOB, "hello")
    emu.send_text(BOB, "/start")
    assert (await bot.send_message(BOB, "hello")).text == "hello"
    emu.block_bot(BOB)
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(BOB, "still there?")
    kinds = [next(k for k in u if k != "update_id") for u in emu.updates()]
    assert kinds == ["message", "my_chat_member"]
    with pytest.raises(EmulatorError):
        emu.send_text(BOB, "blocked users cannot write")


# --- faults ----------------------------------------------------------------------------------


async def test_injected_429_surfaces_as_retry_after(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    emu.inject_error("sendMessage", status=429, retry_after=7, count=2)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(ALICE, "x")
        assert caught.value.retry_after == 7
    assert (await bot.send_message(ALICE, "third time")).text == "third time"
    statuses = [c.status for c in emu.calls("sendmessage")]
    assert statuses == [429, 429, 200]


async def test_injected_error_for_one_chat_only(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    emu.send_text(BOB, "hi")
    emu.inject_error("sendMessage", status=400, chat_id=BOB, description="Bad Request: nope")
    assert await bot.send_message(ALICE, "fine")
    with pytest.raises(TelegramBadRequest, match="nope"):
        await bot.send_message(BOB, "fails")


async def test_network_failure_surfaces_as_network_error(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    emu.inject_network_failure("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(ALICE, "lost")
    assert [m["text"] for m in emu.messages(ALICE)] == ["hi"]

    emu.inject_network_failure("sendMessage", after_processing=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(ALICE, "delivered, but the answer is lost")
    assert emu.last_message(ALICE)["text"] == "delivered, but the answer is lost"
    assert [c.status for c in emu.calls("sendMessage")] == [0, 0]


async def test_flood_limits_answer_429_with_retry_after(emu: Emulator, bot: Bot) -> None:
    emu.add_group(STAFF_GROUP, "街道工会", [ALICE], admin_ids=[BOB])
    emu.add_bot_to_group(TOKEN, STAFF_GROUP, BOB)
    emu.set_flood_limits(FloodLimits(per_chat_per_second=None, per_group_per_minute=3))
    for n in range(3):
        await bot.send_message(STAFF_GROUP, f"card {n}")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(STAFF_GROUP, "one too many")
    assert 55 <= caught.value.retry_after <= 60
    stamps = [c.at for c in emu.calls("sendMessage", chat_id=STAFF_GROUP)]
    assert len(stamps) == 4 and stamps == sorted(stamps)


# --- media -----------------------------------------------------------------------------------


async def test_photo_upload_keeps_bytes_and_real_dimensions(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    data = png(1000, 630)
    message = await bot.send_photo(ALICE, BufferedInputFile(data, "card.png"), caption="会员卡")
    assert message.photo is not None
    largest = message.photo[-1]
    assert (largest.width, largest.height) == (1000, 630)
    assert [max(p.width, p.height) for p in message.photo] == [90, 320, 800, 1000]
    assert emu.file_bytes(largest.file_id) == data
    file = await bot.get_file(largest.file_id)
    assert file.file_path
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == data

    resent = await bot.send_photo(ALICE, largest.file_id)
    assert resent.photo and resent.photo[-1].file_unique_id == largest.file_unique_id
    assert "[photo 1000×630] 会员卡" in emu.transcript_text()
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(ALICE, BufferedInputFile(b"not an image", "x.png"))


async def test_document_upload_keeps_name_type_and_bytes(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    message = await bot.send_document(
        ALICE, BufferedInputFile(b"name,count\nA,25\n", "members.csv"), caption="导出"
    )
    document = message.document
    assert document and document.file_name == "members.csv"
    assert document.mime_type == "text/csv" and document.file_size == 16
    assert emu.file_bytes(document.file_id) == b"name,count\nA,25\n"
    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_photo(ALICE, document.file_id)


# --- edits and buttons -----------------------------------------------------------------------


async def test_edits_and_their_errors(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    card = await bot.send_message(ALICE, "pending", reply_markup=keyboard(("Approve", "ok:1")))
    same = {"chat_id": ALICE, "message_id": card.message_id}
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("pending", reply_markup=keyboard(("Approve", "ok:1")), **same)
    edited = await bot.edit_message_text("approved", **same)
    assert edited.text == "approved" and edited.edit_date and edited.reply_markup is None
    await bot.edit_message_reply_markup(reply_markup=keyboard(("Undo", "undo:1")), **same)
    assert emu.message(ALICE, card.message_id)["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Undo",
        "callback_data": "undo:1",
    }
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_text("x", chat_id=ALICE, message_id=999)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=ALICE, message_id=1)  # Alice's own message
    assert await bot.delete_message(ALICE, card.message_id)
    assert [m["text"] for m in emu.messages(ALICE)] == ["hi"]


async def test_press_button_refuses_data_not_on_the_message(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    card = await bot.send_message(ALICE, "card", reply_markup=keyboard(("Approve", "ok:1")))
    with pytest.raises(EmulatorError, match="no button"):
        emu.press_button(ALICE, ALICE, card.message_id, "ok:2")
    forged = emu.press_button(ALICE, ALICE, card.message_id, "ok:2", forge=True)
    queries = [u.callback_query for u in await bot.get_updates() if u.callback_query]
    assert [(q.id, q.data) for q in queries] == [(forged, "ok:2")]
    assert await bot.answer_callback_query(forged, text="Not allowed", show_alert=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(forged)
    assert emu.callback_answers(forged)["show_alert"] is True


async def test_reply_keyboard_is_tracked_and_contact_shared(emu: Emulator, bot: Bot) -> None:
    emu.send_text(ALICE, "hi")
    share = KeyboardButton(text="Share phone", request_contact=True)
    markup = ReplyKeyboardMarkup(keyboard=[[share]], resize_keyboard=True)
    sent = await bot.send_message(ALICE, "Your phone?", reply_markup=markup)
    assert sent.reply_markup is None  # Telegram only echoes inline keyboards
    assert emu.reply_keyboard(ALICE)["keyboard"][0][0]["request_contact"] is True
    contact = emu.send_contact(ALICE, "+8613800138000")
    assert contact["contact"] == {
        "phone_number": "+8613800138000",
        "first_name": "张",
        "last_name": "三",
        "user_id": ALICE,
    }
    assert "keyboard: [Share phone]" in emu.transcript_text()


# --- groups ----------------------------------------------------------------------------------


async def test_groups_privacy_mode_and_chat_members(emu: Emulator, bot: Bot) -> None:
    emu.add_group(STAFF_GROUP, "德胜街道工会", [ALICE], admin_ids=[BOB])
    emu.add_bot_to_group(TOKEN, STAFF_GROUP, BOB)
    joined = await bot.get_updates(allowed_updates=["message", "my_chat_member"])
    change = next(u.my_chat_member for u in joined if u.my_chat_member)
    assert (change.old_chat_member.status, change.new_chat_member.status) == ("left", "member")
    card = await bot.send_message(STAFF_GROUP, "card")
    offset = joined[-1].update_id + 1

    emu.send_text(ALICE, "chatter", STAFF_GROUP)  # privacy mode: not for the bot
    emu.send_text(ALICE, "/stats", STAFF_GROUP)
    emu.send_text(BOB, "because…", STAFF_GROUP, reply_to=card.message_id)
    texts = [u.message.text for u in await bot.get_updates(offset=offset) if u.message]
    assert texts == ["/stats", "because…"]

    member = await bot.get_chat_member(STAFF_GROUP, BOB)
    assert member.status == "creator"
    assert (await bot.get_chat_member(STAFF_GROUP, ALICE)).status == "member"
    emu.add_user(3003, "赵六")
    assert (await bot.get_chat_member(STAFF_GROUP, 3003)).status == "left"
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(STAFF_GROUP, 999999)
    chat = await bot.get_chat(STAFF_GROUP)
    assert (chat.type, chat.title) == ("supergroup", "德胜街道工会")
    with pytest.raises(TelegramBadRequest, match="message can't be deleted"):
        await bot.delete_message(STAFF_GROUP, card.message_id - 1)


# --- webhooks --------------------------------------------------------------------------------


async def test_webhook_delivery_with_secret_and_retries(emu: Emulator, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        if len(received) == 1:
            return web.Response(status=500)  # not acknowledged: Telegram delivers it again
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        emu.send_text(ALICE, "via webhook")
        for _ in range(100):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.02)
        info = await bot.get_webhook_info()
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
    (secret1, first), (secret2, second) = received[:2]
    assert secret1 == secret2 == "s3cret"
    assert first == second and first["message"]["text"] == "via webhook"
    assert info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert await bot.get_updates() == []


async def test_webhook_response_may_carry_a_method(emu: Emulator, bot: Bot) -> None:
    """aiogram's handler answers the webhook with the method (a multipart form body)."""
    router = Router()

    @router.message(F.text)
    async def pong(message: Message) -> SendMessage:
        return SendMessage(chat_id=message.chat.id, text="<b>pong</b>", parse_mode="HTML")

    dp = Dispatcher()
    dp.include_router(router)
    app = web.Application()
    handler = SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="k")
    handler.register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", secret_token="k")
        emu.send_text(ALICE, "ping")
        reply = await emu.wait_for(ALICE, "pong", timeout=5)
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
    assert reply["entities"] == [{"offset": 0, "length": 4, "type": "bold"}]


# --- raw HTTP: how Telegram accepts requests ---------------------------------------------------


async def test_raw_http_conventions(emu: Emulator) -> None:
    emu.send_text(ALICE, "hi")
    base = f"{emu.base_url}/bot{TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.base_url}/bot999:nope/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{base}/noSuchMethod") as resp:
            assert (resp.status, (await resp.json())["description"]) == (404, "Not Found")
        async with http.get(f"{base}/SENDMESSAGE", params={"chat_id": ALICE, "text": "q"}) as r:
            assert (await r.json())["result"]["text"] == "q"
        body = {"chat_id": ALICE, "text": "<i>j</i>", "parse_mode": "HTML"}
        async with http.post(f"{base}/sendMessage", json=body) as resp:
            assert (await resp.json())["result"]["entities"][0]["type"] == "italic"
        form = {"chat_id": str(ALICE), "text": "f", "reply_markup": '{"remove_keyboard":true}'}
        async with http.post(f"{base}/sendMessage", data=form) as resp:
            assert (await resp.json())["ok"] is True
        async with http.post(f"{base}/sendMessage", data={"chat_id": "x", "text": "t"}) as resp:
            assert (resp.status, (await resp.json())["description"]) == (
                400,
                "Bad Request: chat not found",
            )


async def test_control_http_api(emu: Emulator) -> None:
    control = f"{emu.base_url}/_emulator"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{control}/add_user", json={"user_id": 2001, "first_name": "王五"}):
            pass
        async with http.post(f"{control}/send_text", json={"user_id": 2001, "text": "/start"}) as r:
            assert (await r.json())["result"]["entities"][0]["type"] == "bot_command"
        async with http.post(f"{control}/press_button", json={"user_id": 1}) as resp:
            assert resp.status == 400
        async with http.post(f"{control}/messages", json={"chat_id": 2001}) as resp:
            assert [m["text"] for m in (await resp.json())["result"]] == ["/start"]
        async with http.get(f"{control}/transcript") as resp:
            assert "王五 (private)] 王五: /start" in await resp.text()
        async with http.post(f"{control}/wait_for", json={"match": 2001, "timeout": 0.1}) as r:
            assert r.status == 408


# --- command menus per scope -------------------------------------------------------------------


def _names(commands: list[Any]) -> list[str]:
    return [c.command if isinstance(c, BotCommand) else c["command"] for c in commands]


def _cmds(*names: str) -> list[BotCommand]:
    return [BotCommand(command=n, description=f"{n} / {n}") for n in names]


@pytest.fixture
async def group(emu: Emulator) -> int:
    """A supergroup with ALICE as a member and BOB as an administrator; the bot is in it."""
    emu.add_group(STAFF_GROUP, "德胜街道工会审核群", [ALICE], admin_ids=[BOB])
    emu.add_bot_to_group(TOKEN, STAFF_GROUP, BOB)
    return STAFF_GROUP


async def test_commands_per_scope_round_trip_exactly(emu: Emulator, bot: Bot, group: int) -> None:
    scopes = {
        "default": BotCommandScopeDefault(),
        "private": BotCommandScopeAllPrivateChats(),
        "groups": BotCommandScopeAllGroupChats(),
        "admins": BotCommandScopeAllChatAdministrators(),
        "chat": BotCommandScopeChat(chat_id=group),
        "chat_admins": BotCommandScopeChatAdministrators(chat_id=group),
        "member": BotCommandScopeChatMember(chat_id=group, user_id=ALICE),
        "alice": BotCommandScopeChat(chat_id=ALICE),
    }
    for name, scope in scopes.items():
        assert await bot.set_my_commands(_cmds(name), scope=scope)
    assert await bot.set_my_commands(_cmds("en_default"), language_code="en")
    for name, scope in scopes.items():
        assert _names(await bot.get_my_commands(scope=scope)) == [name]  # no fallback
    assert _names(await bot.get_my_commands(language_code="en")) == ["en_default"]
    assert _names(await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=BOB))) == []
    assert emu.commands({"type": "chat_member", "chat_id": group, "user_id": ALICE}) == [
        {"command": "member", "description": "member / member"}
    ]

    assert await bot.delete_my_commands(scope=scopes["member"])
    assert await bot.get_my_commands(scope=scopes["member"]) == []
    assert await bot.set_my_commands([], scope=scopes["chat"])  # an empty list deletes it
    assert await bot.get_my_commands(scope=scopes["chat"]) == []


async def test_menu_follows_telegrams_scope_precedence(emu: Emulator, bot: Bot, group: int) -> None:
    emu.add_user(1003, "Tom", language_code="en")
    emu.set_member_status(group, 1003, "member", by_user_id=BOB)
    menu = emu.command_menu
    assert menu(ALICE) == [] and menu(ALICE, group) == []
    await bot.set_my_commands(_cmds("default"))
    assert _names(menu(ALICE)) == _names(menu(ALICE, group)) == ["default"]

    # Private chats: chat > all_private_chats > default, each with the language first.
    await bot.set_my_commands(_cmds("private"), scope=BotCommandScopeAllPrivateChats())
    await bot.set_my_commands(_cmds("mine"), scope=BotCommandScopeChat(chat_id=ALICE))
    await bot.set_my_commands(
        _cmds("private_en"), scope=BotCommandScopeAllPrivateChats(), language_code="en"
    )
    assert _names(menu(ALICE)) == ["mine"]
    assert _names(menu(BOB)) == ["private"]  # zh-hans: no English list for him
    assert _names(menu(1003)) == ["private_en"]
    assert _names(menu(ALICE, group)) == ["default"]  # private scopes stay private

    # Groups: chat_member > chat_administrators > chat > all_chat_administrators >
    # all_group_chats > default; the two admin scopes only for administrators.
    await bot.set_my_commands(_cmds("groups"), scope=BotCommandScopeAllGroupChats())
    await bot.set_my_commands(_cmds("all_admins"), scope=BotCommandScopeAllChatAdministrators())
    assert _names(menu(ALICE, group)) == ["groups"]
    assert _names(menu(BOB, group)) == ["all_admins"]
    await bot.set_my_commands(_cmds("chat"), scope=BotCommandScopeChat(chat_id=group))
    assert _names(menu(ALICE, group)) == _names(menu(BOB, group)) == ["chat"]
    await bot.set_my_commands(
        _cmds("chat_admins"), scope=BotCommandScopeChatAdministrators(chat_id=group)
    )
    assert _names(menu(ALICE, group)) == ["chat"]
    assert _names(menu(BOB, group)) == ["chat_admins"]
    await bot.set_my_commands(
        _cmds("alice_here"), scope=BotCommandScopeChatMember(chat_id=group, user_id=ALICE)
    )
    await bot.set_my_commands(
        _cmds("bob_here"), scope=BotCommandScopeChatMember(chat_id=group, user_id=BOB)
    )
    assert _names(menu(ALICE, group)) == ["alice_here"]
    assert _names(menu(BOB, group)) == ["bob_here"]
    assert _names(menu(1003, group)) == ["chat"]

    # Someone who left the group sees no menu there; deleting a list falls back again.
    emu.set_member_status(group, ALICE, "left")
    assert menu(ALICE, group) == []
    await bot.delete_my_commands(scope=BotCommandScopeChatMember(chat_id=group, user_id=BOB))
    assert _names(menu(BOB, group)) == ["chat_admins"]


async def test_bad_scopes_get_telegrams_errors(emu: Emulator, bot: Bot, group: int) -> None:
    async def refused(scope: Any, **kwargs: Any) -> str:
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.set_my_commands(_cmds("x"), scope=scope, **kwargs)
        return caught.value.message

    private = "Bad Request: can't use specified scope in private chats"
    assert await refused(BotCommandScopeChatMember(chat_id=ALICE, user_id=ALICE)) == private
    assert await refused(BotCommandScopeChatAdministrators(chat_id=ALICE)) == private
    with pytest.raises(TelegramBadRequest, match="can't use specified scope in private chats"):
        await bot.get_my_commands(scope=BotCommandScopeChatAdministrators(chat_id=BOB))
    assert await refused(BotCommandScopeChat(chat_id=4040)) == "Bad Request: chat not found"
    assert await refused(BotCommandScopeChat(chat_id="@nobody")) == "Bad Request: chat not found"
    emu.add_group(-100777, "机器人不在的群", [ALICE])
    assert await refused(BotCommandScopeChat(chat_id=-100777)) == "Bad Request: chat not found"
    assert await refused(BotCommandScopeChatMember(chat_id=group, user_id=4040)) == (
        "Bad Request: user not found"
    )
    assert await refused(BotCommandScopeDefault(), language_code="EN") == (
        "Bad Request: invalid language code specified"
    )
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMANDS_TOO_MUCH"):
        await bot.set_my_commands(_cmds(*(f"c{n}" for n in range(101))))
    with pytest.raises(TelegramBadRequest, match="description must be non-empty"):
        await bot.set_my_commands([BotCommand(command="start", description="  ")])
    assert await bot.get_my_commands() == []  # nothing refused was stored

    base = f"{emu.base_url}/bot{TOKEN}/setMyCommands"
    commands = [{"command": "start", "description": "开始"}]
    parse = "Bad Request: can't parse BotCommandScope"
    member = {"type": "chat_member", "chat_id": group}
    cases = [
        ("{not json", f"{parse} JSON object"),
        ([1], f"{parse}: BotCommandScope must be an Object"),
        ({}, f'{parse}: Can\'t find field "type"'),
        ({"type": "everyone"}, f"{parse}: Unsupported type specified"),
        ({"type": "chat"}, f'{parse}: Can\'t find field "chat_id"'),
        ({"type": "chat", "chat_id": ""}, f"{parse}: Empty chat_id specified"),
        (member, f'{parse}: Can\'t find field "user_id"'),
        ({**member, "user_id": "x"}, f'{parse}: Field "user_id" must be a valid Number'),
        ({**member, "user_id": 0}, f"{parse}: Invalid user_id specified"),
    ]
    async with aiohttp.ClientSession() as http:
        for scope, description in cases:
            body = {"commands": commands, "scope": scope}
            async with http.post(base, json=body) as resp:
                assert (resp.status, (await resp.json())["description"]) == (400, description)
        # A chat id written as a string is the same chat, as in Telegram.
        body = {"commands": commands, "scope": {"type": "chat", "chat_id": str(group)}}
        async with http.post(base, json=body) as resp:
            assert (await resp.json())["ok"] is True
    assert _names(await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=group))) == ["start"]
    assert emu.internal_errors == []
