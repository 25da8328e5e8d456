"""Transports: long polling and webhook. Both store each update before acknowledging it."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.app import App
from bot.commands import set_menus
from bot.reminders import reminder_loop
from bot.retention import retention_loop
from bot.transfer_job import transfer_loop
from bot.web.server import mount as mount_dashboard
from bot.web.server import own_listener as dashboard_listener

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SENDER_STANDBY_POLL = 2.0  # seconds between tries to become the sender
ADOPT_INTERVAL = 5.0  # seconds between looks for updates of a dead webhook worker
MAX_UPDATE_ID = 2**31 - 1  # the inbox's update_id column


async def prepare(app: App) -> None:
    """Commands menu, then resume updates whose processing was cut short last time."""
    await set_menus(app)  # bot/commands.py: a menu per chat, by role
    resumed = await app.processor.resume()
    if resumed:
        log.info("resumed %d stored updates", resumed)


async def poll(app: App, stop: asyncio.Event) -> None:
    """Long polling. A batch is stored before the next getUpdates confirms it."""
    await app.bot.delete_webhook(drop_pending_updates=False)
    offset: int | None = None
    backoff = 1.0
    while not stop.is_set():
        request = GetUpdates(offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED)
        fetch = asyncio.ensure_future(app.bot(request, request_timeout=POLL_TIMEOUT + 10))
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if fetch not in done:
            fetch.cancel()
            with contextlib.suppress(BaseException):
                await fetch
            break
        stopping.cancel()
        try:
            updates = fetch.result()
        except TelegramRetryAfter as error:
            await asyncio.sleep(error.retry_after)
            continue
        except (TelegramNetworkError, TelegramServerError) as error:
            log.warning("getUpdates failed (%s); retrying in %.0fs", type(error).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)
            continue
        backoff = 1.0
        if updates:
            # exclude_unset gives back exactly the JSON Telegram sent (no client-side defaults).
            bodies = [u.model_dump(mode="json", exclude_unset=True, by_alias=True) for u in updates]
            await app.processor.accept(bodies, updates)
            offset = updates[-1].update_id + 1


ALLOWED = ["message", "callback_query", "my_chat_member"]


class PathOnlyAccessLog(AbstractAccessLogger):
    """A line per request without the query string: a dashboard sign-in page's address
    carries its one-time token there, and logs are read by more people than staff."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.3fs", request.remote, request.method, request.path,
            response.status, time,
        )  # fmt: skip


def webhook_runner(app: App, path: str, secret: str) -> web.AppRunner:
    """The webhook's listener, with the dashboard under /dashboard/ when it is enabled."""
    web_app = webhook_app(app, path, secret)
    if app.settings.dashboard.enabled:
        mount_dashboard(web_app, app)
    return web.AppRunner(web_app, access_log_class=PathOnlyAccessLog)


def webhook_app(app: App, path: str, secret: str) -> web.Application:
    """An aiohttp app answering Telegram only after the update is stored."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=401, text="unauthorized")
        try:
            body = await request.json()
            update_id = body["update_id"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="bad update")
        # Telegram retries a 5xx for a day: a body that can never be stored is a 400.
        valid = isinstance(update_id, int) and not isinstance(update_id, bool)
        if not valid or not 0 <= update_id <= MAX_UPDATE_ID:
            return web.Response(status=400, text="bad update_id")
        await app.processor.accept([body])  # raises → 500 → Telegram retries
        return web.Response(text="ok")

    web_app = web.Application(client_max_size=1 << 20)
    web_app.router.add_post(path, receive)
    return web_app


async def serve(
    app: App,
    stop: asyncio.Event,
    *,
    webhook: bool = False,
    on_ready: Callable[[], Awaitable[None]] | None = None,
    standby: bool = False,
) -> None:
    """Run the bot until `stop` is set: updates in, outbox out.

    The process registers itself and takes the receiver role (bot.instances): a second
    poller of the same bot says who runs already, or waits with `standby`. Every process
    stands ready to be the one sender; the sender also runs the retention job, the
    founding-case reminders and membership transfers.
    """
    instance = app.instance
    await instance.register()
    tasks: list[asyncio.Task[None]] = []
    try:
        await instance.take_receiver(standby=standby)
        await prepare(app)
        tasks.append(asyncio.create_task(_sender_role(app, stop), name="sender-role"))
        tasks.append(asyncio.create_task(_watch_locks(app, stop), name="lock-watch"))
        if app.processor.cross_process:
            tasks.append(asyncio.create_task(_adopt_orphans(app, stop), name="adopt"))
        if webhook:
            await _serve_webhook(app, stop, on_ready)
        else:
            async with dashboard_listener(app):  # [dashboard] on its own port, if enabled
                if on_ready:
                    await on_ready()
                await poll(app, stop)
    finally:
        await app.processor.drain()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await instance.unregister()


async def _sender_role(app: App, stop: asyncio.Event) -> None:
    """Wait to be the sender, then send (and keep the retention job) for as long as this
    process holds the role."""
    name = app.instance.sender_lock
    while not stop.is_set():
        if not await app.locks.try_acquire(name):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SENDER_STANDBY_POLL)
            continue
        log.info("this process sends the outbox")
        jobs = [
            asyncio.create_task(
                retention_loop(app.dispatcher["privacy"], app.settings.retention, stop, app.inbox),
                name="retention",
            ),
            asyncio.create_task(
                reminder_loop(
                    app.dispatcher["founding"],
                    app.dispatcher["service_levels"],
                    app.dispatcher["activities"],
                    app.dispatcher["weekly_digests"],
                    app.settings.federation,
                    stop,
                ),
                name="case-reminders",
            ),
            asyncio.create_task(
                transfer_loop(app.dispatcher["membership"], stop), name="transfers"
            ),
        ]
        try:
            await app.sender.run(lambda: app.locks.holds(name) and not stop.is_set())
        finally:
            for job in jobs:
                job.cancel()
            for job in jobs:
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            await app.locks.release(name)


async def _watch_locks(app: App, stop: asyncio.Event) -> None:
    """Without the lock connection, another process may take this one's roles: stop."""
    await app.locks.lost.wait()
    log.error("the process locks are lost; stopping so that a supervisor can restart it")
    app.instance.failed = True
    stop.set()


async def _adopt_orphans(app: App, stop: asyncio.Event) -> None:
    """Webhook workers: take over the updates of a worker that died."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ADOPT_INTERVAL)
        try:
            adopted = await app.processor.resume()
        except Exception as error:
            log.warning("looking for orphaned updates failed: %s", type(error).__name__)
            continue
        if adopted:
            log.warning("took over %d updates of a process that stopped", adopted)


async def _serve_webhook(
    app: App, stop: asyncio.Event, on_ready: Callable[[], Awaitable[None]] | None
) -> None:
    hook = app.settings.telegram.webhook
    secret = hook.secret.get_secret_value()
    if not hook.url or not secret:
        raise ValueError("webhook mode needs telegram.webhook.url and telegram.webhook.secret")
    runner = webhook_runner(app, hook.path, secret)
    await runner.setup()
    site = web.TCPSite(runner, hook.listen_host, hook.listen_port, reuse_port=hook.reuse_port)
    await site.start()
    try:
        await app.bot.set_webhook(
            hook.url.rstrip("/") + hook.path,
            secret_token=secret,
            allowed_updates=ALLOWED,
            max_connections=hook.max_connections,
        )
        if on_ready:
            await on_ready()
        await stop.wait()
    finally:
        await runner.cleanup()
