"""Handlers' filters run in the event loop: aiogram sends a filter or handler that is not a
coroutine through asyncio.to_thread on every check (handlers/registry.py)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.state import State, StatesGroup

import handlers
from handlers.registry import Handlers


class Steps(StatesGroup):
    one = State()
    two = State()


def _filters(router: Router) -> list:
    return [f for handler in router.message.handlers for f in handler.filters or []]


def test_a_state_becomes_the_same_check_in_the_loop() -> None:
    declared = Handlers("example")

    @declared.message(Steps.one)
    async def step(message: object) -> None: ...

    (check,) = _filters(declared.build())
    assert check.awaitable
    assert isinstance(check.callback, StateFilter) and check.callback.states == (Steps.one,)


async def test_the_state_filter_still_tells_states_apart() -> None:
    declared = Handlers("example")

    @declared.message(Steps.two)
    async def step(message: object) -> None: ...

    (check,) = _filters(declared.build())
    assert await check.call(object(), raw_state=Steps.two.state) is True
    assert await check.call(object(), raw_state=Steps.one.state) is False
    assert await check.call(object(), raw_state=None) is False


@pytest.mark.parametrize(
    "sync_filter", [F.text, lambda message: True], ids=["magic filter", "plain function"]
)
def test_a_filter_that_would_run_in_a_thread_is_refused(sync_filter: object) -> None:
    declared = Handlers("example")

    @declared.message(sync_filter)
    async def step(message: object) -> None: ...

    with pytest.raises(TypeError, match=r"handlers\.example: .* thread"):
        declared.build()


def test_a_module_wide_sync_filter_and_a_sync_handler_are_refused() -> None:
    module_wide = Handlers("wide")
    module_wide.filter("message", F.chat.type == "private")
    with pytest.raises(TypeError, match=r"handlers\.wide"):
        module_wide.build()

    sync_handler = Handlers("sync")
    sync_handler.message()(lambda message: None)
    with pytest.raises(TypeError, match=r"handlers\.sync"):
        sync_handler.build()


def test_every_handler_module_builds_with_nothing_in_a_thread() -> None:
    built = 0
    for module in pkgutil.iter_modules(handlers.__path__):
        declared = getattr(importlib.import_module(f"handlers.{module.name}"), "router", None)
        if isinstance(declared, Handlers):
            router = declared.build()  # raises on a filter aiogram would run in a thread
            built += 1
            assert all(
                f.awaitable
                for observer in router.observers.values()
                for handler in observer.handlers
                for f in [handler, *(handler.filters or [])]
            )
    assert built >= 10
