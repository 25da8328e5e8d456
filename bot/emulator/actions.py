"""What people do in the emulated chats, turned into real updates for the bots."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from .api_common import MAX_TEXT
from .entities import plain
from .errors import EmulatorError
from .markup import callback_buttons
from .members import member_json
from .records import CallbackRecord
from .state import ACTIVE_STATUSES, BotRecord, ChatRecord, UserRecord, World
from .transcript import describe


def user_chat(world: World, bot: BotRecord, user: UserRecord, chat_id: int | None) -> ChatRecord:
    """The chat a user acts in: their private chat with the bot, or a group they are in."""
    if chat_id is None or chat_id == user.id:
        if user.id in bot.blocked:
            raise EmulatorError(f"user {user.id} blocked the bot; call unblock_bot first")
        return world.private_chat(bot, user)
    group = world.groups.get(chat_id)
    if group is None:
        raise EmulatorError(f"user {user.id} cannot write in chat {chat_id}: no such group")
    if group.members.get(user.id) not in ACTIVE_STATUSES:
        raise EmulatorError(f"user {user.id} is not a member of group {chat_id}")
    return group


def post_user_message(
    world: World, bot: BotRecord, user: UserRecord, chat_id: int | None, **content: Any
) -> dict[str, Any]:
    """Store a user's message and deliver it as a `message` update to the bots that see it."""
    chat = user_chat(world, bot, user, chat_id)
    reply_to = content.pop("reply_to", None)
    if reply_to is not None:
        target = chat.messages.get(reply_to)
        if target is None:
            raise EmulatorError(f"no message {reply_to} in chat {chat.id} to reply to")
        content["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
    message = world.add_message(chat, user, **content)
    if chat.is_private:
        bot.started.add(user.id)
        receivers = [bot]
    else:
        receivers = [b for b in world.bots_in(chat) if _sees(b, chat, message)]
    for receiver in receivers:
        receiver.updates.push("message", message)
    world.transcript.add(chat.label, user.full_name, describe(message))
    world.changes.fire()
    return copy.deepcopy(message)


def _sees(bot: BotRecord, chat: ChatRecord, message: dict[str, Any]) -> bool:
    """Privacy mode: in groups a bot gets commands, replies to it and service messages,
    unless it is an administrator or may read all group messages."""
    if bot.can_read_all_group_messages or chat.members.get(bot.id) in ("administrator", "creator"):
        return True
    if "new_chat_members" in message or "left_chat_member" in message:
        return True
    replied = message.get("reply_to_message", {})
    if replied.get("from", {}).get("id") == bot.id:
        return True
    text = message.get("text", "")
    for entity in message.get("entities", []):
        if entity["type"] == "bot_command" and entity["offset"] == 0:
            command = text[: entity["length"]]
            addressee = command.partition("@")[2].lower()
            return not addressee or addressee == (bot.user.username or "").lower()
    return False


def text_content(text: str) -> dict[str, Any]:
    formatted = plain(text)
    if not formatted.text:
        raise EmulatorError("Telegram clients do not send empty messages")
    if len(formatted.text) > MAX_TEXT:
        raise EmulatorError(f"Telegram clients split texts longer than {MAX_TEXT} characters")
    return {"text": formatted.text, "entities": formatted.entities}


def press_button(
    world: World,
    bot: BotRecord,
    user: UserRecord,
    chat_id: int,
    message_id: int,
    data: str,
    forge: bool,
) -> str:
    chat = user_chat(world, bot, user, chat_id)
    message = chat.messages.get(message_id)
    if message is None:
        raise EmulatorError(f"no message {message_id} in chat {chat_id}")
    owner = world.bot_by_id(message.get("from", {}).get("id", 0))
    if owner is None:
        raise EmulatorError(f"message {message_id} was not sent by a bot")
    buttons = callback_buttons(message.get("reply_markup"))
    if data not in buttons and not forge:
        raise EmulatorError(
            f"message {message_id} has no button with callback_data {data!r} "
            f"(buttons: {sorted(buttons)}); pass forge=True to send it anyway"
        )
    query_id = str(secrets.randbits(63))
    world.callbacks[query_id] = CallbackRecord(
        query_id, owner.id, user.id, chat.id, message_id, data
    )
    owner.updates.push(
        "callback_query",
        {
            "id": query_id,
            "from": user.json(),
            "message": copy.deepcopy(message),
            "chat_instance": chat.chat_instance,
            "data": data,
        },
    )
    label = f"[{buttons[data]}]" if data in buttons else f"[forged callback_data {data!r}]"
    world.transcript.add(chat.label, user.full_name, label, action=f"pressed on #{message_id}")
    world.changes.fire()
    return query_id


def change_member(
    world: World, chat: ChatRecord, member: UserRecord, status: str, by: UserRecord
) -> None:
    """Set a group member's status and emit my_chat_member / chat_member like Telegram."""
    old = chat.members.get(member.id, "left")
    chat.members[member.id] = status
    change = {
        "chat": chat.json(),
        "from": by.json(),
        "date": int(time.time()),
        "old_chat_member": member_json(member, old),
        "new_chat_member": member_json(member, status),
    }
    for bot in world.bots.values():
        if bot.id == member.id:
            bot.updates.push("my_chat_member", change)
        elif chat.members.get(bot.id) in ("administrator", "creator"):
            bot.updates.push("chat_member", change)  # only if allowed_updates asks for it
    if old not in ACTIVE_STATUSES and status in ACTIVE_STATUSES:
        _service_message(world, chat, by, new_chat_members=[member.json()])
    elif old in ACTIVE_STATUSES and status not in ACTIVE_STATUSES:
        _service_message(world, chat, by, left_chat_member=member.json())
    change_text = f"{member.full_name}: {old} → {status}"
    world.transcript.add(chat.label, by.full_name, change_text, action="changed membership")
    world.changes.fire()


def _service_message(world: World, chat: ChatRecord, by: UserRecord, **content: Any) -> None:
    message = world.add_message(chat, by, **content)
    for bot in world.bots_in(chat):
        bot.updates.push("message", message)


def set_blocked(world: World, bot: BotRecord, user: UserRecord, blocked: bool) -> None:
    """Blocking (or restarting) the bot in the private chat: a my_chat_member update."""
    if blocked == (user.id in bot.blocked):
        return
    old, new = ("member", "kicked") if blocked else ("kicked", "member")
    if blocked:
        bot.blocked.add(user.id)
    else:
        bot.blocked.discard(user.id)
    chat = world.private_chat(bot, user)
    bot.updates.push(
        "my_chat_member",
        {
            "chat": chat.json(),
            "from": user.json(),
            "date": int(time.time()),
            "old_chat_member": member_json(bot.user, old),
            "new_chat_member": member_json(bot.user, new),
        },
    )
    action = "blocked the bot" if blocked else "unblocked the bot"
    world.transcript.add(chat.label, user.full_name, "", action=action)
    world.changes.fire()
