"""What every Bot API method needs: the call context, chat access rules, posting messages."""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .entities import Formatted, format_text
from .errors import bad_request, forbidden
from .markup import Markup, parse_reply_markup
from .params import Params
from .state import ACTIVE_STATUSES, BotRecord, ChatRecord, World
from .transcript import button_rows, describe

MAX_TEXT = 4096
MAX_CAPTION = 1024


@dataclass
class Call:
    world: World
    bot: BotRecord
    params: Params
    method: str


@dataclass(frozen=True)
class WithDescription:
    """A successful result that Telegram sends together with a description."""

    result: Any
    description: str


Handler = Callable[[Call], Awaitable[Any]]


def chat_id_of(call: Call, name: str = "chat_id") -> int:
    raw = call.params.raw(name)
    if raw is None or raw == "":
        raise bad_request(f"{name} is empty")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise bad_request("chat not found") from None  # an unknown @username


def known_chat(call: Call) -> ChatRecord:
    """A chat that exists for this bot (it may still be unable to write there)."""
    chat = call.world.chat_for(call.bot, chat_id_of(call))
    if chat is None:
        raise bad_request("chat not found")
    return chat


def writable_chat(call: Call) -> ChatRecord:
    """The chat of chat_id, if this bot may post there (Telegram's 400/403 rules)."""
    chat = known_chat(call)
    if chat.is_private:
        if chat.id in call.bot.blocked:
            raise forbidden("bot was blocked by the user")
        if chat.id not in call.bot.started:
            raise forbidden("bot can't initiate conversation with a user")
        return chat
    status = chat.members.get(call.bot.id, "left")
    kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
    if status == "kicked":
        raise forbidden(f"bot was kicked from the {kind}")
    if status not in ACTIVE_STATUSES:
        raise forbidden(f"bot is not a member of the {kind}")
    return chat


def formatted(call: Call, field: str, mode_field: str, entities_field: str) -> Formatted:
    return format_text(
        call.params.text(field),
        call.params.text(mode_field),
        call.params.obj(entities_field),
        resolve_user=lambda uid: _user_json(call, uid),
    )


def _user_json(call: Call, user_id: int) -> dict[str, Any] | None:
    user = call.world.users.get(user_id)
    if user is None:
        return None
    mentioned = user.json()
    mentioned.pop("language_code", None)  # only the sender of an update carries it
    return mentioned


def message_text(call: Call) -> Formatted:
    result = formatted(call, "text", "parse_mode", "entities")
    if not result.text:
        raise bad_request("message text is empty")
    if len(result.text) > MAX_TEXT:
        raise bad_request("message is too long")
    return result


def caption(call: Call) -> Formatted:
    result = formatted(call, "caption", "parse_mode", "caption_entities")
    if len(result.text) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return result


def reply_markup(call: Call) -> Markup:
    return parse_reply_markup(call.params.obj("reply_markup"))


def replied_message(call: Call, chat: ChatRecord) -> dict[str, Any] | None:
    """reply_parameters (or the older reply_to_message_id) resolved to the message."""
    reply = call.params.obj("reply_parameters")
    if isinstance(reply, dict):
        message_id, lenient = (
            reply.get("message_id"),
            bool(reply.get("allow_sending_without_reply")),
        )
    else:
        message_id = call.params.integer("reply_to_message_id")
        lenient = call.params.flag("allow_sending_without_reply")
    if not message_id:
        return None
    target = chat.messages.get(int(message_id))
    if target is None:
        if lenient:
            return None
        raise bad_request("message to be replied not found")
    replied = copy.deepcopy(target)
    replied.pop("reply_to_message", None)
    return replied


def post(call: Call, chat: ChatRecord, markup: Markup, **content: Any) -> dict[str, Any]:
    """Store a message from the bot, show it in the transcript and return it."""
    world = call.world
    message = world.add_message(chat, call.bot.user, **content, reply_markup=markup.inline)
    keyboard = ()
    note = ""
    if markup.chat is not None:
        if "keyboard" in markup.chat:
            chat.reply_keyboard = markup.chat
            keyboard = button_rows(markup.chat, "keyboard")
        elif markup.chat.get("remove_keyboard"):
            chat.reply_keyboard = None
            note = "\n[keyboard removed]"
    world.transcript.add(
        chat.label,
        call.bot.user.first_name,
        describe(message) + note,
        buttons=button_rows(markup.inline, "inline_keyboard"),
        keyboard=keyboard,
    )
    world.record_bot_event("sent", chat, message)
    return copy.deepcopy(message)


def bot_message(call: Call, chat: ChatRecord, missing: str) -> dict[str, Any]:
    """A message this bot sent, for editing; `missing` is Telegram's not-found wording."""
    message_id = call.params.integer("message_id")
    if not message_id:
        raise bad_request("message identifier is not specified")
    message = chat.messages.get(message_id)
    if message is None:
        raise bad_request(missing)
    if message.get("from", {}).get("id") != call.bot.id:
        raise bad_request("message can't be edited")
    return message


def apply_edit(
    call: Call, chat: ChatRecord, message: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """Edit in place; a no-op edit is Telegram's 'message is not modified' error."""
    if all(message.get(k) == (v or None) for k, v in changes.items()):
        raise bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )
    for key, value in changes.items():
        if value:
            message[key] = copy.deepcopy(value)
        else:
            message.pop(key, None)
    message["edit_date"] = int(time.time())
    call.world.transcript.add(
        chat.label,
        call.bot.user.first_name,
        describe(message),
        action=f"edited #{message['message_id']}",
        buttons=button_rows(message.get("reply_markup"), "inline_keyboard"),
    )
    call.world.record_bot_event("edited", chat, message)
    return copy.deepcopy(message)


def is_admin(chat: ChatRecord, user_id: int) -> bool:
    return chat.is_private or chat.members.get(user_id) in ("creator", "administrator")


def inline_only(markup: Markup) -> dict[str, Any] | None:
    if markup.chat is not None:
        raise bad_request("inline keyboard expected")
    return markup.inline


def ensure_not_inline(call: Call) -> None:
    """Inline-mode messages never exist here, so any inline_message_id is invalid."""
    if call.params.text("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
