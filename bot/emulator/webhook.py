"""Webhook delivery: POST each update until the bot's server answers 2xx, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .params import Params, read_reply_params
from .state import BotRecord, World

log = logging.getLogger(__name__)

# Called with a method the bot returned in its webhook response (Telegram executes it).
ReplyExecutor = Callable[[BotRecord, str, Params], Awaitable[None]]


class WebhookSender:
    def __init__(
        self,
        world: World,
        execute: ReplyExecutor,
        retry_delay: float = 0.05,
        max_retry_delay: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self.world = world
        self.execute = execute
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.timeout = timeout
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def watch(self, bot: BotRecord) -> None:
        if bot.token not in self._tasks:
            self._tasks[bot.token] = asyncio.create_task(self._run(bot), name="webhook-sender")

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self, bot: BotRecord) -> None:
        """Like Telegram: up to max_connections requests at once, one chat's updates one
        after another (the next only once the previous was answered 2xx), a failed one
        retried with a growing delay while the other chats go on."""
        in_flight: set[asyncio.Task[None]] = set()
        delays: dict[int | None, float] = {}
        try:
            while True:
                hook = bot.webhook
                now = time.monotonic()
                pending = bot.updates.next_for_webhook(now) if hook is not None else None
                if hook is None or pending is None or len(in_flight) >= hook.max_connections:
                    retry = bot.updates.next_retry(now)
                    await bot.updates.changed.wait(min(1.0, retry) if retry else 1.0)
                    continue
                pending.in_flight = True
                task = asyncio.create_task(self._one(bot, hook, pending, delays))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            for task in in_flight:
                task.cancel()

    async def _one(
        self, bot: BotRecord, hook: Any, pending: Any, delays: dict[int | None, float]
    ) -> None:
        try:
            error = await self._deliver(bot, hook.url, hook.secret_token, pending)
        finally:
            pending.in_flight = False
        if error is None:
            delays.pop(pending.chat, None)
        else:
            delay = delays.get(pending.chat, self.retry_delay)
            delays[pending.chat] = min(delay * 2, self.max_retry_delay)
            pending.not_before = time.monotonic() + delay
            hook.last_error_date = int(time.time())
            hook.last_error_message = error
        bot.updates.changed.fire()

    async def _deliver(
        self, bot: BotRecord, url: str, secret: str | None, pending: Any
    ) -> str | None:
        """None on success, otherwise Telegram's last_error_message wording."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        session = self._client()
        try:
            async with session.post(url, json=pending.update, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    return f"Wrong response from the webhook: {resp.status} {resp.reason}"
                reply = await _reply_params(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _connection_error(exc)
        bot.updates.ack(pending)
        if reply is not None and reply.text("method"):
            await self.execute(bot, reply.text("method") or "", reply)
        return None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session


async def _reply_params(resp: aiohttp.ClientResponse) -> Params | None:
    """A webhook may answer with a method call in its body (JSON or multipart form)."""
    try:
        if resp.content_type.startswith("multipart/"):
            reader = aiohttp.MultipartReader.from_response(resp)
            return await read_reply_params(reader, b"", resp.content_type)
        body = await resp.read()
        return await read_reply_params(None, body, resp.content_type)
    except (ValueError, aiohttp.ClientError):
        log.warning("could not parse a webhook response body", exc_info=True)
        return None


def _connection_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "Read timeout expired"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "Connection refused"
    return f"Connection error: {exc}"
