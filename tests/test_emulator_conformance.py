"""The emulator's core behaviour seen by a second, independent client: python-telegram-bot.

If only aiogram passed, the emulator might merely be shaped to aiogram; PTB builds requests
differently (form fields with JSON values, files as multipart fields, httpx transport).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
import telegram
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.emulator import Emulator

TOKEN = "654321:CONFORMANCE"
ALICE, BOB = 1001, 1002


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    emulator.add_bot(TOKEN, "unionbot", "UnionBot")
    emulator.add_user(ALICE, "张", "三")
    emulator.add_user(BOB, "李四")
    async with emulator:
        yield emulator
    assert emulator.internal_errors == []


@pytest.fixture
async def ptb(emu: Emulator) -> AsyncIterator[telegram.Bot]:
    bot = telegram.Bot(
        TOKEN, base_url=f"{emu.base_url}/bot", base_file_url=f"{emu.base_url}/file/bot"
    )
    async with bot:
        yield bot


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 60)).save(out, "JPEG")
    return out.getvalue()


async def test_get_me(ptb: telegram.Bot) -> None:
    me = await ptb.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (654321, True, "unionbot", "UnionBot")


async def test_get_updates_with_offset(emu: Emulator, ptb: telegram.Bot) -> None:
    emu.send_text(ALICE, "/start point_7")
    emu.send_text(ALICE, "第二条")
    first, second = await ptb.get_updates(timeout=1)
    assert first.message and first.message.text == "/start point_7"
    assert first.message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert first.message.from_user and first.message.from_user.language_code == "zh-hans"
    (only,) = await ptb.get_updates(offset=second.update_id)
    assert only.update_id == second.update_id
    assert await ptb.get_updates(offset=second.update_id + 1, timeout=0) == ()


async def test_send_message_with_html_and_inline_keyboard(emu: Emulator, ptb: telegram.Bot) -> None:
    emu.send_text(ALICE, "hi")
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Approve", callback_data="ok:1")],
            [InlineKeyboardButton("Docs", url="https://example.org/help")],
        ]
    )
    message = await ptb.send_message(
        ALICE, "<b>申请</b> <i>待审核</i>", parse_mode="HTML", reply_markup=markup
    )
    assert message.text == "申请 待审核"
    assert message.entities == (
        MessageEntity(MessageEntity.BOLD, 0, 2),
        MessageEntity(MessageEntity.ITALIC, 3, 3),
    )
    assert message.reply_markup == markup
    assert message.from_user and message.from_user.is_bot
    stored = emu.message(ALICE, message.message_id)
    assert stored["reply_markup"]["inline_keyboard"][1][0]["url"] == "https://example.org/help"


async def test_send_photo_upload(emu: Emulator, ptb: telegram.Bot) -> None:
    emu.send_text(ALICE, "hi")
    data = jpeg(1000, 630)
    message = await ptb.send_photo(ALICE, data, caption="<b>会员卡</b>", parse_mode="HTML")
    largest = message.photo[-1]
    assert (largest.width, largest.height) == (1000, 630)
    assert message.caption == "会员卡" and message.caption_entities[0].type == "bold"
    assert emu.file_bytes(largest.file_id) == data
    file = await ptb.get_file(largest.file_id)
    assert bytes(await file.download_as_bytearray()) == data


async def test_send_document_upload(emu: Emulator, ptb: telegram.Bot) -> None:
    emu.send_text(ALICE, "hi")
    message = await ptb.send_document(ALICE, b"%PDF-1.4 fake", filename="report.pdf")
    assert message.document and message.document.file_name == "report.pdf"
    assert message.document.mime_type == "application/pdf"
    assert emu.file_bytes(message.document.file_id) == b"%PDF-1.4 fake"


async def test_edit_message_text_and_not_modified(emu: Emulator, ptb: telegram.Bot) -> None:
    emu.send_text(ALICE, "hi")
    sent = await ptb.send_message(ALICE, "pending")
    edited = await ptb.edit_message_text("approved", chat_id=ALICE, message_id=sent.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.text == "approved" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await ptb.edit_message_text("approved", chat_id=ALICE, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await ptb.edit_message_text("x", chat_id=ALICE, message_id=4040)


async def test_callback_query_round_trip(emu: Emulator, ptb: telegram.Bot) -> None:
    emu.send_text(ALICE, "hi")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data="ok:9")]])
    card = await ptb.send_message(ALICE, "card", reply_markup=markup)
    await ptb.get_updates()
    query_id = emu.press_button(ALICE, ALICE, card.message_id, "ok:9")
    updates = await ptb.get_updates(timeout=1)
    query = updates[-1].callback_query
    assert query and (query.id, query.data) == (query_id, "ok:9")
    assert query.message and query.message.message_id == card.message_id
    assert query.from_user.id == ALICE and query.chat_instance
    assert await ptb.answer_callback_query(query_id, text="已批准")
    assert emu.callback_answers(query_id)["text"] == "已批准"
    with pytest.raises(BadRequest, match="Query is too old"):
        await ptb.answer_callback_query(query_id)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_error_mapping(emu: Emulator, ptb: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await ptb.send_message(999, "x")
    with pytest.raises(Forbidden, match="bot can't initiate conversation"):
        await ptb.send_message(BOB, "x")
    emu.send_text(ALICE, "hi")
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await ptb.send_message(ALICE, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
        await ptb.send_message(ALICE, "x", reply_markup=markup)
    emu.inject_error("sendMessage", status=429, retry_after=11)
    with pytest.raises(RetryAfter, match="Retry in 11 seconds"):
        await ptb.send_message(ALICE, "x")
    emu.inject_network_failure("sendMessage")
    with pytest.raises(NetworkError):
        await ptb.send_message(ALICE, "x")
    emu.block_bot(ALICE)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await ptb.send_message(ALICE, "x")


async def test_chat_and_member_objects(emu: Emulator, ptb: telegram.Bot) -> None:
    emu.add_group(-1009, "工会联合会", [ALICE], admin_ids=[BOB])
    emu.add_bot_to_group(TOKEN, -1009, BOB, status="administrator")
    chat = await ptb.get_chat(-1009)
    assert (chat.type, chat.title) == ("supergroup", "工会联合会")
    statuses = [(await ptb.get_chat_member(-1009, uid)).status for uid in (BOB, ALICE, 654321)]
    assert statuses == ["creator", "member", "administrator"]
    admins = await ptb.get_chat_administrators(-1009)
    assert {a.user.id for a in admins} == {BOB, 654321}
    updates = await ptb.get_updates()
    change = next(u.my_chat_member for u in updates if u.my_chat_member)
    assert change.new_chat_member.status == "administrator"
