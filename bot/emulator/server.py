"""The Bot API over HTTP: {base}/bot<token>/<method> and {base}/file/bot<token>/<path>."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from aiohttp import web

from . import api_bot, api_chats, api_media, api_messages, api_updates
from .api_common import Call, Handler, WithDescription
from .errors import ApiError, not_found, unauthorized
from .faults import Faults, chat_key
from .params import Params, read_params
from .records import ApiCall
from .state import BotRecord, World

log = logging.getLogger(__name__)

METHODS: dict[str, Handler] = {
    **api_bot.METHODS,
    **api_chats.METHODS,
    **api_media.METHODS,
    **api_messages.METHODS,
    **api_updates.METHODS,
}
_BY_LOWER = {name.lower(): (name, handler) for name, handler in METHODS.items()}
MAX_UPLOAD = 50 * 1024 * 1024  # Telegram's limit for bot uploads


class BotApi:
    """Turns HTTP requests into method calls, with logging and fault injection."""

    def __init__(self, world: World, faults: Faults) -> None:
        self.world = world
        self.faults = faults

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/bot{token}/{method}", self.handle_method),
            web.get("/file/bot{token}/{path:.+}", self.handle_file),
        ]

    async def handle_method(self, request: web.Request) -> web.StreamResponse:
        bot = self.world.bots.get(request.match_info["token"])
        if bot is None:
            return _json(unauthorized().payload(), 401)
        started, wall = time.monotonic(), time.time()
        name, handler = _BY_LOWER.get(request.match_info["method"].lower(), (None, None))
        if name is None or handler is None:
            return _json(not_found().payload(), 404)
        try:
            params = await read_params(request)
        except web.HTTPRequestEntityTooLarge:
            return _json(ApiError(413, "Request Entity Too Large").payload(), 413)
        except ApiError as exc:
            return _json(exc.payload(), exc.status)

        failure = self.faults.take_network_failure(name.lower())
        if failure is not None and not failure.after_processing:
            self._log(bot, name, params, started, wall, 0, "connection dropped")
            return _drop_connection(request)
        status, body = await self._call(bot, name, handler, params, started)
        if failure is not None:
            self._log(bot, name, params, started, wall, 0, "response lost")
            return _drop_connection(request)
        self._log(bot, name, params, started, wall, status, body.get("description"))
        return _json(body, status)

    async def _call(
        self, bot: BotRecord, name: str, handler: Handler, params: Params, started: float
    ) -> tuple[int, dict[str, Any]]:
        chat_id = params.raw("chat_id")
        try:
            injected = self.faults.take_error(name.lower(), chat_id)
            injected = injected or self.faults.flood_error(name.lower(), chat_id, started)
            if injected is not None:
                raise injected
            try:
                result = await handler(Call(self.world, bot, params, name))
            except Exception:
                self.faults.uncount(name.lower(), chat_id, started)
                raise
        except ApiError as exc:
            return exc.status, exc.payload()
        except Exception:
            # An emulator bug must be loud in tests, not a silent hang.
            self.world.internal_errors.append(traceback.format_exc())
            log.exception("emulator failure in %s", name)
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        if isinstance(result, WithDescription):
            return 200, {"ok": True, "result": result.result, "description": result.description}
        return 200, {"ok": True, "result": result}

    async def execute_reply(self, bot: BotRecord, method: str, params: Params) -> None:
        """Run a method that a webhook response carried (its result goes nowhere)."""
        name, handler = _BY_LOWER.get(method.lower(), (method, None))
        started, wall = time.monotonic(), time.time()
        if handler is None:
            self._log(bot, name, params, started, wall, 404, "Not Found")
            return
        status, body = await self._call(bot, name, handler, params, started)
        self._log(bot, name, params, started, wall, status, body.get("description"))

    async def handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] not in self.world.bots:
            return _json(unauthorized().payload(), 401)
        stored = self.world.files.by_path(request.match_info["path"])
        if stored is None:
            return _json(not_found().payload(), 404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _log(
        self,
        bot: BotRecord,
        name: str,
        params: Params,
        started: float,
        wall: float,
        status: int,
        description: str | None,
    ) -> None:
        chat_id = chat_key(params.raw("chat_id")) or params.raw("chat_id")
        call = ApiCall(
            started,
            wall,
            bot.token,
            name,
            params.loggable(),
            chat_id,
            status,
            description,
            time.monotonic(),
        )
        self.world.sent_log.append(call)
        self.world.changes.fire()


def _json(body: dict[str, Any], status: int) -> web.Response:
    return web.json_response(body, status=status)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the socket without answering: the client sees a network error."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise web.HTTPException()  # never written: the transport is gone


def make_app(api: BotApi, control_routes: list[web.RouteDef]) -> web.Application:
    app = web.Application(client_max_size=MAX_UPLOAD)
    app.add_routes(api.routes())
    app.add_routes(control_routes)
    return app
