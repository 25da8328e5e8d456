"""Small async filters for the hot paths.

aiogram runs a magic filter (`F.text`, `F.chat.type == ...`) through asyncio.to_thread on
every check; these plain coroutines do the same checks without a thread hop per update.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message, TelegramObject

from bot.config import Settings


class ChatIs(Filter):
    """The chat the event happened in is of one of these types."""

    def __init__(self, *types: str) -> None:
        self.types = frozenset(types)

    async def __call__(self, event: TelegramObject) -> bool:
        if isinstance(event, Message | ChatMemberUpdated):
            return event.chat.type in self.types
        if isinstance(event, CallbackQuery) and event.message is not None:
            return event.message.chat.type in self.types
        return False


class HasText(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.text is not None


class PlainText(Filter):
    """Text that is not a command: a dialogue's answer, while commands still work."""

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and not message.text.startswith("/")


class HasContact(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.contact is not None


class TextStartsWith(Filter):
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and message.text.startswith(self.prefix)


class ChatMigrated(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.migrate_to_chat_id is not None


class InFederationChat(Filter):
    """Only the configured federation group; elsewhere these commands do not exist."""

    async def __call__(self, event: TelegramObject, settings: Settings) -> bool:
        federation = settings.federation.chat_id
        if federation is None:
            return False
        if isinstance(event, Message):
            return event.chat.id == federation
        if isinstance(event, CallbackQuery) and event.message is not None:
            return event.message.chat.id == federation
        return False


PRIVATE = ChatIs("private")
GROUP = ChatIs("group", "supergroup")
TEXT = HasText()
CONTACT = HasContact()
