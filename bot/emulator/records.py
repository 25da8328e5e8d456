"""Plain records the emulator keeps for tests: API calls, bot output, callback answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request. `at` is time.monotonic() when it arrived, for checking rate
    limits; `answered` when its answer was ready (after the work the method does)."""

    at: float
    wall: float
    token: str
    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    status: int  # HTTP status; 0 means the connection was dropped without a response
    description: str | None = None
    answered: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class BotEvent:
    """Something the bot did to a message: kind is 'sent', 'edited' or 'deleted'."""

    index: int
    kind: str
    chat_id: int
    message: dict[str, Any]


@dataclass
class CallbackRecord:
    """A button press and, once the bot answers it, the answer."""

    id: str
    bot_id: int
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None
