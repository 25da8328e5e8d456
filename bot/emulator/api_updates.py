"""getUpdates (real long polling) and the webhook settings."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

from .api_common import Call, Handler, WithDescription
from .errors import bad_request, conflict
from .state import WebhookConfig

MAX_POLL_TIMEOUT = 50  # seconds; Telegram caps long polling too
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


async def get_updates(call: Call) -> list[dict[str, Any]]:
    bot = call.bot
    if bot.webhook is not None:
        raise conflict(
            "can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first"
        )
    limit = min(max(call.params.integer("limit", 100) or 100, 1), 100)
    timeout = min(max(call.params.integer("timeout", 0) or 0, 0), MAX_POLL_TIMEOUT)
    allowed = call.params.obj("allowed_updates")
    bot.updates.set_allowed(allowed if isinstance(allowed, list) else None)
    bot.updates.confirm(call.params.integer("offset"))

    # A newer getUpdates ends this one with 409, as when two bot instances poll.
    bot.poll_generation += 1
    generation = bot.poll_generation
    bot.updates.changed.fire()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if generation != bot.poll_generation:
            raise conflict(
                "terminated by other getUpdates request; "
                "make sure that only one bot instance is running"
            )
        if bot.webhook is not None:
            return []
        batch = bot.updates.take(limit)
        remaining = deadline - asyncio.get_running_loop().time()
        if batch or remaining <= 0 or call.world.closing:
            return batch
        await bot.updates.changed.wait(remaining)


async def set_webhook(call: Call) -> WithDescription:
    url = call.params.text("url") or ""
    if not url:
        return await delete_webhook(call)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: Wrong URL")
    secret = call.params.text("secret_token")
    if secret is not None and not _SECRET.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = call.params.integer("max_connections", 40) or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    bot = call.bot
    unchanged = bot.webhook is not None and bot.webhook.url == url
    if call.params.flag("drop_pending_updates"):
        bot.updates.clear()
    allowed = call.params.obj("allowed_updates")
    bot.updates.set_allowed(allowed if isinstance(allowed, list) else None)
    bot.webhook = WebhookConfig(url=url, secret_token=secret, max_connections=max_connections)
    bot.updates.changed.fire()  # wakes the webhook sender and ends a pending getUpdates
    return WithDescription(True, "Webhook is already set" if unchanged else "Webhook was set")


async def delete_webhook(call: Call) -> WithDescription:
    bot = call.bot
    existed = bot.webhook is not None
    bot.webhook = None
    if call.params.flag("drop_pending_updates"):
        bot.updates.clear()
    bot.updates.changed.fire()
    return WithDescription(True, "Webhook was deleted" if existed else "Webhook is already deleted")


async def get_webhook_info(call: Call) -> dict[str, Any]:
    bot = call.bot
    info: dict[str, Any] = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(bot.updates),
    }
    hook = bot.webhook
    if hook is None:
        return info
    info.update(url=hook.url, max_connections=hook.max_connections, ip_address="127.0.0.1")
    if hook.last_error_date is not None:
        info.update(
            last_error_date=hook.last_error_date, last_error_message=hook.last_error_message
        )
    if bot.updates.allowed:
        info["allowed_updates"] = list(bot.updates.allowed)
    return info


METHODS: dict[str, Handler] = {
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
}
