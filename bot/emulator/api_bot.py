"""The bot's own settings (getMe, commands, descriptions) and answerCallbackQuery."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from .api_common import Call, Handler
from .errors import bad_request

_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_TEXT_LIMITS = {"name": 64, "description": 512, "short_description": 120}
ANSWER_TEXT_LIMIT = 200


async def get_me(call: Call) -> dict[str, Any]:
    return call.bot.me()


async def trivial(call: Call) -> bool:
    """logOut / close: nothing to release in an emulator."""
    return True


def _commands_key(call: Call) -> str:
    scope = call.params.obj("scope") or {"type": "default"}
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    language = call.params.text("language_code") or ""
    return json.dumps([scope, language], sort_keys=True)


async def set_my_commands(call: Call) -> bool:
    commands = call.params.obj("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    clean = []
    for item in commands:
        if not isinstance(item, dict) or not _COMMAND.fullmatch(str(item.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        description = str(item.get("description", "")).strip()
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": item["command"], "description": description})
    key = _commands_key(call)
    if clean:
        call.bot.commands[key] = clean
    else:
        call.bot.commands.pop(key, None)
    return True


async def get_my_commands(call: Call) -> list[dict[str, Any]]:
    return list(call.bot.commands.get(_commands_key(call), []))


async def delete_my_commands(call: Call) -> bool:
    call.bot.commands.pop(_commands_key(call), None)
    return True


def _text_setting(field: str) -> tuple[Handler, Handler]:
    async def setter(call: Call) -> bool:
        value = call.params.text(field) or ""
        if len(value) > _TEXT_LIMITS[field]:
            raise bad_request(f"{field} is too long")
        call.bot.texts[f"{field}:{call.params.text('language_code') or ''}"] = value
        return True

    async def getter(call: Call) -> dict[str, str]:
        language = call.params.text("language_code") or ""
        texts = call.bot.texts
        value = texts.get(f"{field}:{language}", texts.get(f"{field}:", ""))
        if field == "name" and not value:
            value = call.bot.user.first_name
        return {field: value}

    return setter, getter


async def answer_callback_query(call: Call) -> bool:
    query_id = call.params.text("callback_query_id") or ""
    record = call.world.callbacks.get(query_id)
    if record is None or record.bot_id != call.bot.id or record.answer is not None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = call.params.text("text") or ""
    if len(text) > ANSWER_TEXT_LIMIT:
        raise bad_request("MESSAGE_TOO_LONG")
    show_alert = call.params.flag("show_alert")
    record.answer = {
        "callback_query_id": query_id,
        "text": text or None,
        "show_alert": show_alert,
        "url": call.params.text("url"),
        "cache_time": call.params.integer("cache_time", 0),
        "at": time.time(),
    }
    if text:
        chat = call.world.groups.get(record.chat_id) or call.world.chat_for(
            call.bot, record.chat_id
        )
        label = chat.label if chat is not None else str(record.chat_id)
        kind = "alert" if show_alert else "toast"
        call.world.transcript.add(label, call.bot.user.first_name, text, action=f"({kind})")
    call.world.changes.fire()
    return True


_set_name, _get_name = _text_setting("name")
_set_description, _get_description = _text_setting("description")
_set_short, _get_short = _text_setting("short_description")

METHODS: dict[str, Handler] = {
    "getMe": get_me,
    "logOut": trivial,
    "close": trivial,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "setMyName": _set_name,
    "getMyName": _get_name,
    "setMyDescription": _set_description,
    "getMyDescription": _get_description,
    "setMyShortDescription": _set_short,
    "getMyShortDescription": _get_short,
    "answerCallbackQuery": answer_callback_query,
}
