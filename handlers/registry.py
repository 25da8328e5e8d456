"""A declaration of a module's handlers, turned into a fresh aiogram Router on demand.

aiogram routers can belong to one dispatcher only; building them per dispatcher keeps
import side-effect free and lets tests and restarts create as many bots as they need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router

Handler = Callable[..., Any]


class Handlers:
    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: list[tuple[str, tuple[Any, ...], Handler]] = []
        self._filters: list[tuple[str, tuple[Any, ...]]] = []

    def _decorator(self, observer: str, filters: tuple[Any, ...]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._entries.append((observer, filters, handler))
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
        self._filters.append((observer, filters))

    def build(self) -> Router:
        router = Router(name=self.name)
        for observer, filters in self._filters:
            getattr(router, observer).filter(*filters)
        for observer, filters, handler in self._entries:
            getattr(router, observer).register(handler, *filters)
        return router
