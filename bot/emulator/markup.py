"""reply_markup: validation like Telegram's, and what the emulated user can press."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .html import checked_link

INLINE_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
MAX_BUTTONS = 100
MAX_CALLBACK_DATA = 64  # bytes


@dataclass(frozen=True)
class Markup:
    inline: dict[str, Any] | None = None  # stored on the message and returned by Telegram
    chat: dict[str, Any] | None = None  # reply keyboard / remove / force reply: chat-level


def parse_reply_markup(raw: Any) -> Markup:
    if raw is None:
        return Markup()
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        return Markup(inline={"inline_keyboard": _inline_rows(raw["inline_keyboard"])})
    if "keyboard" in raw:
        return Markup(chat={**raw, "keyboard": _keyboard_rows(raw["keyboard"])})
    if raw.get("remove_keyboard") is True or raw.get("force_reply") is True:
        return Markup(chat=dict(raw))
    raise bad_request("can't parse reply keyboard markup JSON object")


def _inline_rows(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    if sum(len(r) for r in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    return [[_inline_button(b) for b in row] for row in rows]


def _inline_button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    if not isinstance(button.get("text"), str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    clean = {k: v for k, v in button.items() if v is not None}
    actions = [a for a in INLINE_ACTIONS if a in clean]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in clean:
        data = clean["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in clean and checked_link(str(clean["url"])) is None:
        raise bad_request(f"inline keyboard button URL '{clean['url']}' is invalid: Wrong HTTP URL")
    return clean


def _keyboard_rows(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
    result = []
    for row in rows:
        buttons = []
        for button in row:
            if isinstance(button, str):
                button = {"text": button}
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse keyboard button: KeyboardButton must be an Object")
            buttons.append({k: v for k, v in button.items() if v is not None})
        result.append(buttons)
    return result


def callback_buttons(markup: dict[str, Any] | None) -> dict[str, str]:
    """callback_data -> button text for every callback button of an inline keyboard."""
    if not markup:
        return {}
    return {
        b["callback_data"]: b["text"]
        for row in markup.get("inline_keyboard", [])
        for b in row
        if "callback_data" in b
    }
