"""sendPhoto, sendDocument and getFile: uploads, file_ids and HTTP URLs."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .api_common import Call, Handler, caption, post, replied_message, reply_markup, writable_chat
from .errors import bad_request
from .files import analyse_image
from .params import Upload

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files
URL_TIMEOUT = 5.0


async def send_photo(call: Call) -> dict[str, Any]:
    text = caption(call)
    markup = reply_markup(call)
    chat = writable_chat(call)
    photo = await _photo(call)
    return post(
        call,
        chat,
        markup,
        photo=photo,
        caption=text.text,
        caption_entities=text.entities,
        has_media_spoiler=call.params.flag("has_spoiler") or None,
        show_caption_above_media=call.params.flag("show_caption_above_media") or None,
        reply_to_message=replied_message(call, chat),
    )


async def send_document(call: Call) -> dict[str, Any]:
    text = caption(call)
    markup = reply_markup(call)
    chat = writable_chat(call)
    document = await _document(call)
    return post(
        call,
        chat,
        markup,
        document=document,
        caption=text.text,
        caption_entities=text.entities,
        reply_to_message=replied_message(call, chat),
    )


async def get_file(call: Call) -> dict[str, Any]:
    stored = call.world.files.get(call.params.text("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    if len(stored.data) > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    return call.world.files.file_object(stored)


async def _photo(call: Call) -> list[dict[str, Any]]:
    source = call.params.file("photo")
    if source is None:
        raise bad_request("there is no photo in the request")
    if isinstance(source, str) and not _is_url(source):
        sizes = call.world.files.photo_sizes(source)
        if sizes is None:
            raise _wrong_file(call, source, "Photo")
        return sizes
    data = await _content(source)
    info = await asyncio.to_thread(analyse_image, data)
    return call.world.files.add_photo(data, info)


async def _document(call: Call) -> dict[str, Any]:
    source = call.params.file("document")
    if source is None:
        raise bad_request("there is no document in the request")
    if isinstance(source, str) and not _is_url(source):
        stored = call.world.files.get(source)
        if stored is None or stored.kind != "document":
            raise _wrong_file(call, source, "Document")
        return dict(stored.meta)
    data = await _content(source)
    if isinstance(source, Upload):
        name = source.filename or "document"
        declared = source.content_type
    else:
        name = source.rstrip("/").rsplit("/", 1)[-1] or "document"
        declared = None
    if declared in (None, "application/octet-stream"):
        declared = None  # Telegram trusts the extension, not a generic content type
    return call.world.files.add_document(data, name, declared)


def _wrong_file(call: Call, file_id: str, wanted: str) -> Exception:
    stored = call.world.files.get(file_id)
    if stored is None:
        return bad_request("wrong file identifier/HTTP URL specified")
    return bad_request(f"can't use file of type {stored.kind.capitalize()} as {wanted}")


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


async def _content(source: Upload | str) -> bytes:
    if isinstance(source, Upload):
        data = source.data
    else:
        data = await _download(source)
    if not data:
        raise bad_request("file must be non-empty")
    return data


async def _download(url: str) -> bytes:
    """Telegram fetches HTTP URLs itself; so does the emulator (handy for local servers)."""
    try:
        timeout = aiohttp.ClientTimeout(total=URL_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
            if resp.status != 200:
                raise bad_request("failed to get HTTP URL content")
            return await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise bad_request("failed to get HTTP URL content") from exc


METHODS: dict[str, Handler] = {
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "getFile": get_file,
}
