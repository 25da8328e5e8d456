"""parse_mode=HTML, ported from TDLib's parse_html (td/telegram/MessageEntity.cpp).

The Bot API server runs this exact algorithm, so its quirks are Telegram's quirks: offsets in
error messages are UTF-8 byte offsets, a bare `&` that starts no known entity stays literal,
`<` must always start a supported tag, and entity offsets are counted in UTF-16 code units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# tdlib's is_space(): the NUL terminator counts as a space, which ends every scan loop.
_SPACES = frozenset(b" \t\r\n\0\v\f")
_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_SIMPLE = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "u": "underline", "ins": "underline", "tg-spoiler": "spoiler",
}  # fmt: skip
_NAMED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}


class HtmlError(ValueError):
    """The text is not valid Telegram HTML; the message is Telegram's own wording."""


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_offset: int
    result_pos: int  # where the tag's content starts in the output buffer


@dataclass
class _Parser:
    data: bytes  # UTF-8 with a trailing NUL, like TDLib's CSlice
    out: bytearray = field(default_factory=bytearray)
    utf16: int = 0
    entities: list[dict] = field(default_factory=list)
    stack: list[_Open] = field(default_factory=list)


def parse_html(text: str) -> tuple[str, list[dict]]:
    """Return (plain text, entities) or raise HtmlError with Telegram's message."""
    p = _Parser(text.encode("utf-8", "surrogatepass") + b"\0")
    end = len(p.data) - 1
    i = 0
    while i < end:
        c = p.data[i]
        if c == ord("&"):
            code, after = _decode_entity(p.data, i)
            if code:
                _append_code_point(p, code)
                i = after
                continue
        if c != ord("<"):
            if not 0x80 <= c < 0xC0:  # first byte of a UTF-8 sequence
                p.utf16 += 2 if c >= 0xF0 else 1
            p.out.append(c)
            i += 1
            continue
        i = _close_tag(p, i) if p.data[i + 1] == ord("/") else _open_tag(p, i)
    if p.stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{p.stack[-1].tag}"')
    try:
        plain = p.out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HtmlError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        ) from exc
    for entity in p.entities:
        entity.pop("_code_language", None)
    return plain, p.entities


def _append_code_point(p: _Parser, code: int) -> None:
    p.utf16 += 2 if code > 0xFFFF else 1
    p.out += chr(code).encode("utf-8", "surrogatepass")


def _decode_entity(data: bytes, pos: int) -> tuple[int, int]:
    """&lt; &gt; &amp; &quot; &#NN; &#xHH; (the ';' is optional). Returns (0, pos) if none."""
    end = pos + 1
    code = 0
    if data[end] == ord("#"):
        end += 1
        if data[end] == ord("x"):
            end += 1
            while chr(data[end]) in "0123456789abcdefABCDEF":
                code = code * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while ord("0") <= data[end] <= ord("9"):
                code = code * 10 + data[end] - ord("0")
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(data[end]).isascii() and chr(data[end]).isalpha():
            end += 1
        named = _NAMED.get(data[pos + 1 : end])
        if named is None:
            return 0, pos
        code = ord(named)
    return code, end + 1 if data[end] == ord(";") else end


def _open_tag(p: _Parser, begin: int) -> int:
    data = p.data
    i = begin + 1
    while data[i] not in _SPACES and data[i] != ord(">"):
        i += 1
    if data[i] == 0:
        raise HtmlError(f"Unclosed start tag at byte offset {begin}")
    tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
    if tag not in _TAGS:
        raise HtmlError(f'Unsupported start tag "{tag}" at byte offset {begin}')
    argument = ""
    while data[i] != ord(">"):
        i, name, value = _attribute(data, i, tag, begin)
        if name is None:
            continue
        argument = _tag_argument(tag, name, value, argument)
    if tag == "span" and argument != "spoiler":
        raise HtmlError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    p.stack.append(_Open(tag, argument, p.utf16, len(p.out)))
    return i + 1


