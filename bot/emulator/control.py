"""The control API over HTTP, for driving the emulator from another process.

POST {base}/_emulator/<action> with a JSON object of keyword arguments calls the Emulator
method of that name and answers {"ok": true, "result": ...}; misuse answers 400 with
{"ok": false, "error": "..."} and a wait_for timeout answers 408. Binary arguments are sent
base64-encoded as "data_base64". GET {base}/_emulator/transcript returns the transcript as
text, GET {base}/_emulator/sent_log the API call log and GET {base}/_emulator/files/<file_id>
the bytes of a stored file.
"""

from __future__ import annotations

import base64
import inspect
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import EmulatorError

if TYPE_CHECKING:
    from .emulator import Emulator

ACTIONS = frozenset(
    {
        "add_bot", "add_user", "add_group", "add_bot_to_group", "set_member_status",
        "send_text", "send_command", "send_contact", "send_sticker", "send_photo",
        "send_voice", "send_document", "press_button", "block_bot", "unblock_bot",
        "redeliver", "messages", "last_message", "message", "reply_keyboard",
        "callback_answers", "updates", "pending_updates", "commands", "command_menu", "mark",
        "wait_for",
        "inject_error", "inject_network_failure", "transcript_text",
    }
)  # fmt: skip


def control_routes(emulator: Emulator) -> list[web.RouteDef]:
    async def call_action(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            return _error(f"unknown control action {action!r}", 404)
        try:
            kwargs = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error("the body must be a JSON object", 400)
        if not isinstance(kwargs, dict):
            return _error("the body must be a JSON object", 400)
        if "data_base64" in kwargs:
            kwargs["data"] = base64.b64decode(kwargs.pop("data_base64"))
        try:
            result = getattr(emulator, action)(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except TimeoutError as exc:
            return _error(str(exc), 408)
        except (EmulatorError, TypeError, ValueError) as exc:
            return _error(str(exc), 400)
        return web.json_response({"ok": True, "result": result})

    async def transcript(request: web.Request) -> web.Response:
        return web.Response(text=emulator.transcript_text())

    async def sent_log(request: web.Request) -> web.Response:
        return web.json_response([c.as_dict() for c in emulator.sent_log])

    async def file_bytes(request: web.Request) -> web.Response:
        try:
            data = emulator.file_bytes(request.match_info["file_id"])
        except EmulatorError as exc:
            return _error(str(exc), 404)
        return web.Response(body=data, content_type="application/octet-stream")

    return [
        web.get("/_emulator/transcript", transcript),
        web.get("/_emulator/sent_log", sent_log),
        web.get("/_emulator/files/{file_id}", file_bytes),
        web.post("/_emulator/{action}", call_action),
    ]


def _error(message: str, status: int) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error": message}
    return web.json_response(body, status=status)
