"""Importing aiogram lazily (bot/lean_aiogram.py) builds each Telegram type on first use,
exactly as aiogram builds it up front. Each check runs in a fresh interpreter, since a
process imports aiogram once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every aiogram type's JSON schema (or the error it raises), digested: equal digests mean
# the same fields, types, aliases, defaults and nesting.
SCHEMAS = """
import hashlib, json, sys, warnings
warnings.simplefilter("ignore")
if sys.argv[1] == "lazy":
    from bot.lean_aiogram import import_lazily
    import_lazily()
import aiogram.types as types
schemas = {}
for name in types.__all__:
    model = getattr(types, name)
    if hasattr(model, "model_json_schema"):
        try:
            schemas[name] = json.dumps(model.model_json_schema(), sort_keys=True, default=str)
        except Exception as error:
            schemas[name] = "error " + type(error).__name__
digest = hashlib.sha256(json.dumps(schemas, sort_keys=True).encode()).hexdigest()
print(json.dumps({"models": len(schemas), "digest": digest}))
"""

USE = """
import json
from bot.lean_aiogram import import_lazily, warm_up
import_lazily()
import aiogram.types as types
from aiogram.methods import SendMessage
def built():
    return sorted(n for n in types.__all__
                  if getattr(getattr(types, n), "__pydantic_complete__", False))
after_import = built()
warm_up()
update = types.Update.model_validate({"update_id": 7, "callback_query": {
    "id": "q", "chat_instance": "c", "data": "approve:1",
    "from": {"id": 5, "is_bot": False, "first_name": "王"},
    "message": {"message_id": 3, "date": 1700000000, "chat": {"id": -100, "type": "supergroup"},
                "caption": "申请", "photo": [{"file_id": "f", "file_unique_id": "u",
                                              "width": 640, "height": 400}],
                "reply_markup": {"inline_keyboard": [[{"text": "通过", "callback_data": "a"}]]}}}})
message = update.callback_query.message
keyboard = types.InlineKeyboardMarkup(inline_keyboard=[[types.InlineKeyboardButton(
    text="通过", callback_data="approve:1")]])
sent = SendMessage(chat_id=5, text="好", reply_markup=keyboard).model_dump(exclude_none=True)
print(json.dumps({
    "after_import": after_import, "after_warm_up": built(),
    "photo_width": message.photo[0].width,
    "button": message.reply_markup.inline_keyboard[0][0].text,
    "sent_keyboard": sent["reply_markup"],
}))
"""

ALREADY_IMPORTED = """
import json
import aiogram.types as types
from bot.lean_aiogram import import_lazily
import_lazily()
print(json.dumps({"built": sum(1 for n in types.__all__
                               if getattr(getattr(types, n), "__pydantic_complete__", False))}))
"""


async def _run(script: str, *args: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, *args, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return json.loads(out)


async def test_every_type_is_built_as_aiogram_builds_it() -> None:
    eager, lazy = await asyncio.gather(_run(SCHEMAS, "eager"), _run(SCHEMAS, "lazy"))
    assert eager["models"] > 400
    assert lazy == eager


async def test_only_what_is_used_is_built_and_it_works() -> None:
    used = await _run(USE)
    assert used["after_import"] == []
    assert {"Update", "InlineKeyboardMarkup"} <= set(used["after_warm_up"])
    assert len(used["after_warm_up"]) < 20  # of about 450
    assert used["photo_width"] == 640 and used["button"] == "通过"
    assert used["sent_keyboard"] == {
        "inline_keyboard": [[{"text": "通过", "callback_data": "approve:1"}]]
    }


async def test_once_aiogram_is_imported_it_changes_nothing() -> None:
    assert (await _run(ALREADY_IMPORTED))["built"] > 400


def test_the_suite_imports_aiogram_as_unionbot_run_does() -> None:
    from aiogram.types import Giveaway  # nothing in the bot or the suite validates one

    assert Giveaway.__pydantic_complete__ is False
