"""A wrong data or lookup key is refused at start, naming the key and never printing it,
instead of starting a bot that fails on every form and card."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.db import Database
from bot.emulator import Emulator
from bot.keycheck import check_keys, key_names
from bot.local import DEMO_TOKEN, DEMO_USERNAME, local_settings, running_bot
from bot.migrate import upgrade_async
from bot.pii import LookupHasher, PiiCipher, generate_key, parse_key
from bot.services.audit import Actor
from bot.services.keycheck import KeyCheckService, KeyMismatch, KeyNames
from tests.conftest import World
from tests.engines import Store, new_store
from tests.test_cli import run, write_config
from tests.test_merge import submit_one

ACTOR = Actor.cli("test")


def cipher_of(keys: dict[str, str], current: str) -> PiiCipher:
    return PiiCipher({key_id: parse_key(text) for key_id, text in keys.items()}, current)


def names_for(cipher: PiiCipher) -> KeyNames:
    return KeyNames(
        {
            key_id: "security.data_key"
            if key_id == cipher.current_key_id
            else f"security.old_data_keys.{key_id}"
            for key_id in cipher.key_ids
        }
    )


async def verify(db: Database, cipher: PiiCipher, lookup: str) -> tuple[str, ...]:
    hasher = LookupHasher(parse_key(lookup))
    return await KeyCheckService(db, cipher, hasher).verify(names_for(cipher), ACTOR)


def assert_secret_free(message: str, *keys: str) -> None:
    assert "\n" not in message
    for key in keys:
        assert key not in message
        assert parse_key(key).hex() not in message


# --- the service, on a fresh database ------------------------------------------------------------
async def test_the_first_start_records_and_later_starts_match(
    database: Database, store: Store
) -> None:
    data, lookup = generate_key(), generate_key()
    assert await verify(database, cipher_of({"k1": data}, "k1"), lookup) == ("k1", "lookup")
    assert sorted(store.sql("SELECT kind, key_id FROM key_check")) == [
        ("data", "k1"),
        ("lookup", "lookup"),
    ]
    assert await verify(database, cipher_of({"k1": data}, "k1"), lookup) == ()
    # Neither key is kept: the check values are a ciphertext and an HMAC.
    stored = b"".join(bytes(v) for (v,) in store.sql("SELECT value FROM key_check"))
    assert parse_key(data) not in stored and parse_key(lookup) not in stored
    assert (
        store.scalar("SELECT count(*) FROM audit_log WHERE action = 'security.key_recorded'") == 2
    )


async def test_another_data_key_under_the_same_id_is_refused(database: Database) -> None:
    data, lookup, wrong = generate_key(), generate_key(), generate_key()
    await verify(database, cipher_of({"k1": data}, "k1"), lookup)
    with pytest.raises(KeyMismatch) as caught:
        await verify(database, cipher_of({"k1": wrong}, "k1"), lookup)
    message = str(caught.value)
    assert message.startswith("security.data_key does not match") and "k1" in message
    assert "security.data_key_id" in message  # how to rotate instead
    assert_secret_free(message, data, wrong, lookup)


async def test_another_lookup_key_is_refused(database: Database) -> None:
    data, lookup, wrong = generate_key(), generate_key(), generate_key()
    await verify(database, cipher_of({"k1": data}, "k1"), lookup)
    with pytest.raises(KeyMismatch) as caught:
        await verify(database, cipher_of({"k1": data}, "k1"), wrong)
    assert str(caught.value).startswith("security.lookup_key does not match")
    assert_secret_free(str(caught.value), data, wrong, lookup)


async def test_a_rotation_keeping_the_old_key_is_accepted_and_recorded(
    database: Database, store: Store
) -> None:
    old, new, lookup = generate_key(), generate_key(), generate_key()
    await verify(database, cipher_of({"k1": old}, "k1"), lookup)
    assert await verify(database, cipher_of({"k1": old, "k2": new}, "k2"), lookup) == ("k2",)
    assert store.scalar("SELECT count(*) FROM key_check WHERE kind = 'data'") == 2
    subjects = store.sql(
        "SELECT subject_id FROM audit_log WHERE action = 'security.key_recorded' ORDER BY id"
    )
    assert [s for (s,) in subjects] == ["k1", "lookup", "k2"]
    # And the next start with the same configuration changes nothing.
    assert await verify(database, cipher_of({"k1": old, "k2": new}, "k2"), lookup) == ()


async def test_a_rotation_that_drops_the_old_key_is_refused(database: Database) -> None:
    old, new, lookup = generate_key(), generate_key(), generate_key()
    await verify(database, cipher_of({"k1": old}, "k1"), lookup)
    with pytest.raises(KeyMismatch) as caught:
        await verify(database, cipher_of({"k2": new}, "k2"), lookup)
    assert "security.old_data_keys.k1" in str(caught.value)
    assert_secret_free(str(caught.value), old, new, lookup)


async def test_a_wrong_old_key_is_named_as_the_old_key(database: Database) -> None:
    old, new, lookup, wrong = generate_key(), generate_key(), generate_key(), generate_key()
    await verify(database, cipher_of({"k1": old}, "k1"), lookup)
    with pytest.raises(KeyMismatch) as caught:
        await verify(database, cipher_of({"k1": wrong, "k2": new}, "k2"), lookup)
    assert str(caught.value).startswith("security.old_data_keys.k1 does not match")


# --- a database that holds data from before the check -----------------------------------------
async def test_a_database_with_data_but_no_check_values_is_checked_against_its_data(
    world: World, store: Store
) -> None:
    await submit_one(world, 1, "北京字节跳动科技有限公司")
    data_key = world.cipher.only("k1")
    lookup = world.intake.hasher
    assert store.scalar("SELECT count(*) FROM key_check") == 0

    wrong_cipher = cipher_of({"k1": generate_key()}, "k1")
    with pytest.raises(KeyMismatch, match=r"security\.data_key cannot read the id numbers"):
        await KeyCheckService(world.db, wrong_cipher, lookup).verify(names_for(wrong_cipher), ACTOR)
    wrong_hasher = LookupHasher(parse_key(generate_key()))
    with pytest.raises(KeyMismatch, match=r"security\.lookup_key does not match the look-up"):
        await KeyCheckService(world.db, data_key, wrong_hasher).verify(names_for(data_key), ACTOR)
    assert store.scalar("SELECT count(*) FROM key_check") == 0  # nothing recorded
    recorded = await KeyCheckService(world.db, data_key, lookup).verify(names_for(data_key), ACTOR)
    assert recorded == ("k1", "lookup")


# --- through the program -----------------------------------------------------------------------
def test_key_names_follow_the_configuration(tmp_path: Path) -> None:
    settings = local_settings(
        "http://127.0.0.1:9",
        tmp_path / "x.db",
        security={"data_key_id": "k2", "old_data_keys": {"k1": generate_key()}},
    )
    assert key_names(settings).data == {
        "k1": "security.old_data_keys.k1",
        "k2": "security.data_key",
    }


def _with_keys(settings: Settings, **security: object) -> Settings:
    return settings.model_copy(update={"security": settings.security.model_copy(update=security)})


async def test_the_bot_refuses_to_start_with_another_data_key(tmp_path: Path) -> None:
    async with Emulator() as emu:
        emu.add_bot(DEMO_TOKEN, DEMO_USERNAME, "工会入会助手")
        settings = local_settings(emu.base_url, new_store(tmp_path).url)
        async with running_bot(settings):
            pass
        other = _with_keys(settings, data_key=SecretStr(generate_key()))
        with pytest.raises(KeyMismatch, match=r"^security\.data_key does not match"):
            async with running_bot(other):
                pass
        async with running_bot(settings):  # the right key still starts
            pass
    assert not [c for c in emu.calls("getMe") if c.status != 200]


@pytest.fixture
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("UNIONBOT__"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("_clean_environment")
def test_run_and_bind_code_refuse_a_changed_key_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    code, _, err = run(capsys, config, "streets", "bind-code", "DS")
    assert code == 0, err  # the first use records the keys
    text = config.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("lookup_key"))
    new_key = generate_key()
    config.write_text(text.replace(old, f'lookup_key = "{new_key}"'), encoding="utf-8")
    for command in (("streets", "bind-code", "DS"), ("run",)):
        code, out, err = run(capsys, config, *command)
        assert code == 2 and out == "", (command, err)
        assert err.startswith("unionbot: security.lookup_key does not match"), err
        assert err.count("\n") == 1 and new_key not in err


async def test_check_keys_opens_and_closes_its_own_database(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    settings = local_settings("http://127.0.0.1:9", store.url)
    await upgrade_async(store.url)
    security = settings.security
    cipher = cipher_of({"k1": security.data_key.get_secret_value()}, "k1")
    hasher = LookupHasher(parse_key(security.lookup_key.get_secret_value()))
    await check_keys(settings, cipher, hasher)
    assert store.scalar("SELECT count(*) FROM key_check") == 2
