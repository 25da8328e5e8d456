"""Formatted text the way the Bot API returns it: tags parsed, text cleaned and trimmed,
entities merged, split, sorted and auto-detected (commands, mentions, links, e-mails).

Offsets and lengths are UTF-16 code units, as in every Telegram MessageEntity.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .html import HtmlError, checked_link, parse_html

ResolveUser = Callable[[int], dict[str, Any] | None]

SPLITTABLE = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})
BLOCKQUOTES = frozenset({"blockquote", "expandable_blockquote"})
# TDLib's MessageEntity::get_type_priority: ties on (offset, length) are ordered by it.
_PRIORITY = {
    "mention": 50, "hashtag": 50, "bot_command": 50, "url": 50, "email": 50,
    "cashtag": 50, "phone_number": 50, "bold": 90, "italic": 91, "code": 20,
    "pre": 11, "text_link": 49, "text_mention": 49, "underline": 92,
    "strikethrough": 93, "blockquote": 0, "expandable_blockquote": 0,
    "spoiler": 94, "custom_emoji": 99,
}  # fmt: skip
_ENTITY_FIELDS = ("url", "user", "language", "custom_emoji_id")
# Characters Telegram deletes outright: line/paragraph separators, bidi embeddings and a
# few combining marks that are abused to draw lines across messages.
_DELETED = frozenset("\r\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u0333\u033f\u030a")


@dataclass
class Formatted:
    text: str
    entities: list[dict[str, Any]]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def format_text(
    text: str | None,
    parse_mode: str | None,
    explicit: Any = None,
    *,
    resolve_user: ResolveUser,
) -> Formatted:
    """Parse text like sendMessage does. Emptiness and length are the caller's business."""
    text = text or ""
    if explicit is not None:
        entities = _validate_explicit(text, explicit)
    else:
        text, entities = _parse(text, parse_mode)
    entities = _resolve_mentions(entities, resolve_user)
    text, entities = _clean(text, entities)
    text, entities = _trim(text, entities)
    entities = _fix(entities)
    entities = _merge_detected(entities, find_entities(text))
    return Formatted(text, entities)


def plain(text: str) -> Formatted:
    """What a user's client produces for typed text (detected entities only)."""
    return format_text(text, None, resolve_user=lambda _: None)


def _parse(text: str, parse_mode: str | None) -> tuple[str, list[dict]]:
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        try:
            return parse_html(text)
        except HtmlError as exc:
            raise bad_request(f"can't parse entities: {exc}") from exc
    if mode in ("markdown", "markdownv2"):
        raise bad_request("unsupported parse_mode (this emulator implements HTML only)")
    raise bad_request("unsupported parse_mode")


def _validate_explicit(text: str, raw: Any) -> list[dict]:
    if not isinstance(raw, list):
        raise bad_request("can't parse entities JSON object")
    total = utf16_len(text)
    result = []
    for item in raw:
        if not isinstance(item, dict) or item.get("type") not in _PRIORITY:
            raise bad_request("can't parse MessageEntity: unsupported entity type")
        offset, length = item.get("offset"), item.get("length")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0:
            raise bad_request("can't parse MessageEntity: wrong offset or length")
        if offset + length > total:
            raise bad_request(
                f"can't parse entities: Entity beginning at UTF-16 offset {offset} ends after "
                f"the end of the text at UTF-16 offset {offset + length}"
            )
        entity = {"type": item["type"], "offset": offset, "length": length}
        entity.update({k: item[k] for k in _ENTITY_FIELDS if item.get(k) is not None})
        if entity["type"] == "text_link":
            url = checked_link(str(entity.get("url", "")))
            if url is None:
                continue
            entity["url"] = url
        result.append(entity)
    return result


def _resolve_mentions(entities: list[dict], resolve_user: ResolveUser) -> list[dict]:
    """<a href="tg://user?id=N"> becomes text_mention with the User, if the bot knows N."""
    result = []
    for entity in entities:
        if entity["type"] == "text_mention" and "user" not in entity:
            user = resolve_user(int(entity.pop("user_id", 0)))
            if user is None:
                continue
            entity["user"] = user
        result.append(entity)
    return result


