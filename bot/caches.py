"""Per-person caches in a process: bounded, and a person not seen for a day is forgotten,
so that people who never come back cost nothing (100,000 of them held 2.3 KiB each)."""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import Any

from cachetools import TTLCache

PEOPLE = 10_000  # people kept at most: far more than are ever in a form at once
FORGET_AFTER = 24 * 3600.0  # seconds since a person's entry was last written


def per_person_cache(
    size: int = PEOPLE, ttl: float = FORGET_AFTER, timer: Callable[[], float] = time.monotonic
) -> MutableMapping[Any, Any]:
    """An entry lives until `ttl` after it was written or until `size` newer ones push it
    out (least recently used first); a miss is read again from the database."""
    return TTLCache(maxsize=size, ttl=ttl, timer=timer)
