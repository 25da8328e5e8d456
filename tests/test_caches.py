"""Per-person caches stay bounded, forget people after a day, and never serve a choice
another process changed."""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import StorageKey

from bot.caches import FORGET_AFTER, per_person_cache
from bot.db import Database
from bot.fsm_storage import DatabaseStorage
from bot.inbox import KeyedLocks
from bot.services.preferences import PreferenceService
from tests.conftest import World
from tests.engines import Store


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_person_not_seen_for_a_day_is_forgotten_and_the_cache_is_bounded() -> None:
    clock = Clock()
    cache = per_person_cache(size=100, timer=clock)
    for user_id in range(1000):
        cache[user_id] = "zh"
    assert len(cache) == 100  # the newest hundred
    assert 999 in cache and 0 not in cache
    clock.now += FORGET_AFTER + 1
    assert 999 not in cache
    cache.expire()
    assert len(cache) == 0  # people who never came back cost nothing


async def test_form_states_pushed_out_of_the_cache_are_read_back(world: World) -> None:
    storage = DatabaseStorage(world.db, world.cipher, cache=True, cached_people=per_person_cache(2))
    keys = [StorageKey(bot_id=1, chat_id=u, user_id=u) for u in (11, 12, 13)]
    for n, key in enumerate(keys):
        await storage.set_state(key, f"Form:step{n}")
        await storage.set_data(key, {"name": f"职工{n}"})
    assert len(storage._cache or {}) == 2
    for n, key in enumerate(keys):  # the first was pushed out: read from the database
        assert await storage.get_state(key) == f"Form:step{n}"
        assert await storage.get_data(key) == {"name": f"职工{n}"}


async def test_a_language_chosen_in_one_process_is_what_the_others_use(
    world: World, store: Store
) -> None:
    clock = Clock()
    here = PreferenceService(world.db, cache=per_person_cache(timer=clock))
    other_db = Database(store.url)
    try:
        other = PreferenceService(other_db, cache=per_person_cache(timer=clock))
        assert await other.locale_of(7) is None
        await here.set_locale(7, "en")
        if world.db.is_sqlite:
            # One bot process on SQLite: a copy is kept, and dropped after a day.
            assert await other.locale_of(7) is None
            clock.now += FORGET_AFTER + 1
        assert await other.locale_of(7) == "en"  # PostgreSQL: at once, nothing is kept
    finally:
        await other_db.dispose()


async def test_per_conversation_order_locks_are_dropped_once_released() -> None:
    """The update processor's per-(chat, user) locks: kept only while held or awaited."""
    locks = KeyedLocks()
    entered = asyncio.Event()

    async def hold(key: tuple[int, int]) -> None:
        async with locks.hold(key):
            entered.set()
            await asyncio.sleep(0)

    await asyncio.gather(*(hold((user, user)) for user in range(1000)), hold((1, 1)))
    assert entered.is_set() and len(locks) == 0
