"""Bot command lists per scope, read and checked the way the Bot API server and TDLib do.

A bot keeps one command list per (scope, language_code). setMyCommands, getMyCommands and
deleteMyCommands address one list exactly; what a person sees in a chat's menu is the first
list that is set along Telegram's precedence order ("Determining list of commands" in the
Bot API documentation), see `menu_for`.

The checks follow the Bot API server (telegram-bot-api, Client::get_bot_command_scope and
check_bot_command_scope) and TDLib (BotCommandScope::get_bot_command_scope, set_commands):
the scope's JSON, its type and fields, the chat it names, the scopes a private chat may
have, the language code, then each command.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request
from .params import Params
from .state import ACTIVE_STATUSES, BotRecord, ChatRecord, UserRecord, World

CHATLESS = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")
WITH_CHAT = ("chat", "chat_administrators", "chat_member")
MAX_COMMANDS = 100
MAX_COMMAND = 32
MAX_DESCRIPTION = 256
_COMMAND = re.compile(r"[a-z0-9_]+")
_LANGUAGE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True)
class ScopeKey:
    """A scope as Telegram stores it: its type and the chat and user it names."""

    type: str
    chat_id: int | None = None
    user_id: int | None = None

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.chat_id is not None:
            data["chat_id"] = self.chat_id
        if self.user_id is not None:
            data["user_id"] = self.user_id
        return data


ListKey = tuple[ScopeKey, str]  # (scope, language code or "")


def _scope_error(reason: str) -> ApiError:
    return bad_request(f"can't parse BotCommandScope: {reason}")


def _string_field(scope: dict[str, Any], name: str) -> str:
    """TDLib's get_required_string_field: a string, or a number written as one."""
    if name not in scope:
        raise _scope_error(f'Can\'t find field "{name}"')
    value = scope[name]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _scope_error(f'Field "{name}" must be of type String')
    return value if isinstance(value, str) else str(value)


def _long_field(scope: dict[str, Any], name: str) -> int:
    """TDLib's get_required_long_field: a number, or a string holding one."""
    if name not in scope:
        raise _scope_error(f'Can\'t find field "{name}"')
    value = scope[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _scope_error(f'Field "{name}" must be a Number')
    try:
        return int(value)
    except ValueError:
        raise _scope_error(f'Field "{name}" must be a valid Number') from None


def parse_scope(raw: Any) -> tuple[str, str | None, int | None]:
    """(type, chat_id as given, user_id) of the `scope` parameter; no scope is the default."""
    if raw is None or raw == "":
        return "default", None, None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse BotCommandScope JSON object") from None
    if not isinstance(raw, dict):
        raise _scope_error("BotCommandScope must be an Object")
    kind = _string_field(raw, "type")
    if kind in CHATLESS:
        return kind, None, None
    if kind not in WITH_CHAT:
        raise _scope_error("Unsupported type specified")
    chat_id = _string_field(raw, "chat_id")
    if not chat_id:
        raise _scope_error("Empty chat_id specified")
    if kind != "chat_member":
        return kind, chat_id, None
    user_id = _long_field(raw, "user_id")
    if user_id <= 0:
        raise _scope_error("Invalid user_id specified")
    return kind, chat_id, user_id


def _chat(world: World, bot: BotRecord, chat_id: str) -> ChatRecord:
    """The chat a scope names: a user the emulator knows, or a group the bot is or was in
    (a bot never added to a group cannot see it). Usernames are not resolved here."""
    try:
        ident = int(chat_id)
    except ValueError:
        raise bad_request("chat not found") from None
    if ident < 0:
        group = world.groups.get(ident)
        if group is None or bot.id not in group.members:
            raise bad_request("chat not found")
        return group
    chat = world.chat_for(bot, ident)
    if chat is None:
        raise bad_request("chat not found")
    return chat


def scope_of(world: World, bot: BotRecord, params: Params) -> ScopeKey:
    """The scope a call addresses, checked like Telegram checks it (400 on any fault): the
    chat first (the Bot API server), then the user and the kind of chat (TDLib)."""
    kind, chat_id, user_id = parse_scope(params.raw("scope"))
    if chat_id is None:
        return ScopeKey(kind)
    chat = _chat(world, bot, chat_id)
    if user_id is not None and user_id not in world.users:
        raise bad_request("user not found")  # the Bot API's words for an unknown user
    if chat.is_private and kind != "chat":
        raise bad_request("can't use specified scope in private chats")
    return ScopeKey(kind, chat.id, user_id)


def language_of(params: Params) -> str:
    language = params.text("language_code") or ""
    if language and not _LANGUAGE.fullmatch(language):
        raise bad_request("invalid language code specified")
    return language


def read_commands(params: Params) -> list[dict[str, Any]]:
    """The `commands` parameter's shape (the Bot API server reads it before the scope)."""
    raw = params.obj("commands")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("expected an Array of BotCommand")
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("expected BotCommand")
        for field in ("command", "description"):
            if field not in item:
                raise bad_request(f'Can\'t find field "{field}"')
            if not isinstance(item[field], str):
                raise bad_request(f'Field "{field}" must be of type String')
    return raw


def clean_commands(commands: list[dict[str, Any]]) -> list[dict[str, str]]:
    """TDLib's checks of each command, then the server's (its name, their number)."""
    clean = []
    for item in commands:
        command = item["command"].strip().removeprefix("/")
        description = item["description"].strip()
        if not command:
            raise bad_request("command must be non-empty")
        if len(command) > MAX_COMMAND:
            raise bad_request(f"command length must not exceed {MAX_COMMAND}")
        if not description:
            raise bad_request("command description must be non-empty")
        if len(description) > MAX_DESCRIPTION:
            raise bad_request(f"command description length must not exceed {MAX_DESCRIPTION}")
        if not _COMMAND.fullmatch(command):
            raise bad_request("BOT_COMMAND_INVALID")
        clean.append({"command": command, "description": description})
    if len(clean) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    return clean


def _is_admin(chat: ChatRecord, user_id: int) -> bool:
    return chat.members.get(user_id) in ("creator", "administrator")


def precedence(chat: ChatRecord, user: UserRecord) -> list[ScopeKey]:
    """The scopes Telegram looks at, in order, for this person in this chat."""
    if chat.is_private:
        return [ScopeKey("chat", chat.id), ScopeKey("all_private_chats"), ScopeKey("default")]
    admin = _is_admin(chat, user.id)
    order = [ScopeKey("chat_member", chat.id, user.id)]
    if admin:
        order.append(ScopeKey("chat_administrators", chat.id))
    order.append(ScopeKey("chat", chat.id))
    if admin:
        order.append(ScopeKey("all_chat_administrators"))
    return [*order, ScopeKey("all_group_chats"), ScopeKey("default")]


def menu_for(bot: BotRecord, chat: ChatRecord, user: UserRecord) -> list[dict[str, str]]:
    """The command menu this person sees in this chat: the first list that is set, each
    scope tried with the person's language first, then without one."""
    if not chat.is_private and chat.members.get(user.id) not in ACTIVE_STATUSES:
        return []  # not in the group: no menu to see
    language = (user.language_code or "").split("-")[0].lower()
    for scope in precedence(chat, user):
        for code in dict.fromkeys((language, "")):
            found = bot.commands.get((scope, code))
            if found:
                return [dict(c) for c in found]
    return []
