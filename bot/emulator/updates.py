"""A bot's queue of updates, with Telegram's offset/confirmation and re-delivery rules."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .pulse import Pulse

ALL_UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post",
    "business_connection", "business_message", "edited_business_message",
    "deleted_business_messages", "message_reaction", "message_reaction_count",
    "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
    "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
    "my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
)  # fmt: skip
# Telegram's default when allowed_updates was never set (or set to []).
_OPT_IN = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
DEFAULT_UPDATE_TYPES = tuple(t for t in ALL_UPDATE_TYPES if t not in _OPT_IN)


@dataclass
class _Pending:
    update: dict[str, Any]
    redelivered: bool = False
    delivered: bool = False

    @property
    def id(self) -> int:
        return int(self.update["update_id"])


class UpdateQueue:
    def __init__(self, first_update_id: int = 1) -> None:
        self._next_id = first_update_id
        self._pending: list[_Pending] = []
        self.history: dict[int, dict[str, Any]] = {}
        self.allowed: list[str] = list(DEFAULT_UPDATE_TYPES)
        self.changed = Pulse()

    def __len__(self) -> int:
        return len(self._pending)

    def set_allowed(self, allowed: list[str] | None) -> None:
        """None keeps the previous setting and [] means the default, as in Telegram."""
        if allowed is not None:
            self.allowed = [t for t in allowed if t in ALL_UPDATE_TYPES] or list(
                DEFAULT_UPDATE_TYPES
            )

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update; None if allowed_updates filters it out (it is then lost)."""
        if kind not in self.allowed:
            return None
        update = {"update_id": self._next_id, kind: copy.deepcopy(payload)}
        self._next_id += 1
        self.history[update["update_id"]] = update
        self._pending.append(_Pending(update))
        self.changed.fire()
        return update

    def redeliver(self, update_id: int) -> dict[str, Any]:
        """Queue the same update (same update_id) again, as after a lost confirmation."""
        update = self.history[update_id]
        self._pending.append(_Pending(copy.deepcopy(update), redelivered=True))
        self.changed.fire()
        return update

    def confirm(self, offset: int | None) -> None:
        """getUpdates' offset confirms every update with a smaller id."""
        if offset is None or offset == 0:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
            return
        self._pending = [
            p for p in self._pending if p.id >= offset or (p.redelivered and not p.delivered)
        ]

    def take(self, limit: int) -> list[dict[str, Any]]:
        """The next updates to hand out; they stay queued until confirmed."""
        batch = self._pending[:limit]
        for pending in batch:
            pending.delivered = True
        return [copy.deepcopy(p.update) for p in batch]

    def first(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._pending[0].update) if self._pending else None

    def ack_first(self) -> None:
        """A webhook accepted the first update."""
        if self._pending:
            self._pending.pop(0)

    def clear(self) -> None:
        self._pending.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(p.update) for p in self._pending]
