"""getChat, getChatMember(s), getChatAdministrators and sendChatAction."""

from __future__ import annotations

from typing import Any

from .api_common import Call, Handler, known_chat, writable_chat
from .errors import bad_request
from .members import chat_full_info, member_json
from .state import ACTIVE_STATUSES

CHAT_ACTIONS = frozenset(
    {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
     "upload_document", "choose_sticker", "find_location", "record_video_note",
     "upload_video_note"}
)  # fmt: skip


async def get_chat(call: Call) -> dict[str, Any]:
    return chat_full_info(known_chat(call))


async def get_chat_member(call: Call) -> dict[str, Any]:
    chat = known_chat(call)
    user_id = call.params.integer("user_id")
    user = call.world.users.get(user_id or 0) or _bot_user(call, user_id)
    if user is None:
        raise bad_request("user not found")
    if chat.is_private:
        if user.id not in (chat.id, call.bot.id):
            raise bad_request("user not found")
        return member_json(user, "member")
    return member_json(user, chat.status_of(user.id))


def _bot_user(call: Call, user_id: int | None) -> Any:
    bot = call.world.bot_by_id(user_id or 0)
    return None if bot is None else bot.user


async def get_chat_administrators(call: Call) -> list[dict[str, Any]]:
    chat = known_chat(call)
    if chat.is_private:
        raise bad_request("there are no administrators in the private chat")
    admins = [
        (uid, status)
        for uid, status in chat.members.items()
        if status in ("creator", "administrator")
    ]
    result = []
    for user_id, status in admins:
        user = call.world.users.get(user_id) or _bot_user(call, user_id)
        if user is not None:
            result.append(member_json(user, status))
    return result


async def get_chat_member_count(call: Call) -> int:
    chat = known_chat(call)
    if chat.is_private:
        return 2
    return sum(1 for status in chat.members.values() if status in ACTIVE_STATUSES)


async def send_chat_action(call: Call) -> bool:
    action = call.params.text("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    writable_chat(call)
    return True


METHODS: dict[str, Handler] = {
    "getChat": get_chat,
    "getChatMember": get_chat_member,
    "getChatAdministrators": get_chat_administrators,
    "getChatMemberCount": get_chat_member_count,
    "sendChatAction": send_chat_action,
}
