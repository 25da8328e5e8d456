"""Protection of personal data: resident id numbers and mobile numbers.

* :class:`PiiCipher` encrypts values at rest (AES-256-GCM) under rotating keys.
* :class:`LookupHasher` gives a keyed hash for duplicate detection without plaintext.
* ``mask_*`` helpers produce what staff may see.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.keys import KEY_BYTES, KeyFormatError, generate_key, parse_key

__all__ = [
    "KEY_BYTES",
    "KeyFormatError",
    "LookupHasher",
    "PiiCipher",
    "PiiError",
    "PiiKeyError",
    "generate_key",
    "mask_mobile",
    "mask_name",
    "mask_resident_id",
    "parse_key",
]

_VERSION = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16
_MAX_KEY_ID_BYTES = 255  # the key id's length is stored in one byte


class PiiError(Exception):
    """Base class for personal-data protection errors."""


class PiiKeyError(PiiError):
    """A blob cannot be decrypted: unknown key id, wrong context, tampering or garbage."""


def _check_key(key_id: str, key: bytes) -> None:
    encoded = key_id.encode("utf-8")
    if not encoded or len(encoded) > _MAX_KEY_ID_BYTES:
        raise ValueError(f"key id must be 1-{_MAX_KEY_ID_BYTES} bytes of UTF-8")
    if len(key) != KEY_BYTES:
        raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes")


def _check_context(context: str) -> bytes:
    if not context:
        raise ValueError("context must not be empty")
    return context.encode("utf-8")


# --------------------------------------------------------------------------- cipher


class PiiCipher:
    """AES-GCM encryption of personal data with key rotation.

    Blob layout: ``version (1) | len(key_id) (1) | key_id | nonce (12) | ciphertext+tag``.
    The header and the ``context`` are authenticated, so a blob encrypted as a mobile
    number cannot be passed off as a resident id, and a rewritten key id is detected.
    """

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        for key_id, key in keys.items():
            _check_key(key_id, key)
        if current_key_id not in keys:
            raise ValueError(f"current key id {current_key_id!r} is not among the keys")
        self._keys = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self._raw_keys = dict(keys)
        self._current = current_key_id

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id this cipher can decrypt, the current one included."""
        return tuple(self._keys)

    def only(self, key_id: str) -> PiiCipher:
        """A cipher that knows one of these keys and encrypts with it."""
        return PiiCipher({key_id: self._raw_keys[key_id]}, current_key_id=key_id)

    def with_key(self, key_id: str, key: bytes) -> PiiCipher:
        """A cipher that also knows ``key`` and encrypts with it (rotation)."""
        return PiiCipher({**self._raw_keys, key_id: key}, current_key_id=key_id)

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """Encrypt under the current key with a fresh random nonce."""
        ad = _check_context(context)
        key_id = self._current.encode("utf-8")
        header = bytes([_VERSION, len(key_id)]) + key_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode("utf-8"), header + ad)
        return header + nonce + sealed

    def decrypt(self, blob: bytes, *, context: str) -> str:
        """Decrypt a blob made by :meth:`encrypt` with any key this cipher knows."""
        ad = _check_context(context)
        key_id, header, body = _split(blob)
        aead = self._keys.get(key_id)
        if aead is None:
            raise PiiKeyError(f"unknown key id {key_id!r}")
        try:
            plaintext = aead.decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], header + ad)
        except InvalidTag:
            raise PiiKeyError("authentication failed: wrong key or context, or tampering") from None
        return plaintext.decode("utf-8")

    def key_id_of(self, blob: bytes) -> str:
        """The id of the key a blob was encrypted with."""
        return _split(blob)[0]

    def needs_rotation(self, blob: bytes) -> bool:
        return self.key_id_of(blob) != self._current

    def reencrypt(self, blob: bytes, *, context: str) -> bytes:
        """Decrypt with the blob's key and encrypt again under the current key."""
        return self.encrypt(self.decrypt(blob, context=context), context=context)


def _split(blob: bytes) -> tuple[str, bytes, bytes]:
    """Parse a blob into (key id, header, nonce + ciphertext + tag)."""
    blob = bytes(blob)
    if len(blob) < 2 or blob[0] != _VERSION:
        raise PiiKeyError("not a PII blob of a known version")
    end = 2 + blob[1]
    if len(blob) < end + _NONCE_BYTES + _TAG_BYTES:
        raise PiiKeyError("truncated PII blob")
    try:
        key_id = blob[2:end].decode("utf-8")
    except UnicodeDecodeError:
        raise PiiKeyError("corrupt key id in PII blob") from None
    return key_id, blob[:end], blob[end:]


# --------------------------------------------------------------------------- lookup hash


class LookupHasher:
    """Keyed hash (HMAC-SHA256) for finding duplicates without storing the value.

    Use a key separate from the encryption keys; pass normalised values
    (``ResidentId.number``, E.164 mobiles), or equal values will hash differently.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"lookup key must be at least {KEY_BYTES} bytes")
        self._key = bytes(key)

    def digest(self, value: str, *, context: str) -> str:
        """Hex HMAC of ``value``, domain-separated by ``context``."""
        ad = _check_context(context)
        # Length-prefixing the context keeps ("ab", "c") and ("a", "bc") apart.
        message = len(ad).to_bytes(2, "big") + ad + value.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- masks

_NON_DIGITS = re.compile(r"\D")
_NAME_SEPARATORS = frozenset(" ·-'.")


def mask_resident_id(number: str) -> str:
    """``11010519491231002X`` → ``110105********002X`` (first 6 and last 4 kept)."""
    number = re.sub(r"[\s\-]", "", number).upper()
    if len(number) < 12:  # too short to reveal anything safely
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_mobile(number: str) -> str:
    """``+8613812345678`` or ``13812345678`` → ``138****5678``."""
    digits = _NON_DIGITS.sub("", number)
    foreign = number.strip().startswith("+") and not digits.startswith("86")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11 and not foreign:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) < 8:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``: the first character stays, separators keep their place."""
    if len(name) < 2:
        return "*" * len(name)
    return name[0] + "".join(ch if ch in _NAME_SEPARATORS else "*" for ch in name[1:])


# An id number (17 digits and a check character, spaces allowed after the region and the
# birth date) or a mainland mobile (+86 optional, spaces or dashes between the groups).
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{6} ?[0-9]{8} ?[0-9]{3}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[ \-]?)?1[3-9][0-9](?:[ \-]?[0-9]{4}){2}(?![0-9])")

_LONG_NUMBER = re.compile(r"[0-9]{11,}")


def mask_numbers(text: str) -> str:
    """Mask every resident id number and mobile number in free text, as staff see them
    (``110105********002X``, ``138****5678``): for transcripts and for names that a worker
    typed before the form refused numbers."""
    text = _ID_IN_TEXT.sub(lambda found: mask_resident_id(found.group()), text)
    text = _MOBILE_IN_TEXT.sub(lambda found: mask_mobile(found.group()), text)
    # Whatever else is a long run of digits (an old 15-digit id, numbers run together).
    return _LONG_NUMBER.sub(lambda found: "*" * (len(found.group()) - 4) + found.group()[-4:], text)
