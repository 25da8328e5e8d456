"""Binding group chats to streets with one-time codes: the service, the command line, and
the real bot in the emulator (an admin binds a new group; a stranger's group is told once)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from bot.cli import main
from bot.db import Database
from bot.emulator import Emulator
from bot.local import DEMO_TOKEN, local_settings, running_bot
from bot.people import Person
from bot.pii import LookupHasher, generate_key, parse_key
from bot.services.audit import Actor
from bot.services.binding import (
    BIND_FAILURES_PER_CHAT,
    BIND_FAILURES_PER_USER,
    BIND_REFUSED,
    CODE_ALPHABET,
    CODE_LENGTH,
    BindCodeExpired,
    BindCodeUsed,
    BindingService,
    ChatTaken,
    TooManyBindAttempts,
    UnknownBindCode,
    new_bind_code,
)
from bot.services.errors import NotAllowed, NotFound
from bot.services.intake import Draft, IntakeService
from models import AuditEntry, BindCode, OutboxMessage, Street, UnboundGroup
from models.base import utcnow
from tests.conftest import FEDERATION_CHAT, World, make_draft
from tests.engines import new_store
from tests.live import (
    FEDERATION_GROUP,
    OUTSIDER_ID,
    REVIEW_GROUP,
    Live,
    live_bot,
    make_emulator_people,
    seed,
    settle,
)

ADMIN = Actor(950, "管理员")
CLI = Actor.cli("test")
NEW_GROUP = -100600


@pytest.fixture
async def binding(world: World) -> BindingService:
    await world.admin.add_staff(ADMIN.user_id, ADMIN.name, "admin", None, CLI)
    await world.admin.add_street("XC", "新街口街道", CLI)  # no review group yet
    return BindingService(world.db, LookupHasher(parse_key(generate_key())))


async def _street_id(db: Database, code: str) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(Street.id).where(Street.code == code)))


def _draft_for(street_id: int, seq: int) -> Draft:
    return make_draft(SimpleNamespace(street_id=street_id), seq)  # type: ignore[arg-type]


async def _submit_to_xc(world: World, seq: int) -> str:
    draft = _draft_for(await _street_id(world.db, "XC"), seq)
    return (await world.intake.submit(7000 + seq, draft)).number


async def _cards_to(world: World, chat_id: int) -> int:
    async with world.db.read() as session:
        rows = await session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.chat_id == chat_id, OutboxMessage.kind == "review_card"
            )
        )
        return len(list(rows))


async def _audit(world: World, action: str) -> list[AuditEntry]:
    async with world.db.read() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- the service -----------------------------------------------------------------------


async def test_code_is_short_random_and_only_its_hash_is_stored(
    world: World, binding: BindingService
) -> None:
    code, expires = await binding.create_code("新街口街道", CLI)
    other, _ = await binding.create_code("XC", CLI)
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET) and code != other
    assert timedelta(hours=23, minutes=59) < expires - utcnow() <= timedelta(hours=24)
    async with world.db.read() as session:
        rows = list(await session.scalars(select(BindCode)))
    assert len(rows) == 2 and all(code not in r.code_hash for r in rows)
    created = await _audit(world, "bind_code.created")
    assert [e.subject_id for e in created] == ["XC", "XC"]
    assert all(code not in str(e.after) for e in created)
    with pytest.raises(NotFound):
        await binding.create_code("nowhere", CLI)


async def test_bind_posts_waiting_cards_and_is_audited(
    world: World, binding: BindingService
) -> None:
    await _submit_to_xc(world, 1)
    await _submit_to_xc(world, 2)
    assert await _cards_to(world, NEW_GROUP) == 0  # no review group: the cards wait
    code, _ = await binding.create_code("XC", CLI)
    assert await binding.note_unbound(NEW_GROUP)

    typed = f" {code[:4].lower()}-{code[4:]} "  # how people type it
    street = await binding.bind(typed, NEW_GROUP, "新街口审核群", ADMIN)

    assert street == "新街口街道"
    assert await _cards_to(world, NEW_GROUP) == 2
    assert await binding.chat_role(NEW_GROUP, FEDERATION_CHAT) == "review"
    [moved] = [e for e in await _audit(world, "street.review_chat") if e.subject_id == "XC"]
    assert moved.actor_user_id == ADMIN.user_id and moved.after == {"chat": NEW_GROUP}
    [used] = await _audit(world, "bind_code.used")
    assert used.after["chat"] == NEW_GROUP and used.after["title"] == "新街口审核群"
    async with world.db.read() as session:
        row = await session.scalar(select(BindCode))
        assert row.used_in_chat_id == NEW_GROUP and row.used_at is not None
        assert await session.get(UnboundGroup, NEW_GROUP) is None  # told again if unbound


async def test_a_code_binds_once(world: World, binding: BindingService) -> None:
    code, _ = await binding.create_code("XC", CLI)
    await binding.bind(code, NEW_GROUP, None, ADMIN)
    await world.admin.add_street("ZL", "展览路街道", CLI)
    with pytest.raises(BindCodeUsed):
        await binding.bind(code, -100601, None, ADMIN)
    assert await binding.chat_role(-100601, FEDERATION_CHAT) is None


async def test_expired_and_unknown_codes_are_refused(world: World, binding: BindingService) -> None:
    code, _ = await binding.create_code("XC", CLI)
    async with world.db.transaction() as session:
        await session.execute(update(BindCode).values(expires_at=utcnow() - timedelta(minutes=1)))
    with pytest.raises(BindCodeExpired):
        await binding.bind(code, NEW_GROUP, None, ADMIN)
    with pytest.raises(UnknownBindCode):
        await binding.bind("ABCDEFGH", NEW_GROUP, None, ADMIN)
    assert await binding.chat_role(NEW_GROUP, FEDERATION_CHAT) is None
    assert not await _audit(world, "bind_code.used")


async def test_only_administrators_bind(world: World, binding: BindingService) -> None:
    code, _ = await binding.create_code("XC", CLI)
    for outsider in (Actor(501, "审核员501"), Actor(901, "联合会"), Actor(777, "路人"), CLI):
        with pytest.raises(NotAllowed):
            await binding.bind(code, NEW_GROUP, None, outsider)
    await world.admin.remove_staff(ADMIN.user_id, CLI)
    with pytest.raises(NotAllowed):
        await binding.bind(code, NEW_GROUP, None, ADMIN)
    await world.admin.add_staff(ADMIN.user_id, ADMIN.name, "admin", None, CLI)
    assert await binding.bind(code, NEW_GROUP, None, ADMIN) == "新街口街道"  # not used up


async def test_a_group_serves_one_street_and_never_the_federation(
    world: World, binding: BindingService
) -> None:
    code, _ = await binding.create_code("XC", CLI)
    with pytest.raises(ChatTaken) as taken:
        await binding.bind(code, -100500, None, ADMIN)  # 德胜街道's review group
    assert taken.value.street == "德胜街道"
    with pytest.raises(ChatTaken) as taken:
        await binding.bind(code, FEDERATION_CHAT, None, ADMIN, federation_chat_id=FEDERATION_CHAT)
    assert taken.value.role == "federation"
    assert await binding.bind(code, NEW_GROUP, None, ADMIN) == "新街口街道"


async def test_chat_roles_and_the_one_time_notice(world: World, binding: BindingService) -> None:
    assert await binding.chat_role(-100500, FEDERATION_CHAT) == "review"
    assert await binding.chat_role(FEDERATION_CHAT, FEDERATION_CHAT) == "federation"
    assert await binding.chat_role(-100777, FEDERATION_CHAT) is None
    assert await binding.chat_role(FEDERATION_CHAT, None) is None
    assert await binding.note_unbound(-100777) is True
    assert await binding.note_unbound(-100777) is False
    results = await asyncio.gather(*(binding.note_unbound(-100778) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]


async def _wrong_codes(binding: BindingService, actor: Actor, chat_id: int, count: int) -> None:
    for _ in range(count):
        with pytest.raises(UnknownBindCode):
            await binding.bind(new_bind_code(), chat_id, "新街口审核群", actor)


async def test_wrong_codes_are_limited_per_person_audited_and_shared(
    world: World, binding: BindingService
) -> None:
    code, _ = await binding.create_code("XC", CLI)
    await _wrong_codes(binding, ADMIN, NEW_GROUP, BIND_FAILURES_PER_USER)
    with pytest.raises(TooManyBindAttempts) as blocked:
        await binding.bind(code, NEW_GROUP, None, ADMIN)  # even the right code must wait
    refused = await _audit(world, BIND_REFUSED)
    assert len(refused) == BIND_FAILURES_PER_USER
    assert {(e.actor_user_id, e.subject_type, e.subject_id) for e in refused} == {
        (ADMIN.user_id, "chat", str(NEW_GROUP))
    }
    assert {e.after["reason"] for e in refused} == {"unknown"}
    assert blocked.value.scope == "user" and blocked.value.limit == BIND_FAILURES_PER_USER
    assert (
        timedelta(hours=1)
        <= blocked.value.retry_at - refused[0].at
        <= timedelta(hours=1, minutes=1)
    )
    # Another bot process (a service of its own on the same database) holds it too.
    other = BindingService(world.db, binding.hasher)
    with pytest.raises(TooManyBindAttempts):
        await other.bind(code, NEW_GROUP, None, ADMIN)
    assert len(await _audit(world, BIND_REFUSED)) == BIND_FAILURES_PER_USER  # not counted
    assert await binding.chat_role(NEW_GROUP, FEDERATION_CHAT) is None
    # The code was never looked at: another administrator binds with it.
    second = Actor(951, "管理员二")
    await world.admin.add_staff(951, second.name, "admin", None, CLI)
    assert await binding.bind(code, NEW_GROUP, None, second) == "新街口街道"


async def test_wrong_codes_are_limited_per_group(world: World, binding: BindingService) -> None:
    admins = [Actor(960 + n, f"管理员{n}") for n in range(5)]
    for actor in admins:
        await world.admin.add_staff(actor.user_id, actor.name, "admin", None, CLI)
    per_admin = BIND_FAILURES_PER_USER - 1
    tried = 0
    for actor in admins:
        count = min(per_admin, BIND_FAILURES_PER_CHAT - tried)
        await _wrong_codes(binding, actor, NEW_GROUP, count)
        tried += count
    assert tried == BIND_FAILURES_PER_CHAT
    last = Actor(970, "管理员末")
    await world.admin.add_staff(last.user_id, last.name, "admin", None, CLI)
    with pytest.raises(TooManyBindAttempts) as blocked:
        await binding.bind(new_bind_code(), NEW_GROUP, None, last)
    assert blocked.value.scope == "chat" and blocked.value.limit == BIND_FAILURES_PER_CHAT
    await _wrong_codes(binding, last, -100601, 1)  # another group is not held up


async def test_used_and_expired_codes_count_and_the_window_passes(world: World) -> None:
    binding = BindingService(
        world.db, LookupHasher(parse_key(generate_key())), failure_window=timedelta(seconds=1)
    )
    await world.admin.add_staff(ADMIN.user_id, ADMIN.name, "admin", None, CLI)
    await world.admin.add_street("XC", "新街口街道", CLI)
    used, _ = await binding.create_code("XC", CLI)
    await binding.bind(used, NEW_GROUP, None, ADMIN)
    expired, _ = await binding.create_code("XC", CLI, ttl=timedelta(microseconds=1))
    await asyncio.sleep(0.01)
    with pytest.raises(BindCodeUsed):
        await binding.bind(used, -100601, None, ADMIN)
    with pytest.raises(BindCodeExpired):
        await binding.bind(expired, -100601, None, ADMIN)
    await _wrong_codes(binding, ADMIN, -100601, BIND_FAILURES_PER_USER - 2)
    assert [e.after["reason"] for e in await _audit(world, BIND_REFUSED)][:2] == [
        "used",
        "expired",
    ]
    with pytest.raises(TooManyBindAttempts):
        await binding.bind(new_bind_code(), -100601, None, ADMIN)
    await asyncio.sleep(1.1)  # the window has passed: codes are checked again
    await _wrong_codes(binding, ADMIN, -100601, 1)


async def test_group_migration_moves_the_binding(world: World, binding: BindingService) -> None:
    assert await binding.follow_migration(-100500, -1002000500, Actor(None, "telegram"))
    assert await binding.street_of_chat(-1002000500) == "DS"
    assert not await binding.follow_migration(-100999, -1002000999, Actor(None, "telegram"))


# --- the command line ------------------------------------------------------------------


def test_cli_prints_a_code_that_binds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lookup = generate_key()
    url = new_store(tmp_path, "cli").url
    config = tmp_path / "config.toml"
    config.write_text(
        "\n".join(
            [
                "[telegram]",
                'token = "123456:fake-token-for-tests"',
                'api_base = "http://127.0.0.1:9"',
                "[database]",
                f'url = "{url}"',
                "[security]",
                f'data_key = "{generate_key()}"',
                f'lookup_key = "{lookup}"',
            ]
        ),
        encoding="utf-8",
    )
    assert main(["--config", str(config), "streets", "add", "DS", "德胜街道"]) == 0
    assert main(["--config", str(config), "staff", "add", "950", "管理员", "--role", "admin"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "streets", "bind-code", "德胜街道"]) == 0
    out = capsys.readouterr().out
    code = out.split("在审核群中由管理员发送 /bind ")[1].strip()
    assert len(code) == CODE_LENGTH and f": {code}" in out and "Beijing time" in out
    assert main(["--config", str(config), "streets", "bind-code", "nowhere"]) == 2

    async def bind() -> str:
        db = Database(url)
        try:
            service = BindingService(db, LookupHasher(parse_key(lookup)))
            return await service.bind(code, NEW_GROUP, None, ADMIN)
        finally:
            await db.dispose()

    assert asyncio.run(bind()) == "德胜街道"


# --- through the real bot ----------------------------------------------------------------

STRANGER_GROUP = -100700
TIMEOUT = 10.0


def bot_messages(live: Live, chat_id: int) -> list[dict]:
    """What the bot wrote in a chat (not the service messages of joins and leaves)."""
    bot_id = int(DEMO_TOKEN.split(":")[0])
    return [
        m
        for m in live.emu.messages(chat_id)
        if m.get("from", {}).get("id") == bot_id and "text" in m
    ]


def bot_texts(live: Live, chat_id: int) -> list[str]:
    return [m["text"] for m in bot_messages(live, chat_id)]


async def test_admin_binds_a_new_group_and_review_cards_go_there(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        admin_id = ADMIN.user_id or 0
        live.emu.add_user(admin_id, ADMIN.name)
        binding: BindingService = live.app.dispatcher.workflow_data["binding"]
        intake: IntakeService = live.app.dispatcher.workflow_data["intake"]
        await binding.admin.add_staff(admin_id, ADMIN.name, "admin", None, CLI)
        await binding.admin.add_street("XC", "新街口街道", CLI)
        draft = _draft_for(await _street_id(live.app.db, "XC"), 41)
        submitted = await intake.submit(4001, draft)
        code, _ = await binding.create_code("XC", CLI)

        live.emu.add_group(NEW_GROUP, "新街口街道审核群", [admin_id, OUTSIDER_ID], [admin_id])
        mark = live.emu.mark()
        live.emu.add_bot_to_group(DEMO_TOKEN, NEW_GROUP, admin_id)
        notice = await live.emu.wait_for(NEW_GROUP, "bind-code", since=mark)
        assert "/bind" in notice["text"]

        admin = live.staff(admin_id)
        reply = await admin.say(f"/bind {code.lower()}", "已绑定", chat_id=NEW_GROUP)
        assert "新街口街道" in reply["text"]
        card = await live.emu.wait_for(NEW_GROUP, submitted.number)
        assert "通过" in str(card.get("reply_markup"))

        again = await admin.say(f"/bind {code}", "本群已是", chat_id=NEW_GROUP)
        assert "新街口街道" in again["text"]
        outsider = live.worker(OUTSIDER_ID)
        await outsider.say(f"/bind {code}", "只有管理员可以绑定群组", chat_id=NEW_GROUP)
        assert not live.emu.internal_errors


async def test_a_stranger_group_is_told_once_then_ignored(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        live.emu.add_group(STRANGER_GROUP, "闲聊群", [OUTSIDER_ID], [OUTSIDER_ID])
        mark = live.emu.mark()
        live.emu.add_bot_to_group(DEMO_TOKEN, STRANGER_GROUP, OUTSIDER_ID)
        await live.emu.wait_for(STRANGER_GROUP, "bind-code", since=mark)
        for text in ("/start", "/bind ABCDEFGH", "/help", "/whoami", "/grant admin"):
            live.emu.send_text(OUTSIDER_ID, text, STRANGER_GROUP)
        await settle(live)
        assert len(bot_texts(live, STRANGER_GROUP)) == 1

        # Bound groups are not told: the review group and the federation group got nothing.
        assert not any("bind-code" in t for t in bot_texts(live, REVIEW_GROUP))
        async with live.app.db.read() as session:
            told = list(await session.scalars(select(UnboundGroup.chat_id)))
        assert told == [STRANGER_GROUP]

        # A button press there (forged: the bot showed none) is answered, silently.
        [notice] = bot_messages(live, STRANGER_GROUP)
        query = live.emu.press_button(
            OUTSIDER_ID, STRANGER_GROUP, notice["message_id"], "rv:approve:1:", forge=True
        )
        await settle(live)
        assert live.emu.callback_answers(query)["text"] is None

        # Removed and added again: the notice is not repeated.
        live.emu.set_member_status(STRANGER_GROUP, int(DEMO_TOKEN.split(":")[0]), "left")
        live.emu.add_bot_to_group(DEMO_TOKEN, STRANGER_GROUP, OUTSIDER_ID)
        live.emu.send_text(OUTSIDER_ID, "/start", STRANGER_GROUP)
        await settle(live)
        assert len(bot_texts(live, STRANGER_GROUP)) == 1
        assert not live.emu.internal_errors


async def test_bind_guessing_in_a_group_is_slowed_down_across_restarts(tmp_path: Path) -> None:
    async with Emulator() as emu:
        make_emulator_people(emu)
        admin_id = ADMIN.user_id or 0
        emu.add_user(admin_id, ADMIN.name)
        emu.add_group(NEW_GROUP, "新街口街道审核群", [admin_id], [admin_id])
        store = new_store(tmp_path)
        settings = local_settings(emu.base_url, store.url, federation_chat_id=FEDERATION_GROUP)
        await seed(settings)
        admin = Person(emu, admin_id, ADMIN.name)
        async with running_bot(settings) as app:
            binding: BindingService = app.dispatcher.workflow_data["binding"]
            await binding.admin.add_staff(admin_id, ADMIN.name, "admin", None, CLI)
            await binding.admin.add_street("XC", "新街口街道", CLI)
            code, _ = await binding.create_code("XC", CLI)
            mark = emu.mark()
            emu.add_bot_to_group(DEMO_TOKEN, NEW_GROUP, admin_id)
            await emu.wait_for(NEW_GROUP, "bind-code", since=mark)
            for _ in range(BIND_FAILURES_PER_USER):
                await admin.say(f"/bind {new_bind_code()}", "绑定码无效", chat_id=NEW_GROUP)
        # The bot restarts: the wrong codes are still counted.
        async with running_bot(settings):
            reply = await admin.say(f"/bind {code}", "输错绑定码", chat_id=NEW_GROUP)
            assert f"已达 {BIND_FAILURES_PER_USER} 次" in reply["text"]
            assert "之后再试" in reply["text"] and "已绑定" not in reply["text"]
        assert store.scalar("SELECT review_chat_id FROM street WHERE code = 'XC'") is None
        assert not emu.internal_errors