def _clean(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Control characters become spaces and a few characters vanish, shifting entities."""
    out: list[str] = []
    boundaries = {0: 0}
    old = new = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        old += width
        if ch in _DELETED:
            boundaries[old] = new
            continue
        out.append(" " if ord(ch) < 32 and ch != "\n" else ch)
        new += width
        boundaries[old] = new
    moved = []
    for entity in entities:
        start = boundaries.get(entity["offset"])
        end = boundaries.get(entity["offset"] + entity["length"])
        if start is None or end is None:
            raise bad_request("can't parse entities: Entity begins in a middle of a UTF-16 symbol")
        moved.append({**entity, "offset": start, "length": end - start})
    return "".join(out), [e for e in moved if e["length"] > 0]


def _trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Trailing spaces/newlines always go; leading ones only up to the first entity."""
    stripped = text.rstrip(" \n")
    if not stripped:
        return "", []
    end = utf16_len(stripped)
    kept = []
    for entity in entities:
        if entity["offset"] >= end:
            continue
        kept.append({**entity, "length": min(entity["length"], end - entity["offset"])})
    first = min((e["offset"] for e in kept), default=end)
    lead = 0
    while lead < first and stripped[lead] in " \n":  # ASCII: UTF-16 units == characters
        lead += 1
    shifted = [{**e, "offset": e["offset"] - lead} for e in kept]
    return stripped[lead:], shifted


def sort_entities(entities: list[dict]) -> list[dict]:
    """TDLib order (offset, longer first, type priority), keys in Bot API order."""
    ordered = sorted(entities, key=lambda e: (e["offset"], -e["length"], _PRIORITY[e["type"]]))
    return [
        {
            "offset": e["offset"],
            "length": e["length"],
            "type": e["type"],
            **{k: e[k] for k in _ENTITY_FIELDS if k in e},
        }
        for e in ordered
    ]


def _fix(entities: list[dict]) -> list[dict]:
    """Merge touching entities of one splittable type, then cut them at the borders of the
    other entities (TDLib's split_entities), and drop formatting nested in <pre>."""
    others = [e for e in entities if e["type"] not in SPLITTABLE]
    cuts = sorted({p for e in others for p in (e["offset"], e["offset"] + e["length"])})
    pres = [(e["offset"], e["offset"] + e["length"]) for e in others if e["type"] == "pre"]
    pieces: list[dict] = []
    for kind in SPLITTABLE:
        for start, end in _union(e for e in entities if e["type"] == kind):
            points = [start] + [p for p in cuts if start < p < end] + [end]
            for a, b in itertools.pairwise(points):
                if not any(lo <= a and b <= hi for lo, hi in pres):
                    pieces.append({"type": kind, "offset": a, "length": b - a})
    return sort_entities(others + pieces)


def _union(entities: Any) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for e in sorted(entities, key=lambda e: e["offset"]):
        start, end = e["offset"], e["offset"] + e["length"]
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _merge_detected(entities: list[dict], detected: list[dict]) -> list[dict]:
    """Detected links/commands never cut through code, links or quotes the sender made."""
    blockers = [
        (e["offset"], e["offset"] + e["length"], e["type"] in BLOCKQUOTES)
        for e in entities
        if e["type"] not in SPLITTABLE
    ]

    def blocked(entity: dict) -> bool:
        a, b = entity["offset"], entity["offset"] + entity["length"]
        for lo, hi, is_quote in blockers:
            if is_quote:
                if a < hi and lo < b and not (lo <= a and b <= hi):
                    return True
            elif a < hi and lo < b:
                return True
        return False

    merged = entities + [e for e in detected if not blocked(e)]
    return _fix(merged) if detected else merged


# --- auto-detection (simplified versions of TDLib's matchers) -----------------------------

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"@([A-Za-z0-9_]{2,32})")
_HASHTAG = re.compile(r"#([\w\u200c\u00b7]{1,256})")
_CASHTAG = re.compile(r"\$(1INCH|[A-Z]{1,8})")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_TLDS = (
    "com|net|org|cn|ru|io|me|info|gov|edu|app|dev|xyz|top|tech|site|online|co|uk|de|jp|"
    "hk|tw|fr|it|nl|eu|us|biz|mobi|pro|cc|tv|ai|in|kr|sg"
)
_URL = re.compile(
    r"(?:(?:https?|ftp)://[^\s<>\"]+"
    r"|www\.[^\s<>\"]+"
    rf"|(?:[A-Za-z0-9-]+\.)+(?:{_TLDS})\b(?::\d{{1,5}})?(?:/[^\s<>\"]*)?)",
    re.IGNORECASE,
)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def find_entities(text: str) -> list[dict]:
    """bot_command, mention, hashtag, cashtag, email and url entities found in plain text."""
    found: list[tuple[int, int, str]] = []
    found += _scan(text, _COMMAND, "bot_command", lambda c: _is_word(c) or c in "/<>")
    found += _scan(text, _MENTION, "mention", _is_word)
    found += _scan(text, _HASHTAG, "hashtag", lambda c: _is_word(c) or c == "#")
    found += _scan(text, _CASHTAG, "cashtag", lambda c: _is_word(c) or c == "$")
    found += _scan(text, _EMAIL, "email", lambda c: _is_word(c) or c in ".@")
    found += [(s, e, "url") for s, e in _urls(text)]
    found.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    kept: list[tuple[int, int, str]] = []
    for start, end, kind in found:
        if kept and start < kept[-1][1]:
            continue  # overlaps an earlier/longer match, as TDLib's remove_intersecting
        if kind == "hashtag" and not any(ch.isalpha() for ch in text[start + 1 : end]):
            continue
        kept.append((start, end, kind))
    return _to_utf16(text, kept)


def _scan(
    text: str, pattern: re.Pattern[str], kind: str, glued: Callable[[str], bool]
) -> list[tuple[int, int, str]]:
    """Matches that are not glued to the text around them."""
    result = []
    for m in pattern.finditer(text):
        start, end = m.span()
        if start > 0 and glued(text[start - 1]):
            continue
        if end < len(text) and glued(text[end]):
            continue
        result.append((start, end, kind))
    return result


def _urls(text: str) -> list[tuple[int, int]]:
    result = []
    for m in _URL.finditer(text):
        start, end = m.span()
        if start > 0 and (_is_word(text[start - 1]) or text[start - 1] in "@.-/"):
            continue
        while end > start and text[end - 1] in ".,:;!?'\")]}":
            end -= 1
        if end > start:
            result.append((start, end))
    return result


def _to_utf16(text: str, spans: list[tuple[int, int, str]]) -> list[dict]:
    if not spans:
        return []
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + (2 if ord(ch) > 0xFFFF else 1))
    return [
        {"type": kind, "offset": prefix[start], "length": prefix[end] - prefix[start]}
        for start, end, kind in spans
    ]
