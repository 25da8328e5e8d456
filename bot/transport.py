"""Every Bot API call that sends into a chat goes through here: it waits for a slot of the
bot-wide flood limits (bot.pacing), and a refusal is waited out or handed to the outbox,
never lost in silence.

- The outbox sender takes its slots itself (it chooses what to send by them) and marks its
  calls (`from_outbox`): a 429 goes back to it, and it puts the row back in the queue for
  retry_after.
- A handler's direct reply that Telegram refuses with 429 is sent again after retry_after
  (up to MAX_REPLY_WAIT); one that still cannot go (the network is down, the wait is too
  long) is handed to the outbox, which delivers it once it can, and the handler is told
  with ReplyDeferred (the dispatcher's error handler logs one line).
- An answer to a callback query that Telegram finds too old (an update resumed after a
  restart) is dropped with a log line: the person pressed long ago and nobody waits.
- An edit that changes nothing ("message is not modified") is a success: the message
  already says it, for example because a process handled the update before it died and
  the one that took over repeats the edit.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram import methods as m
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods.base import TelegramMethod, TelegramType

from bot.pacing import LocalPacer, SharedPacer, take_slot

log = logging.getLogger(__name__)

# Calls that post or change a message in a chat: Telegram counts them against its limits.
PACED: tuple[type[TelegramMethod[Any]], ...] = (
    m.SendMessage, m.SendPhoto, m.SendDocument, m.SendMediaGroup, m.SendVideo,
    m.SendAnimation, m.SendAudio, m.SendVoice, m.SendSticker, m.SendLocation,
    m.SendContact, m.SendPoll, m.CopyMessage, m.ForwardMessage, m.EditMessageText,
    m.EditMessageCaption, m.EditMessageReplyMarkup, m.EditMessageMedia,
)  # fmt: skip
MAX_REPLY_WAIT = 60.0  # seconds a handler's reply may wait for Telegram's retry_after
NETWORK_RETRIES = 2
TOO_OLD = ("query is too old", "query id is invalid")
NOT_MODIFIED = "message is not modified"
EDITS = (m.EditMessageText, m.EditMessageCaption, m.EditMessageReplyMarkup, m.EditMessageMedia)

# True while the outbox sender makes the call.
from_outbox: contextvars.ContextVar[bool] = contextvars.ContextVar("from_outbox", default=False)

Handoff = Callable[[TelegramMethod[Any]], Awaitable[None]]


class ReplyDeferred(Exception):
    """A handler's reply could not go now and was handed to the outbox."""


class PacedRequests(BaseRequestMiddleware):
    def __init__(self, pacer: LocalPacer | SharedPacer, handoff: Handoff | None = None) -> None:
        self.pacer = pacer
        self.handoff = handoff

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        if isinstance(method, m.AnswerCallbackQuery):
            return await _answer(make_request, bot, method)
        chat_id = getattr(method, "chat_id", None)
        if not isinstance(method, PACED) or not isinstance(chat_id, int):
            return await make_request(bot, method)
        if from_outbox.get():  # the sender took its slot itself
            return await make_request(bot, method)
        try:
            return await self._reply(make_request, bot, method, chat_id)
        except TelegramBadRequest as error:
            if isinstance(method, EDITS) and NOT_MODIFIED in error.message.lower():
                return True
            raise

    async def _reply(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        chat_id: int,
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_REPLY_WAIT
        network_failures = 0
        while True:
            await take_slot(self.pacer, chat_id)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                # With the pacer this means another sender ignores the limits, or
                # Telegram lowered them for this bot: wait as told, if it is not too long.
                log.warning("%s refused with retry_after=%s", type(method).__name__,
                            error.retry_after)  # fmt: skip
                if loop.time() + error.retry_after > deadline:
                    await self._hand_off(method, f"retry_after {error.retry_after}s")
                await asyncio.sleep(error.retry_after)
            except (TelegramNetworkError, TelegramServerError) as error:
                network_failures += 1
                if network_failures > NETWORK_RETRIES:
                    await self._hand_off(method, type(error).__name__)
                await asyncio.sleep(network_failures)

    async def _hand_off(self, method: TelegramMethod[Any], why: str) -> None:
        if self.handoff is None:
            raise ReplyDeferred(f"{type(method).__name__}: {why}; no outbox to hand it to")
        await self.handoff(method)
        raise ReplyDeferred(f"{type(method).__name__} handed to the outbox ({why})")


async def _answer(
    make_request: NextRequestMiddlewareType[TelegramType],
    bot: Bot,
    method: m.AnswerCallbackQuery,
) -> Any:
    try:
        return await make_request(bot, method)  # type: ignore[arg-type]
    except TelegramBadRequest as error:
        if any(phrase in error.message.lower() for phrase in TOO_OLD):
            log.info("a button press was answered too late (%s)", error.message)
            return True
        raise
