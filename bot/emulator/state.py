"""The emulated world: users, bots, chats and their messages."""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import EmulatorError
from .files import FileStore
from .pulse import Pulse
from .records import ApiCall, BotEvent, CallbackRecord
from .transcript import Transcript
from .updates import UpdateQueue

ACTIVE_STATUSES = frozenset({"creator", "administrator", "member", "restricted"})


@dataclass
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data

    def private_chat_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        data["type"] = "private"
        return data


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class BotRecord:
    token: str
    user: UserRecord
    can_read_all_group_messages: bool = False
    updates: UpdateQueue = field(default_factory=UpdateQueue)
    webhook: WebhookConfig | None = None
    started: set[int] = field(default_factory=set)  # users who opened the private chat
    blocked: set[int] = field(default_factory=set)
    # (ScopeKey, language code or "") -> commands; see commands.py
    commands: dict[tuple[Any, str], list[dict[str, Any]]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # name/description per language
    poll_generation: int = 0

    @property
    def id(self) -> int:
        return self.user.id

    def me(self) -> dict[str, Any]:
        return {
            **self.user.json(),
            "can_join_groups": True,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass
class ChatRecord:
    id: int
    type: str  # private, group or supergroup
    title: str | None = None
    user: UserRecord | None = None  # the other side of a private chat
    members: dict[int, str] = field(default_factory=dict)  # user id -> ChatMember status
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1
    chat_instance: str = field(default_factory=lambda: str(secrets.randbits(62)))
    reply_keyboard: dict[str, Any] | None = None  # last ReplyKeyboardMarkup shown

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    def json(self) -> dict[str, Any]:
        if self.user is not None:
            return self.user.private_chat_json()
        return {"id": self.id, "title": self.title, "type": self.type}

    @property
    def label(self) -> str:
        if self.user is not None:
            return f"{self.user.full_name} (private)"
        return self.title or str(self.id)

    def status_of(self, user_id: int) -> str:
        if self.is_private:
            return "member"
        return self.members.get(user_id, "left")


class World:
    """All state, shared by the Bot API handlers and the control API."""

    def __init__(self) -> None:
        self.users: dict[int, UserRecord] = {}
        self.bots: dict[str, BotRecord] = {}
        self.groups: dict[int, ChatRecord] = {}
        self.privates: dict[tuple[int, int], ChatRecord] = {}  # (bot id, user id)
        self.files = FileStore()
        self.transcript = Transcript()
        self.sent_log: list[ApiCall] = []
        self.bot_events: list[BotEvent] = []
        self.callbacks: dict[str, CallbackRecord] = {}
        self.internal_errors: list[str] = []
        self.changes = Pulse()
        # Per-chat wake-ups, so a waiter on one chat is not woken by every other chat.
        self.chat_changes: dict[int, Pulse] = {}
        self.closing = False

    # --- lookups ---------------------------------------------------------------------

    def user(self, user_id: int) -> UserRecord:
        try:
            return self.users[user_id]
        except KeyError:
            raise EmulatorError(f"unknown user {user_id}; call add_user first") from None

    def bot(self, token: str | None = None) -> BotRecord:
        if token is None:
            if not self.bots:
                raise EmulatorError("no bot; call add_bot first")
            return next(iter(self.bots.values()))
        try:
            return self.bots[token]
        except KeyError:
            raise EmulatorError(f"unknown bot token {token!r}") from None

    def bot_by_id(self, bot_id: int) -> BotRecord | None:
        return next((b for b in self.bots.values() if b.id == bot_id), None)

    def private_chat(self, bot: BotRecord, user: UserRecord) -> ChatRecord:
        key = (bot.id, user.id)
        if key not in self.privates:
            self.privates[key] = ChatRecord(id=user.id, type="private", user=user)
        return self.privates[key]

    def chat_for(self, bot: BotRecord, chat_id: int) -> ChatRecord | None:
        """The chat a bot means by chat_id: a group, or its private chat with a user."""
        if chat_id < 0:
            return self.groups.get(chat_id)
        user = self.users.get(chat_id)
        return None if user is None else self.private_chat(bot, user)

    def control_chat(self, bot: BotRecord, chat_id: int) -> ChatRecord:
        chat = self.chat_for(bot, chat_id)
        if chat is None:
            raise EmulatorError(f"unknown chat {chat_id}")
        return chat

    def bots_in(self, chat: ChatRecord) -> list[BotRecord]:
        return [b for b in self.bots.values() if chat.members.get(b.id) in ACTIVE_STATUSES]

    # --- messages --------------------------------------------------------------------

    def add_message(self, chat: ChatRecord, sender: UserRecord, **content: Any) -> dict[str, Any]:
        """Store a new message with the next message_id of the chat."""
        message: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "from": sender.json(),
            "chat": chat.json(),
            "date": int(time.time()),
        }
        message.update({k: v for k, v in content.items() if v not in (None, [], "")})
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = message
        return message

    def record_bot_event(self, kind: str, chat: ChatRecord, message: dict[str, Any]) -> None:
        index = len(self.bot_events)
        self.bot_events.append(BotEvent(index, kind, chat.id, copy.deepcopy(message)))
        self.changes.fire()
        pulse = self.chat_changes.get(chat.id)
        if pulse is not None:
            pulse.fire()

    def chat_pulse(self, chat_id: int) -> Pulse:
        return self.chat_changes.setdefault(chat_id, Pulse())
