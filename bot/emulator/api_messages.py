"""sendMessage, the editMessage* family and deleteMessage(s)."""

from __future__ import annotations

from typing import Any

from .api_common import (
    Call,
    Handler,
    apply_edit,
    bot_message,
    caption,
    ensure_not_inline,
    inline_only,
    is_admin,
    known_chat,
    message_text,
    post,
    replied_message,
    reply_markup,
    writable_chat,
)
from .errors import bad_request
from .state import ChatRecord

EDIT_NOT_FOUND = "message to edit not found"


async def send_message(call: Call) -> dict[str, Any]:
    text = message_text(call)
    markup = reply_markup(call)
    chat = writable_chat(call)
    return post(
        call,
        chat,
        markup,
        text=text.text,
        entities=text.entities,
        reply_to_message=replied_message(call, chat),
        link_preview_options=call.params.obj("link_preview_options"),
    )


async def edit_message_text(call: Call) -> dict[str, Any]:
    ensure_not_inline(call)
    text = message_text(call)
    markup = inline_only(reply_markup(call))
    chat = writable_chat(call)
    message = bot_message(call, chat, EDIT_NOT_FOUND)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    changes = {"text": text.text, "entities": text.entities, "reply_markup": markup}
    return apply_edit(call, chat, message, changes)


async def edit_message_caption(call: Call) -> dict[str, Any]:
    ensure_not_inline(call)
    new_caption = caption(call)
    markup = inline_only(reply_markup(call))
    chat = writable_chat(call)
    message = bot_message(call, chat, EDIT_NOT_FOUND)
    if "text" in message:
        raise bad_request("there is no caption in the message to edit")
    changes = {
        "caption": new_caption.text,
        "caption_entities": new_caption.entities,
        "reply_markup": markup,
    }
    return apply_edit(call, chat, message, changes)


async def edit_message_reply_markup(call: Call) -> dict[str, Any]:
    ensure_not_inline(call)
    markup = inline_only(reply_markup(call))
    chat = writable_chat(call)
    message = bot_message(call, chat, EDIT_NOT_FOUND)
    return apply_edit(call, chat, message, {"reply_markup": markup})


async def delete_message(call: Call) -> bool:
    chat = known_chat(call)
    message_id = call.params.integer("message_id")
    if not message_id or message_id not in chat.messages:
        raise bad_request("message to delete not found")
    _delete(call, chat, message_id)
    return True


async def delete_messages(call: Call) -> bool:
    chat = known_chat(call)
    ids = call.params.obj("message_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise bad_request("message_ids must be a non-empty array of at most 100 identifiers")
    found = [int(i) for i in ids if int(i) in chat.messages]
    if not found:
        raise bad_request("message to delete not found")
    for message_id in found:
        _delete(call, chat, message_id)
    return True


def _delete(call: Call, chat: ChatRecord, message_id: int) -> None:
    message = chat.messages[message_id]
    own = message.get("from", {}).get("id") == call.bot.id
    if not own and not is_admin(chat, call.bot.id):
        raise bad_request("message can't be deleted")
    del chat.messages[message_id]
    call.world.transcript.add(
        chat.label, call.bot.user.first_name, "", action=f"deleted #{message_id}"
    )
    call.world.record_bot_event("deleted", chat, message)


METHODS: dict[str, Handler] = {
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "deleteMessages": delete_messages,
}
