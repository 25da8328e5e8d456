"""Import aiogram without building every Telegram type up front.

aiogram's types are pydantic models declared with `defer_build=True`, but
`aiogram/types/__init__.py` then calls `model_rebuild()` on all ~450 of them so that their
forward references (names imported only under TYPE_CHECKING) resolve against one
namespace. Each model gets its own validator holding its whole nested closure (a Message
is copied into hundreds of them): about 100 MiB of a process's idle memory (measured:
`import aiogram` 166 MiB resident, 64 MiB this way). A bot validates a handful of them.

`import_lazily()` lets that loop only record the namespace, then puts the names into the
globals of aiogram's type modules, where pydantic looks when a model is built on first use,
so each model is built exactly as aiogram would have built it, only later. Called before
anything imports aiogram (the command line and the tests do); if aiogram is already
imported it does nothing, and a process that never calls it builds the types eagerly as
aiogram does. `warm_up()` builds what every update needs, so that the first update does
not pay for it.
"""

from __future__ import annotations

import sys
from typing import Any


def import_lazily() -> None:
    if "aiogram" in sys.modules:
        return
    from pydantic import BaseModel

    eager = BaseModel.__dict__["model_rebuild"]
    namespaces: list[dict[str, Any]] = []

    def record(cls: type[BaseModel], **kwargs: Any) -> bool | None:
        names = kwargs.get("_types_namespace")
        if names is None or cls.__pydantic_complete__:
            return eager.__func__(cls, **kwargs)
        if not namespaces:
            namespaces.append(dict(names))
        return None

    BaseModel.model_rebuild = classmethod(record)  # type: ignore[method-assign,assignment]
    try:
        import aiogram  # noqa: F401  (the whole package: Bot and Dispatcher import the types)
    finally:
        BaseModel.model_rebuild = eager  # type: ignore[method-assign]
    if not namespaces:
        return  # an aiogram that no longer rebuilds its types: nothing to do
    for name, module in list(sys.modules.items()):
        if name.startswith("aiogram.types.") and module is not None:
            for key, value in namespaces[0].items():
                module.__dict__.setdefault(key, value)


def warm_up() -> None:
    """Build the models that every update and reply uses (one-time, ~0.1 s)."""
    from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
    from aiogram.methods.base import Response
    from aiogram.types import InlineKeyboardMarkup, Message, Update

    for model in (Update, SendMessage, EditMessageText, AnswerCallbackQuery):
        model.model_rebuild()
    for returned in (Message, bool):
        Response[returned].model_rebuild()  # type: ignore[valid-type]
    InlineKeyboardMarkup.model_rebuild()
