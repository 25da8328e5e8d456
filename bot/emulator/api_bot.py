"""The bot's own settings (getMe, commands, descriptions) and answerCallbackQuery."""

from __future__ import annotations

import time
from typing import Any

from . import commands as menus
from .api_common import Call, Handler
from .errors import bad_request

_TEXT_LIMITS = {"name": 64, "description": 512, "short_description": 120}
ANSWER_TEXT_LIMIT = 200


async def get_me(call: Call) -> dict[str, Any]:
    return call.bot.me()


async def trivial(call: Call) -> bool:
    """logOut / close: nothing to release in an emulator."""
    return True


async def set_my_commands(call: Call) -> bool:
    # The order of Telegram's checks: the list's shape, the scope, the language, each command.
    commands = menus.read_commands(call.params)
    scope = menus.scope_of(call.world, call.bot, call.params)
    language = menus.language_of(call.params)
    clean = menus.clean_commands(commands)
    if clean:
        call.bot.commands[(scope, language)] = clean
    else:  # an empty list is no list: the next scope in precedence applies again
        call.bot.commands.pop((scope, language), None)
    return True


async def get_my_commands(call: Call) -> list[dict[str, Any]]:
    """Exactly the list of this scope and language; no fallback to other scopes."""
    key = (menus.scope_of(call.world, call.bot, call.params), menus.language_of(call.params))
    return [dict(c) for c in call.bot.commands.get(key, [])]


async def delete_my_commands(call: Call) -> bool:
    key = (menus.scope_of(call.world, call.bot, call.params), menus.language_of(call.params))
    call.bot.commands.pop(key, None)
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
