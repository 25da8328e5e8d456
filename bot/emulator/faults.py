"""Fault injection: scripted API errors and dropped connections, plus optional flood control."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, default_description, too_many_requests

# Methods that post or change a message count against Telegram's flood limits.
FLOOD_METHODS = frozenset(
    {"sendmessage", "sendphoto", "senddocument", "editmessagetext", "editmessagecaption",
     "editmessagereplymarkup"}
)  # fmt: skip


@dataclass
class InjectedError:
    method: str  # lower-case, or "*"
    status: int
    retry_after: int
    remaining: int
    chat_id: int | None
    description: str | None

    def error(self) -> ApiError:
        description = self.description or default_description(self.status, self.retry_after)
        parameters = {"retry_after": self.retry_after} if self.status == 429 else None
        return ApiError(self.status, description, parameters)


@dataclass
class NetworkFailure:
    method: str
    remaining: int
    after_processing: bool  # True: the call takes effect but its response is lost


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's documented limits: ~1 msg/s per chat, 20 msg/min per group, 30 msg/s total."""

    per_chat_per_second: int | None = 1
    per_group_per_minute: int | None = 20
    global_per_second: int | None = 30


def _matches(pattern: str, method: str) -> bool:
    return pattern in ("*", method)


def chat_key(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Faults:
    def __init__(self) -> None:
        self.errors: list[InjectedError] = []
        self.network: list[NetworkFailure] = []
        self.flood: FloodLimits | None = None
        self.counted: list[tuple[float, int | None]] = []  # (arrival, chat): the last minute

    def take_error(self, method: str, chat_id: Any) -> ApiError | None:
        for injected in self.errors:
            if not _matches(injected.method, method):
                continue
            if injected.chat_id is not None and injected.chat_id != chat_key(chat_id):
                continue
            injected.remaining -= 1
            if injected.remaining <= 0:
                self.errors.remove(injected)
            return injected.error()
        return None

    def take_network_failure(self, method: str) -> NetworkFailure | None:
        for failure in self.network:
            if _matches(failure.method, method):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self.network.remove(failure)
                return failure
        return None

    def flood_error(self, method: str, chat_id: Any, now: float) -> ApiError | None:
        """429 with a real retry_after if this call would exceed the flood limits;
        otherwise the call is counted from its arrival (as Telegram counts it), also
        while it is still being processed, until `uncount` takes it back."""
        limits = self.flood
        if limits is None or method not in FLOOD_METHODS:
            return None
        chat = chat_key(chat_id)
        self.counted = [(at, c) for at, c in self.counted if now - at < 60.0]
        windows: list[tuple[list[float], int | None, float]] = [
            ([at for at, _ in self.counted], limits.global_per_second, 1.0),
            ([at for at, c in self.counted if c == chat], limits.per_chat_per_second, 1.0),
        ]
        if chat is not None and chat < 0:
            same_group = [at for at, c in self.counted if c == chat]
            windows.append((same_group, limits.per_group_per_minute, 60.0))
        wait = max((_wait(times, limit, span, now) for times, limit, span in windows), default=0)
        if wait > 0:
            return too_many_requests(max(1, math.ceil(wait)))
        self.counted.append((now, chat))
        return None

    def uncount(self, method: str, chat_id: Any, at: float) -> None:
        """A counted call that failed: it sent nothing."""
        if self.flood is not None and method in FLOOD_METHODS:
            entry = (at, chat_key(chat_id))
            if entry in self.counted:
                self.counted.remove(entry)


def _wait(times: list[float], limit: int | None, span: float, now: float) -> float:
    if limit is None:
        return 0.0
    recent = [t for t in times if now - t < span]
    if len(recent) < limit:
        return 0.0
    return recent[-limit] + span - now
