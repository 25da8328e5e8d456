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


@dataclass(eq=False)
class _Pending:
    update: dict[str, Any]
    redelivered: bool = False
    delivered: bool = False
    in_flight: bool = False  # a webhook request carries it now
    not_before: float = 0.0  # a failed webhook delivery is retried after this

    @property
    def id(self) -> int:
        return int(self.update["update_id"])

    @property
    def chat(self) -> int | None:
        return update_chat(self.update)


def update_chat(update: dict[str, Any]) -> int | None:
    """The chat an update belongs to (Telegram sends one chat's updates one at a time)."""
    for kind, event in update.items():
        if kind == "update_id" or not isinstance(event, dict):
            continue
        chat = event.get("chat") or (event.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return int(chat["id"])
        sender = event.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return int(sender["id"])
    return None


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

    def next_for_webhook(self, now: float) -> _Pending | None:
        """The oldest update whose chat has nothing earlier still on its way (delivery is
        sequential per chat, concurrent across chats); None if nothing may go now."""
        blocked: set[int | None] = set()
        for pending in self._pending:
            chat = pending.chat
            if chat in blocked:
                continue
            if pending.in_flight or pending.not_before > now:
                blocked.add(chat)  # later updates of this chat wait for this one
                continue
            return pending
        return None

    def next_retry(self, now: float) -> float | None:
        waits = [p.not_before - now for p in self._pending
                 if not p.in_flight and p.not_before > now]  # fmt: skip
        return min(waits) if waits else None

    def ack(self, pending: _Pending) -> None:
        """A webhook accepted this update."""
        if pending in self._pending:
            self._pending.remove(pending)

    def clear(self) -> None:
        self._pending.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(p.update) for p in self._pending]
