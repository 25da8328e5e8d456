"""A readable, ordered record of everything said and done in the emulated chats."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TranscriptEvent:
    at: float  # wall clock
    chat: str  # chat title, or "<user name> (private)"
    who: str
    action: str  # "", "edited #5", "pressed", "deleted #5", "answered", ...
    body: str
    buttons: tuple[tuple[str, ...], ...] = ()
    keyboard: tuple[tuple[str, ...], ...] = ()


@dataclass
class Transcript:
    events: list[TranscriptEvent] = field(default_factory=list)

    def add(
        self,
        chat: str,
        who: str,
        body: str,
        *,
        action: str = "",
        buttons: tuple[tuple[str, ...], ...] = (),
        keyboard: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        self.events.append(TranscriptEvent(time.time(), chat, who, action, body, buttons, keyboard))

    def text(self) -> str:
        return "\n".join(render_event(e) for e in self.events) + ("\n" if self.events else "")


def render_event(event: TranscriptEvent) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
    head = f"{stamp}  [{event.chat}] {event.who}"
    if event.action:
        head += f" {event.action}"
    lines = event.body.split("\n") if event.body else [""]
    out = [f"{head}: {lines[0]}" if lines[0] else head]
    indent = " " * 10
    out += [indent + line for line in lines[1:]]
    out += [indent + " ".join(f"[{b}]" for b in row) for row in event.buttons]
    if event.keyboard:
        rows = " / ".join(" ".join(f"[{b}]" for b in row) for row in event.keyboard)
        out.append(f"{indent}keyboard: {rows}")
    return "\n".join(out)


def describe(message: dict[str, Any]) -> str:
    """A message's content as one readable string (media shown in brackets)."""
    parts: list[str] = []
    if "photo" in message:
        largest = message["photo"][-1]
        parts.append(f"[photo {largest['width']}×{largest['height']}]")
    if "document" in message:
        doc = message["document"]
        parts.append(f"[document {doc.get('file_name', '?')}, {_size(doc.get('file_size', 0))}]")
    if "sticker" in message:
        parts.append(f"[sticker {message['sticker'].get('emoji', '')}]".replace(" ]", "]"))
    if "voice" in message:
        parts.append(f"[voice {message['voice']['duration']}s]")
    if "contact" in message:
        contact = message["contact"]
        parts.append(f"[contact {contact['first_name']} {contact['phone_number']}]")
    if "new_chat_members" in message:
        names = ", ".join(m["first_name"] for m in message["new_chat_members"])
        parts.append(f"[added {names}]")
    text = message.get("text", message.get("caption"))
    if text:
        parts.append(text)
    if "reply_to_message" in message:
        parts.insert(0, f"(reply to #{message['reply_to_message']['message_id']})")
    return " ".join(parts) if len(parts) < 2 or "\n" not in parts[-1] else "\n".join(parts)


def button_rows(markup: dict[str, Any] | None, key: str) -> tuple[tuple[str, ...], ...]:
    if not markup or key not in markup:
        return ()
    return tuple(
        tuple(b["text"] if isinstance(b, dict) else str(b) for b in row) for row in markup[key]
    )


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB"
