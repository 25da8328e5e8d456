"""Command menus per chat, end to end: the real bot sets them at start and after every
change (in chat and on the command line), and the emulator shows what each person sees,
along Telegram's scope precedence."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import select

from bot.cli import main
from bot.commands import ADMIN, UNSERVED_GROUP, WORKER, CommandMenus
from bot.commands import FEDERATION_GROUP as FEDERATION_MENU
from bot.commands import REVIEW_GROUP as REVIEW_MENU
from bot.local import DEMO_TOKEN
from bot.services.audit import Actor
from bot.services.binding import BindingService
from models import CommandMenu
from tests.live import (
    FEDERATION_GROUP,
    FEDERATION_ID,
    OUTSIDER_ID,
    REVIEW_GROUP,
    STAFF_IDS,
    Live,
    live_bot,
)

ADMIN_ID, NEWCOMER, WORKER_ID = 950, 778, 1001
NEW_GROUP, OTHER_GROUP = -100600, -100700
TIMEOUT = 10.0
CLI = Actor.cli("test")

WORKER_MENU = [name for name, _ in WORKER]
ACTIVITIES = ["newactivity", "activity"]
STREET_STAFF = ["assist", *ACTIVITIES, "whoami", *WORKER_MENU]
FEDERATION_STAFF = [*ACTIVITIES, "whoami", *WORKER_MENU]
ADMIN_STAFF = [*ACTIVITIES, "grant", "revoke", "whoami", *WORKER_MENU]
REVIEW = [name for name, _ in REVIEW_MENU]
FEDERATION = [name for name, _ in FEDERATION_MENU]
REVIEW_ADMIN = REVIEW + [name for name, _ in ADMIN]
UNSERVED = [name for name, _ in UNSERVED_GROUP]


def menu(live: Live, user_id: int, chat_id: int | None = None) -> list[str]:
    return [c["command"] for c in live.emu.command_menu(user_id, chat_id)]


async def menu_becomes(live: Live, user_id: int, chat_id: int | None, expected: list[str]) -> None:
    """Menus are synced right after the bot answers; wait for it (bounded)."""
    deadline = time.monotonic() + TIMEOUT
    while menu(live, user_id, chat_id) != expected:
        assert time.monotonic() < deadline, (user_id, chat_id, menu(live, user_id, chat_id))
        await asyncio.sleep(0.02)


def write_config(live: Live, path: Path) -> Path:
    """The running bot's configuration, for the command line."""
    s = live.settings
    path.write_text(
        "\n".join(
            [
                "[telegram]",
                f'token = "{s.telegram.token.get_secret_value()}"',
                f'api_base = "{s.telegram.api_base}"',
                f'bot_username = "{s.telegram.bot_username}"',
                "[database]",
                f'url = "{s.database.url}"',
                "[federation]",
                f"chat_id = {s.federation.chat_id}",
                "[security]",
                f'data_key = "{s.security.data_key.get_secret_value()}"',
                f'lookup_key = "{s.security.lookup_key.get_secret_value()}"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


async def cli(config: Path, *args: str) -> int:
    # The command line runs its own event loop; the emulator keeps serving on this one.
    return await asyncio.to_thread(main, ["--config", str(config), *args])


async def test_each_chat_gets_the_menu_of_who_works_there(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        live.worker(WORKER_ID, "王小明")
        # A worker's private chat keeps the worker menu.
        assert menu(live, WORKER_ID) == WORKER_MENU
        # Staff's private chats: their commands first, then the worker's.
        assert menu(live, STAFF_IDS[0]) == STREET_STAFF
        assert menu(live, FEDERATION_ID) == FEDERATION_STAFF
        assert menu(live, OUTSIDER_ID) == WORKER_MENU
        # The bound review group has the review commands, for everyone in it.
        assert menu(live, STAFF_IDS[1], REVIEW_GROUP) == REVIEW
        assert menu(live, OUTSIDER_ID, REVIEW_GROUP) == REVIEW
        # The federation group has the federation commands.
        assert menu(live, FEDERATION_ID, FEDERATION_GROUP) == FEDERATION
        # A group the bot does not serve offers only /bind.
        live.emu.add_group(NEW_GROUP, "闲聊群", [OUTSIDER_ID], [OUTSIDER_ID])
        live.emu.add_bot_to_group(DEMO_TOKEN, NEW_GROUP, OUTSIDER_ID)
        assert menu(live, OUTSIDER_ID, NEW_GROUP) == UNSERVED
        # Chinese with English in every description.
        for entry in live.emu.command_menu(STAFF_IDS[0]):
            chinese, _, english = entry["description"].partition(" / ")
            assert chinese and english.isascii(), entry

        # A restart with nothing changed sets nothing again.
        menus: CommandMenus = live.app.dispatcher["menus"]
        report = await menus.sync()
        assert (report.set, report.deleted, report.failed) == (0, 0, [])
        assert report.unchanged == 8  # 2 defaults, 2 groups, 4 staff members' chats
        assert not live.emu.internal_errors


async def test_menus_follow_binding_grants_and_revocations(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        config = write_config(live, tmp_path / "config.toml")
        for user_id, name in ((ADMIN_ID, "管理员王"), (NEWCOMER, "新同事")):
            live.emu.add_user(user_id, name)
            live.emu.set_member_status(REVIEW_GROUP, user_id, "member", by_user_id=STAFF_IDS[0])

        # An administrator added on the command line: their private chat, and the groups
        # they are in, get /grant and /revoke.
        assert await cli(config, "staff", "add", str(ADMIN_ID), "管理员王", "--role", "admin") == 0
        assert menu(live, ADMIN_ID) == ADMIN_STAFF
        assert menu(live, ADMIN_ID, REVIEW_GROUP) == REVIEW_ADMIN
        assert menu(live, STAFF_IDS[1], REVIEW_GROUP) == REVIEW  # the others' menu is as it was

        # /grant in the review group: the newcomer's private chat gets the staff commands.
        admin, newcomer = live.staff(ADMIN_ID), live.staff(NEWCOMER)
        said = live.emu.send_text(NEWCOMER, "请给我审核权限", REVIEW_GROUP)
        mark = live.emu.mark()
        live.emu.send_text(ADMIN_ID, "/grant street", REVIEW_GROUP, reply_to=said["message_id"])
        await live.emu.wait_for(REVIEW_GROUP, "已授予", since=mark, timeout=TIMEOUT)
        await menu_becomes(live, NEWCOMER, None, STREET_STAFF)
        # /revoke: back to the worker menu.
        mark = live.emu.mark()
        live.emu.send_text(ADMIN_ID, "/revoke", REVIEW_GROUP, reply_to=said["message_id"])
        await live.emu.wait_for(REVIEW_GROUP, "已撤销", since=mark, timeout=TIMEOUT)
        await menu_becomes(live, NEWCOMER, None, WORKER_MENU)
        await newcomer.say("/whoami", "没有工作人员角色")  # the menu agrees with the roles

        # /bind in a new group: it gets the review commands instead of /bind.
        binding: BindingService = live.app.dispatcher["binding"]
        await binding.admin.add_street("XC", "新街口街道", CLI)
        code, _ = await binding.create_code("XC", CLI)
        live.emu.add_group(NEW_GROUP, "新街口街道审核群", [ADMIN_ID, OUTSIDER_ID], [ADMIN_ID])
        live.emu.add_bot_to_group(DEMO_TOKEN, NEW_GROUP, ADMIN_ID)
        await menu_becomes(live, OUTSIDER_ID, NEW_GROUP, UNSERVED)
        await admin.say(f"/bind {code}", "已绑定", chat_id=NEW_GROUP)
        await menu_becomes(live, OUTSIDER_ID, NEW_GROUP, REVIEW)
        await menu_becomes(live, ADMIN_ID, NEW_GROUP, REVIEW_ADMIN)

        # streets set-chat moves 德胜街道's review to another group: the new group gets the
        # review menu, the old one is unserved again and its lists are deleted.
        live.emu.add_group(OTHER_GROUP, "德胜街道新审核群", [STAFF_IDS[0]], [STAFF_IDS[0]])
        live.emu.add_bot_to_group(DEMO_TOKEN, OTHER_GROUP, STAFF_IDS[0])
        assert await cli(config, "streets", "set-chat", "DS", str(OTHER_GROUP)) == 0
        assert menu(live, STAFF_IDS[0], OTHER_GROUP) == REVIEW
        assert menu(live, STAFF_IDS[1], REVIEW_GROUP) == UNSERVED
        assert menu(live, ADMIN_ID, REVIEW_GROUP) == UNSERVED
        async with live.app.db.read() as session:
            keys = set(await session.scalars(select(CommandMenu.scope_key)))
        assert not [k for k in keys if str(REVIEW_GROUP) in k]

        # staff remove on the command line: the administrator's lists go too.
        assert await cli(config, "staff", "remove", str(ADMIN_ID)) == 0
        assert menu(live, ADMIN_ID) == WORKER_MENU
        assert menu(live, ADMIN_ID, NEW_GROUP) == REVIEW
        assert not live.emu.internal_errors


async def test_telegram_unreachable_does_not_stop_the_bot_or_the_command_line(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path) as live:
        config = write_config(live, tmp_path / "config.toml")
        live.emu.add_user(ADMIN_ID, "管理员王")
        live.emu.inject_network_failure("getChatMember", count=50)
        live.emu.inject_network_failure("setMyCommands", count=50)
        # The change is made; the menus wait for the next sync.
        assert await cli(config, "staff", "add", str(ADMIN_ID), "管理员王", "--role", "admin") == 0
        assert menu(live, ADMIN_ID) == WORKER_MENU
        live.emu.faults.network.clear()
        # A list Telegram refuses is reported, not recorded, and set at the next sync.
        live.emu.inject_error("setMyCommands", status=400, description="Bad Request: nope")
        assert await cli(config, "menus", "sync") == 1
        assert menu(live, ADMIN_ID) == WORKER_MENU
        assert await cli(config, "menus", "sync") == 0
        assert menu(live, ADMIN_ID) == ADMIN_STAFF
        assert not live.emu.internal_errors
