"""Which message a button press came from, so that a handler edits only its own message.

Callback data is chosen by the client: a modified client can send any data while pressing
on any message of the bot (a review card, an alert, a worker's summary). A handler that
edits `query.message` after a press would then replace that other message. Telegram sends
the message with the press, keyboard included, so the check is local: the pressed data
must be one of that message's buttons.
"""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message


def _has_button(message: Message, data: str | None) -> bool:
    if data is None or message.reply_markup is None:
        return False
    rows = getattr(message.reply_markup, "inline_keyboard", None) or []
    return any(button.callback_data == data for row in rows for button in row)


def pressed_on(query: CallbackQuery) -> Message | None:
    """The message whose button was pressed, or None: when the data is not on that
    message (forged), or Telegram did not send the message (too old or deleted; then
    nothing may be edited either)."""
    message = query.message
    if isinstance(message, Message) and _has_button(message, query.data):
        return message
    return None


def forged(query: CallbackQuery) -> bool:
    """The press came with a message that does not carry the pressed data: a modified
    client, never a real tap. (A message Telegram did not send cannot be checked; the
    action itself is checked on the server, and nothing is edited.)"""
    message = query.message
    return isinstance(message, Message) and not _has_button(message, query.data)
