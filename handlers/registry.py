"""A declaration of a module's handlers, turned into a fresh aiogram Router on demand.

aiogram routers can belong to one dispatcher only; building them per dispatcher keeps
import side-effect free and lets tests and restarts create as many bots as they need.

Every filter runs in the event loop. aiogram runs a filter that is not a coroutine (a
`State`, a magic filter `F...`) through asyncio.to_thread on every check: a form step
checked a handful of them, and the thread hops with their wake-ups were about a fifth of
the bot's CPU per update. A `State` becomes aiogram's own `StateFilter` (the same check,
async); any other filter that would go to a thread is refused when the router is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import CallableObject
from aiogram.filters import StateFilter
from aiogram.fsm.state import State

Handler = Callable[..., Any]


class Handlers:
    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: list[tuple[str, tuple[Any, ...], Handler]] = []
        self._filters: list[tuple[str, tuple[Any, ...]]] = []

    def _decorator(self, observer: str, filters: tuple[Any, ...]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._entries.append((observer, _in_loop(filters), handler))
            return handler

        return register

    def message(self, *filters: Any) -> Callable[[Handler], Handler]:
        return self._decorator("message", filters)

    def callback_query(self, *filters: Any) -> Callable[[Handler], Handler]:
        return self._decorator("callback_query", filters)

    def my_chat_member(self, *filters: Any) -> Callable[[Handler], Handler]:
        return self._decorator("my_chat_member", filters)

    def filter(self, observer: str, *filters: Any) -> None:
        """Filters applied to every handler of `observer` in this module."""
        self._filters.append((observer, _in_loop(filters)))

    def build(self) -> Router:
        router = Router(name=self.name)
        for observer, filters in self._filters:
            getattr(router, observer).filter(*filters)
        for observer, filters, handler in self._entries:
            getattr(router, observer).register(handler, *filters)
        for observer in router.observers.values():
            _refuse_threads(observer._handler.filters or [], self.name)
            for handler in observer.handlers:
                _refuse_threads([handler, *(handler.filters or [])], self.name)
        return router


def _in_loop(filters: tuple[Any, ...]) -> tuple[Any, ...]:
    """The filters, with each `State` as the equivalent `StateFilter` (see the module)."""
    return tuple(StateFilter(f) if isinstance(f, State) else f for f in filters)


def _refuse_threads(parts: list[CallableObject], module: str) -> None:
    """A handler or filter that aiogram would call in a worker thread is a mistake here."""
    for part in parts:
        if not part.awaitable:
            raise TypeError(
                f"handlers.{module}: {part.callback!r} is not a coroutine, and aiogram would "
                "run it in a thread on every update; write it as an async Filter"
            )
