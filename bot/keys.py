"""Key material as text: the 32-byte keys of the configuration, written as base64 or hex.

Apart from bot.pii, which encrypts with them, so that `unionbot keys generate` needs no
cryptography library.
"""

from __future__ import annotations

import base64
import binascii
import secrets

__all__ = ["KEY_BYTES", "KeyFormatError", "generate_key", "parse_key"]

KEY_BYTES = 32


class KeyFormatError(ValueError):
    """Key material in the configuration is not 32 bytes of base64 or hex."""


def generate_key() -> str:
    """A new random key, urlsafe base64 without padding (what the CLI prints for the
    configuration). Without the "=" it is also a valid webhook secret token, which
    Telegram limits to A-Z a-z 0-9 _ -; parse_key accepts it either way."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii").rstrip("=")


def _decode_hex(text: str) -> bytes | None:
    if len(text) != 2 * KEY_BYTES:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _decode_base64(text: str) -> bytes | None:
    # Accept both alphabets and missing padding: keys get pasted from many tools.
    text = text.replace("+", "-").replace("/", "_")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_key(text: str) -> bytes:
    """Decode a 32-byte key given as urlsafe base64 or hex."""
    text = text.strip()
    # 64 hex characters are also valid base64 (of 48 bytes), so hex is tried first.
    key = _decode_hex(text) or _decode_base64(text)
    if key is None or len(key) != KEY_BYTES:
        # Never echo the text: it may be a (mistyped) secret.
        raise KeyFormatError(
            f"a key must be {KEY_BYTES} bytes, written as urlsafe base64 "
            f"(43-44 characters) or hex ({2 * KEY_BYTES} characters)"
        )
    return key
