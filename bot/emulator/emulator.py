"""The Emulator: a local Telegram Bot API server plus a Python API to play the people."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from . import actions
from . import commands as menus
from .control import control_routes
from .errors import ApiError, EmulatorError
from .faults import Faults, FloodLimits, InjectedError, NetworkFailure
from .files import analyse_image, sample_photo
from .records import ApiCall, BotEvent
from .server import BotApi, make_app
from .state import BotRecord, ChatRecord, UserRecord, World
from .transcript import TranscriptEvent
from .webhook import WebhookSender

MessageMatch = Callable[[dict[str, Any]], bool]


class Emulator:
    """A fake Telegram: start it, point a bot at `base_url`, then act as its users.

    Private chats have chat_id == user_id (per bot); groups have negative ids. Methods that
    take `bot` accept a token and default to the first bot added.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, webhook_retry_delay: float = 0.05
    ) -> None:
        self.host = host
        self.port = port
        self.world = World()
        self.faults = Faults()
        self._api = BotApi(self.world, self.faults)
        self._webhooks = WebhookSender(self.world, self._api.execute_reply, webhook_retry_delay)
        self._runner: web.AppRunner | None = None
        self._cursor = 0  # wait_for looks at bot output after the last user action

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> Emulator:
        if self._runner is not None:
            return self
        self.world.closing = False
        app = make_app(self._api, control_routes(self))
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        for bot in self.world.bots.values():
            self._webhooks.watch(bot)
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.world.closing = True
        for bot in self.world.bots.values():
            bot.updates.changed.fire()  # release long polls now instead of at their timeout
        await self._webhooks.close()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise EmulatorError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    # --- set-up ----------------------------------------------------------------------

    def add_bot(
        self,
        token: str,
        username: str,
        first_name: str,
        *,
        can_read_all_group_messages: bool = False,
    ) -> dict[str, Any]:
        """Register a bot; the token must look like Telegram's ("<bot id>:<secret>")."""
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret or token in self.world.bots:
            raise EmulatorError(f"bad or duplicate bot token {token!r}")
        user = UserRecord(int(bot_id), first_name, username=username, is_bot=True)
        bot = BotRecord(token, user, can_read_all_group_messages)
        self.world.bots[token] = bot
        if self._runner is not None:
            self._webhooks.watch(bot)
        return user.json()

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> dict[str, Any]:
        if user_id <= 0 or user_id in self.world.users:
            raise EmulatorError(f"bad or duplicate user id {user_id}")
        user = UserRecord(user_id, first_name, last_name, username, language_code)
        self.world.users[user_id] = user
        return user.json()

    def add_group(
        self,
        chat_id: int,
        title: str,
        member_ids: Iterable[int],
        admin_ids: Iterable[int] = (),
        supergroup: bool = True,
        *,
        creator_id: int | None = None,
    ) -> dict[str, Any]:
        """A group of existing users; the creator defaults to the first admin."""
        if chat_id >= 0 or chat_id in self.world.groups:
            raise EmulatorError(f"group ids are negative and unique, got {chat_id}")
        admins = list(admin_ids)
        creator = creator_id if creator_id is not None else (admins[0] if admins else None)
        chat = ChatRecord(chat_id, "supergroup" if supergroup else "group", title)
        for user_id in {*member_ids, *admins}:
            self.world.user(user_id)
            chat.members[user_id] = "member"
        for user_id in admins:
            chat.members[user_id] = "administrator"
        if creator is not None:
            self.world.user(creator)
            chat.members[creator] = "creator"
        self.world.groups[chat_id] = chat
        return chat.json()

    def add_bot_to_group(
        self,
        token: str,
        chat_id: int,
        by_user_id: int,
        *,
        status: Literal["member", "administrator"] = "member",
    ) -> None:
        """A member adds the bot: it gets my_chat_member (and the new_chat_members message)."""
        self.set_member_status(chat_id, self.world.bot(token).id, status, by_user_id=by_user_id)

    def set_member_status(
        self, chat_id: int, user_id: int, status: str, *, by_user_id: int | None = None
    ) -> None:
        """Promote, demote, add or remove someone (user or bot) in a group."""
        chat = self._group(chat_id)
        member = self._member(user_id)
        by = self.world.user(by_user_id) if by_user_id is not None else member
        actions.change_member(self.world, chat, member, status, by)

    # --- people acting ---------------------------------------------------------------

    def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        *,
        reply_to: int | None = None,
        bot: str | None = None,
    ) -> dict[str, Any]:
        """A user types text; a leading /command gets its bot_command entity."""
        return self._post(user_id, chat_id, bot, reply_to=reply_to, **actions.text_content(text))

    def send_command(
        self,
        user_id: int,
        command: str,
        args: str | None = None,
        chat_id: int | None = None,
        *,
        bot: str | None = None,
    ) -> dict[str, Any]:
        text = "/" + command.lstrip("/") + (f" {args}" if args else "")
        return self.send_text(user_id, text, chat_id, bot=bot)

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        contact_user_id: int | Literal["self"] | None = "self",
        first_name: str | None = None,
        chat_id: int | None = None,
        *,
        last_name: str | None = None,
        bot: str | None = None,
    ) -> dict[str, Any]:
        """Share a contact; by default the user's own (what a request_contact button sends)."""
        owner = self.world.user(user_id)
        contact_id = owner.id if contact_user_id == "self" else contact_user_id
        known = self.world.users.get(contact_id) if isinstance(contact_id, int) else None
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name or (known.first_name if known else "Contact"),
        }
        surname = last_name or (known.last_name if known and not first_name else None)
        if surname:
            contact["last_name"] = surname
        if isinstance(contact_id, int):
            contact["user_id"] = contact_id
        return self._post(user_id, chat_id, bot, contact=contact)

    def send_sticker(
        self, user_id: int, chat_id: int | None = None, *, emoji: str = "👍", bot: str | None = None
    ) -> dict[str, Any]:
        return self._post(user_id, chat_id, bot, sticker=self.world.files.add_sticker(emoji))

    def send_photo(
        self,
        user_id: int,
        chat_id: int | None = None,
        *,
        width: int = 1280,
        height: int = 960,
        caption: str | None = None,
        bot: str | None = None,
    ) -> dict[str, Any]:
        data = sample_photo(width, height)
        photo = self.world.files.add_photo(data, analyse_image(data))
        return self._post(user_id, chat_id, bot, photo=photo, caption=caption)

    def send_voice(
        self, user_id: int, chat_id: int | None = None, *, duration: int = 3, bot: str | None = None
    ) -> dict[str, Any]:
        return self._post(user_id, chat_id, bot, voice=self.world.files.add_voice(duration))

    def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        chat_id: int | None = None,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        bot: str | None = None,
    ) -> dict[str, Any]:
        document = self.world.files.add_document(data, file_name, mime_type)
        return self._post(user_id, chat_id, bot, document=document, caption=caption)

    def press_button(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        forge: bool = False,
        bot: str | None = None,
    ) -> str:
        """Press an inline button; returns the callback_query id.

        Refuses data that is not on a button of that message (Telegram clients only send
        real buttons) unless forge=True, which plays a modified client.
        """
        self._cursor = len(self.world.bot_events)
        user = self.world.user(user_id)
        return actions.press_button(
            self.world, self.world.bot(bot), user, chat_id, message_id, data, forge
        )

    def open_private_chat(self, user_id: int, *, bot: str | None = None) -> None:
        """The user started the bot some time ago: it may write to them, and no update is
        delivered now (many people at once, without a message each)."""
        record = self.world.bot(bot)
        self.world.private_chat(record, self.world.user(user_id))
        record.started.add(user_id)

    def block_bot(self, user_id: int, *, bot: str | None = None) -> None:
        actions.set_blocked(self.world, self.world.bot(bot), self.world.user(user_id), True)

    def unblock_bot(self, user_id: int, *, bot: str | None = None) -> None:
        actions.set_blocked(self.world, self.world.bot(bot), self.world.user(user_id), False)

    def redeliver(self, update_id: int, *, bot: str | None = None) -> dict[str, Any]:
        """Queue an already delivered update again, with the same update_id."""
        record = self.world.bot(bot)
        if update_id not in record.updates.history:
            raise EmulatorError(f"unknown update_id {update_id}")
        return record.updates.redeliver(update_id)

    def _post(
        self, user_id: int, chat_id: int | None, bot: str | None, **content: Any
    ) -> dict[str, Any]:
        self._cursor = len(self.world.bot_events)
        user = self.world.user(user_id)
        return actions.post_user_message(self.world, self.world.bot(bot), user, chat_id, **content)

    # --- reading ---------------------------------------------------------------------

    def messages(self, chat_id: int, *, bot: str | None = None) -> list[dict[str, Any]]:
        """The chat as it is now: edits applied, deleted messages gone."""
        chat = self.world.control_chat(self.world.bot(bot), chat_id)
        return [copy.deepcopy(m) for m in chat.messages.values()]

    def last_message(self, chat_id: int, *, bot: str | None = None) -> dict[str, Any] | None:
        messages = self.messages(chat_id, bot=bot)
        return messages[-1] if messages else None

    def message(self, chat_id: int, message_id: int, *, bot: str | None = None) -> dict[str, Any]:
        chat = self.world.control_chat(self.world.bot(bot), chat_id)
        if message_id not in chat.messages:
            raise EmulatorError(f"no message {message_id} in chat {chat_id}")
        return copy.deepcopy(chat.messages[message_id])

    def reply_keyboard(self, chat_id: int, *, bot: str | None = None) -> dict[str, Any] | None:
        """The ReplyKeyboardMarkup the user currently sees in that chat, if any."""
        chat = self.world.control_chat(self.world.bot(bot), chat_id)
        return copy.deepcopy(chat.reply_keyboard)

    def file_bytes(self, file_id: str) -> bytes:
        stored = self.world.files.get(file_id)
        if stored is None:
            raise EmulatorError(f"unknown file_id {file_id!r}")
        return stored.data

    def callback_answers(self, callback_query_id: str | None = None) -> Any:
        """The answer to one callback query (None if unanswered), or all answers in order."""
        if callback_query_id is not None:
            record = self.world.callbacks.get(callback_query_id)
            if record is None:
                raise EmulatorError(f"unknown callback query {callback_query_id!r}")
            return copy.deepcopy(record.answer)
        answers = [r.answer for r in self.world.callbacks.values() if r.answer is not None]
        return sorted(copy.deepcopy(answers), key=lambda a: a["at"])

    def updates(self, *, bot: str | None = None) -> list[dict[str, Any]]:
        """Every update created for the bot, in update_id order."""
        history = self.world.bot(bot).updates.history
        return [copy.deepcopy(history[k]) for k in sorted(history)]

    def pending_updates(self, *, bot: str | None = None) -> list[dict[str, Any]]:
        return self.world.bot(bot).updates.pending()

    def commands(
        self,
        scope: dict[str, Any] | None = None,
        language_code: str = "",
        *,
        bot: str | None = None,
    ) -> list[dict[str, Any]]:
        """The list set for exactly this scope and language (what getMyCommands returns)."""
        try:
            kind, chat_id, user_id = menus.parse_scope(scope)
        except ApiError as error:
            raise EmulatorError(error.description) from None
        key = menus.ScopeKey(kind, int(chat_id) if chat_id else None, user_id)
        return copy.deepcopy(self.world.bot(bot).commands.get((key, language_code), []))

    def command_menu(
        self, user_id: int, chat_id: int | None = None, *, bot: str | None = None
    ) -> list[dict[str, Any]]:
        """The command menu `user_id` sees in a chat (their private chat with the bot by
        default), resolved along Telegram's scope precedence with their language."""
        record = self.world.bot(bot)
        user = self.world.user(user_id)
        if chat_id is None or chat_id == user_id:
            chat = self.world.private_chat(record, user)
        else:
            chat = self._group(chat_id)
        return menus.menu_for(record, chat, user)

    @property
    def sent_log(self) -> list[ApiCall]:
        return list(self.world.sent_log)

    def calls(self, method: str | None = None, chat_id: int | None = None) -> list[ApiCall]:
        """sent_log filtered by method name (case-insensitive) and/or chat."""
        return [
            c
            for c in self.world.sent_log
            if (method is None or c.method.lower() == method.lower())
            and (chat_id is None or str(c.chat_id) == str(chat_id))
        ]

    @property
    def bot_events(self) -> list[BotEvent]:
        return list(self.world.bot_events)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of emulator bugs (each also answered 500); tests should expect none."""
        return list(self.world.internal_errors)

    def mark(self) -> int:
        """A cursor for wait_for(since=...): only bot output after this point matches."""
        return len(self.world.bot_events)

    async def wait_for(
        self,
        match: MessageMatch | int | None = None,
        text: str | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - the public API mirrors asyncio.wait_for
        since: int | None = None,
        kinds: tuple[str, ...] = ("sent", "edited"),
    ) -> dict[str, Any]:
        """Wait until the bot sends or edits a matching message and return it.

        `match` is a predicate on the message, or a chat_id (then `text`, if given, must be a
        substring of its text or caption). Only bot output after the last user action done
        through this object is considered, unless `since` (see mark()) says otherwise.
        """
        predicate = _predicate(match, text)
        start = self._cursor if since is None else since
        deadline = time.monotonic() + timeout
        # Waiting on one chat wakes only for that chat's events.
        pulse = self.world.chat_pulse(match) if isinstance(match, int) else self.world.changes
        while True:
            for event in self.world.bot_events[start:]:
                if event.kind in kinds and predicate(event.message):
                    return copy.deepcopy(event.message)
            start = max(start, len(self.world.bot_events))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(self._timeout_message(match, text, timeout))
            await pulse.wait(left)

    def _timeout_message(self, match: Any, text: str | None, timeout: float) -> str:
        recent = [
            f"  {e.kind} in {e.chat_id}: {e.message.get('text', e.message.get('caption', ''))!r}"
            for e in self.world.bot_events[-5:]
        ]
        target = f"chat {match}" if isinstance(match, int) else "a predicate"
        wanted = f" containing {text!r}" if text else ""
        return "\n".join(
            [f"no bot message in {target}{wanted} within {timeout}s; recent output:", *recent]
        )

    # --- fault injection ---------------------------------------------------------------

    def inject_error(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        count: int = 1,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> None:
        """The next `count` calls of `method` ("*" = any), optionally to one chat, fail."""
        self.faults.errors.append(
            InjectedError(method.lower(), status, retry_after, count, chat_id, description)
        )

    def inject_network_failure(
        self, method: str, count: int = 1, *, after_processing: bool = False
    ) -> None:
        """Drop the connection without a response. With after_processing=True the call
        takes effect first (e.g. the message is sent) and only its response is lost."""
        self.faults.network.append(NetworkFailure(method.lower(), count, after_processing))

    def set_flood_limits(self, limits: FloodLimits | None) -> None:
        """With FloodLimits(...), sends beyond Telegram's limits get 429 with a computed
        retry_after; None turns flood control off (the default)."""
        self.faults.flood = limits

    # --- transcript --------------------------------------------------------------------

    @property
    def transcript(self) -> list[TranscriptEvent]:
        return list(self.world.transcript.events)

    def transcript_text(self) -> str:
        return self.world.transcript.text()

    # --- helpers -------------------------------------------------------------------------

    def _group(self, chat_id: int) -> ChatRecord:
        chat = self.world.groups.get(chat_id)
        if chat is None:
            raise EmulatorError(f"unknown group {chat_id}")
        return chat

    def _member(self, user_id: int) -> UserRecord:
        bot = self.world.bot_by_id(user_id)
        return bot.user if bot is not None else self.world.user(user_id)


def _predicate(match: MessageMatch | int | None, text: str | None) -> MessageMatch:
    if callable(match):
        return match
    chat_id = match

    def matches(message: dict[str, Any]) -> bool:
        if chat_id is not None and message["chat"]["id"] != chat_id:
            return False
        body = message.get("text", message.get("caption", "")) or ""
        return text is None or text in body

    return matches
