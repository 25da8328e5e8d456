"""A handler's reply that cannot go now is handed to the outbox, sealed.

The reply may hold anything the person typed (the form's summary shows their id number
to them), so the method call is stored encrypted, like every other copy of such data;
the outbox view opens it at send time.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from aiogram import methods
from aiogram.methods.base import TelegramMethod
from aiogram.types import InputFile

from bot.db import Database
from bot.pii import PiiCipher
from bot.services import outbox

log = logging.getLogger(__name__)

CONTEXT = "outbox-reply"


class OutboxHandoff:
    def __init__(self, db: Database, cipher: PiiCipher) -> None:
        self.db = db
        self.cipher = cipher

    async def __call__(self, method: TelegramMethod[Any]) -> None:
        params = method.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        if any(isinstance(value, InputFile) for value in vars(method).values()):
            # An upload is not kept in the database; the person asks again (/card).
            log.error("a %s reply with a file could not be sent and is dropped",
                      type(method).__name__)  # fmt: skip
            return
        sealed = self.seal({"method": type(method).__name__, "params": params})
        chat_id = int(params["chat_id"])
        edits = params.get("message_id") if type(method).__name__.startswith("Edit") else None
        async with self.db.transaction() as session:
            await outbox.enqueue(session, chat_id, "reply", sealed=sealed, edits=edits)

    def seal(self, call: dict[str, Any]) -> str:
        blob = self.cipher.encrypt(json.dumps(call, ensure_ascii=False), context=CONTEXT)
        return base64.b64encode(blob).decode()


def unseal(cipher: PiiCipher, sealed: str) -> TelegramMethod[Any]:
    call = json.loads(cipher.decrypt(base64.b64decode(sealed), context=CONTEXT))
    method_class = getattr(methods, call["method"], None)
    if not (isinstance(method_class, type) and issubclass(method_class, TelegramMethod)):
        raise ValueError(f"not a Bot API method: {call['method']!r}")
    return method_class.model_validate(call["params"])
