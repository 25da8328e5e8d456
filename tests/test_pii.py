"""Tests for bot.pii: encryption at rest, lookup hashes, key parsing and masks."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pii import (
    KeyFormatError,
    LookupHasher,
    PiiCipher,
    PiiKeyError,
    generate_key,
    mask_mobile,
    mask_name,
    mask_resident_id,
    parse_key,
)

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
RIC = "11010519491231002X"


@pytest.fixture
def cipher() -> PiiCipher:
    return PiiCipher({"k1": K1}, current_key_id="k1")


# --------------------------------------------------------------------------- cipher


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_round_trip(plaintext: str) -> None:
    cipher = PiiCipher({"k1": K1}, current_key_id="k1")
    assert cipher.decrypt(cipher.encrypt(plaintext, context="ric"), context="ric") == plaintext


def test_plaintext_not_in_blob_and_nonce_random(cipher: PiiCipher) -> None:
    first = cipher.encrypt(RIC, context="ric")
    second = cipher.encrypt(RIC, context="ric")
    assert first != second
    assert RIC.encode() not in first
    assert cipher.key_id_of(first) == "k1"


def test_wrong_context_fails(cipher: PiiCipher) -> None:
    blob = cipher.encrypt("+8613812345678", context="mobile")
    with pytest.raises(PiiKeyError):
        cipher.decrypt(blob, context="ric")


@pytest.mark.parametrize("position", [0, 1, 2, 5, 12, -1])
def test_tampering_fails(cipher: PiiCipher, position: int) -> None:
    blob = bytearray(cipher.encrypt(RIC, context="ric"))
    blob[position] ^= 0x01
    with pytest.raises(PiiKeyError):
        cipher.decrypt(bytes(blob), context="ric")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x02k1" + bytes(40), b"\x01\x02k1abc"])
def test_garbage_blob_fails(cipher: PiiCipher, blob: bytes) -> None:
    with pytest.raises(PiiKeyError):
        cipher.decrypt(blob, context="ric")


def test_unknown_key_id(cipher: PiiCipher) -> None:
    other = PiiCipher({"k9": K2}, current_key_id="k9")
    with pytest.raises(PiiKeyError, match="k9"):
        cipher.decrypt(other.encrypt(RIC, context="ric"), context="ric")


def test_same_id_different_key_fails() -> None:
    blob = PiiCipher({"k1": K1}, current_key_id="k1").encrypt(RIC, context="ric")
    with pytest.raises(PiiKeyError):
        PiiCipher({"k1": K2}, current_key_id="k1").decrypt(blob, context="ric")


def test_key_rotation(cipher: PiiCipher) -> None:
    old = cipher.encrypt(RIC, context="ric")
    rotated = PiiCipher({"k1": K1, "k2": K2}, current_key_id="k2")
    assert rotated.decrypt(old, context="ric") == RIC
    new = rotated.encrypt(RIC, context="ric")
    assert rotated.key_id_of(new) == "k2"
    assert rotated.needs_rotation(old)
    assert not rotated.needs_rotation(new)
    with pytest.raises(PiiKeyError):  # the old configuration cannot read new blobs
        cipher.decrypt(new, context="ric")

    again = rotated.reencrypt(old, context="ric")
    assert rotated.key_id_of(again) == "k2"
    assert rotated.decrypt(again, context="ric") == RIC
    assert cipher.with_key("k2", K2).decrypt(again, context="ric") == RIC


def test_cipher_configuration_errors() -> None:
    with pytest.raises(ValueError):
        PiiCipher({"k1": b"short"}, current_key_id="k1")
    with pytest.raises(ValueError):
        PiiCipher({"k1": K1}, current_key_id="k2")
    with pytest.raises(ValueError):
        PiiCipher({"": K1}, current_key_id="")
    with pytest.raises(ValueError):
        PiiCipher({"k1": K1}, current_key_id="k1").encrypt(RIC, context="")


# --------------------------------------------------------------------------- hasher


def test_hasher_deterministic_and_context_separated() -> None:
    hasher = LookupHasher(K2)
    digest = hasher.digest(RIC, context="ric")
    assert digest == LookupHasher(K2).digest(RIC, context="ric")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != hasher.digest(RIC, context="mobile")
    assert digest != LookupHasher(K1).digest(RIC, context="ric")
    assert hasher.digest("bc", context="a") != hasher.digest("c", context="ab")
    assert RIC not in digest


def test_hasher_key_too_short() -> None:
    with pytest.raises(ValueError):
        LookupHasher(b"0" * 16)


# --------------------------------------------------------------------------- keys


def test_generate_and_parse_key() -> None:
    text = generate_key()
    key = parse_key(text)
    assert len(key) == 32
    assert generate_key() != text
    assert parse_key(f"  {text}\n") == key
    assert parse_key(text.rstrip("=")) == key


def test_generated_key_is_also_a_valid_webhook_secret() -> None:
    # config.example.toml tells operators to make telegram.webhook.secret with
    # `unionbot keys generate`; Telegram allows only A-Z a-z 0-9 _ - in a secret token.
    for _ in range(20):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", generate_key())


def test_parse_key_forms() -> None:
    assert parse_key(K1.hex()) == K1
    assert parse_key(K1.hex().upper()) == K1
    assert parse_key(base64.urlsafe_b64encode(K2).decode()) == K2
    assert parse_key(base64.b64encode(K2).decode()) == K2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        K1.hex()[:-2],  # 31 bytes of hex
        base64.urlsafe_b64encode(bytes(16)).decode(),
        base64.urlsafe_b64encode(bytes(33)).decode(),
        "g" * 64,
        "secret!" * 7,
    ],
)
def test_parse_key_errors(text: str) -> None:
    with pytest.raises(KeyFormatError, match="32 bytes") as info:
        parse_key(text)
    assert isinstance(info.value, ValueError)
    if text:
        assert text not in str(info.value)  # a secret is never echoed


# --------------------------------------------------------------------------- masks


def test_mask_resident_id() -> None:
    assert mask_resident_id("11010519491231002X") == "110105********002X"
    assert mask_resident_id("11010519491231002x") == "110105********002X"
    assert mask_resident_id("123") == "***"


@pytest.mark.parametrize("number", ["+8613812345678", "13812345678", "8613812345678"])
def test_mask_mobile(number: str) -> None:
    assert mask_mobile(number) == "138****5678"


def test_mask_mobile_other_lengths() -> None:
    assert mask_mobile("+12025550100") == "*******0100"
    assert mask_mobile("+852 6123 4567") == "*******4567"
    assert mask_mobile("12345") == "*****"


def test_mask_name() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_name("张三") == "张*"
    assert mask_name("阿依古丽·买买提") == "阿***·***"
    assert mask_name("John Smith") == "J*** *****"
    assert mask_name("张") == "*"
    assert mask_name("") == ""