def _attribute(data: bytes, i: int, tag: str, begin: int) -> tuple[int, str | None, str]:
    """Parse one attribute starting at i; returns (next index, name or None, value)."""
    while data[i] != 0 and data[i] in _SPACES:
        i += 1
    if data[i] == ord(">"):
        return i, None, ""
    start = i
    while data[i] not in _SPACES and chr(data[i]) not in "=>/\"'":
        i += 1
    name = data[start:i].decode("utf-8", "replace")
    if not name:
        raise HtmlError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
    while data[i] != 0 and data[i] in _SPACES:
        i += 1
    if data[i] != ord("="):
        if data[i] == 0:
            raise HtmlError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        # A valueless attribute: only <blockquote expandable> gives it meaning.
        meaningful = tag == "blockquote" and name == "expandable"
        return i, name if meaningful else None, "1"
    i += 1
    while data[i] != 0 and data[i] in _SPACES:
        i += 1
    if data[i] == 0:
        raise HtmlError(f'Unclosed start tag "{tag}" at byte offset {begin}')
    if chr(data[i]) not in "'\"":
        start = i
        while chr(data[i]).isascii() and (chr(data[i]).isalnum() or chr(data[i]) in ".-"):
            i += 1
        value = data[start:i].decode("ascii").lower()
        if data[i] not in _SPACES and data[i] != ord(">"):
            raise HtmlError(f"Unexpected end of name token at byte offset {start}")
    else:
        quote = data[i]
        i += 1
        raw = bytearray()
        while data[i] != quote and data[i] != 0:
            if data[i] == ord("&"):
                code, after = _decode_entity(data, i)
                if code:
                    raw += chr(code).encode("utf-8", "surrogatepass")
                    i = after
                    continue
            raw.append(data[i])
            i += 1
        if data[i] == quote:
            i += 1
        value = raw.decode("utf-8", "replace")
    if data[i] == 0:
        raise HtmlError(f"Unclosed start tag at byte offset {begin}")
    return i, name, value


def _tag_argument(tag: str, name: str, value: str, current: str) -> str:
    if tag == "a" and name == "href":
        return value
    if tag == "code" and name == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and name == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag == "tg-emoji" and name == "emoji-id":
        return value
    if tag == "blockquote" and name == "expandable":
        return "1"
    return current


def _close_tag(p: _Parser, begin: int) -> int:
    data = p.data
    if not p.stack:
        raise HtmlError(f"Unexpected end tag at byte offset {begin}")
    i = begin + 2
    while data[i] not in _SPACES and data[i] != ord(">"):
        i += 1
    name = data[begin + 2 : i].decode("utf-8", "replace").lower()
    while data[i] in _SPACES and data[i] != 0:
        i += 1
    if data[i] != ord(">"):
        raise HtmlError(f"Unclosed end tag at byte offset {begin}")
    opened = p.stack[-1]
    if name and name != opened.tag:
        raise HtmlError(
            f'Unmatched end tag at byte offset {begin}, expected "</{opened.tag}>", '
            f'found "</{name}>"'
        )
    if p.utf16 > opened.utf16_offset:
        _add_entity(p, opened)
    p.stack.pop()
    return i + 1


def _add_entity(p: _Parser, opened: _Open) -> None:
    offset, length = opened.utf16_offset, p.utf16 - opened.utf16_offset
    span = {"offset": offset, "length": length}
    tag, argument = opened.tag, opened.argument
    last = p.entities[-1] if p.entities else None
    same_range = last is not None and (last["offset"], last["length"]) == (offset, length)
    if tag in _SIMPLE or tag == "span":
        p.entities.append({"type": _SIMPLE.get(tag, "spoiler"), **span})
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise HtmlError("Invalid custom emoji identifier specified")
        p.entities.append({"type": "custom_emoji", **span, "custom_emoji_id": argument})
    elif tag == "a":
        url = argument or p.out[opened.result_pos :].decode("utf-8", "replace")
        entity = link_entity(url)
        if entity is not None:
            p.entities.append({**entity, **span})
    elif tag == "pre":
        if same_range and last and last["type"] == "code" and last.get("_code_language"):
            last.update(type="pre", language=last.pop("_code_language"))
        else:
            p.entities.append({"type": "pre", **span})
    elif tag == "code":
        if same_range and last and last["type"] == "pre" and argument:
            last["language"] = argument
        else:
            entity = {"type": "code", **span}
            if argument:  # kept only until a surrounding <pre> closes, as in TDLib
                entity["_code_language"] = argument
            p.entities.append(entity)
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument else "blockquote"
        p.entities.append({"type": kind, **span})


def link_entity(url: str) -> dict | None:
    """text_link / text_mention for an href, or None when Telegram would drop the link."""
    if url.startswith("tg://user?id="):
        user_id = url[len("tg://user?id=") :]
        if user_id.isdigit():
            return {"type": "text_mention", "user_id": int(user_id)}
        return None
    checked = checked_link(url)
    return {"type": "text_link", "url": checked} if checked else None


def checked_link(url: str) -> str | None:
    """Telegram's URL normalisation: add http://, require a host, add '/' to a bare host."""
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    lowered = url.lower()
    if lowered.startswith(("tg:", "ton:")):
        return url
    if "://" not in url:
        url = "http://" + url
        lowered = url.lower()
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in ("http", "https", "ftp"):
        return None
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not host or host.startswith("."):
        return None
    if rest == host:
        url += "/"
    return url
