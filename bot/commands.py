"""Command menus per chat, with Telegram's per-chat command scopes.

Who sees what (each description in Chinese with English after it):
- workers, in their private chat (scope all_private_chats): the worker menu;
- groups the bot does not serve (all_group_chats): /bind, the only command answered there;
- each bound street review group (chat): /stats, /export, /dashboard, /servicecards,
  /activity, /fourones, /whoami, and /cancel for a reject reason or an employer search in
  progress;
- the federation group (chat): /cases, /case, /newcase, /search, /merge, /alias, /budget,
  /book, /ledger, /stats, /export, /dashboard, /activity, /fourones, /whoami;
- administrators in a served group (chat_member): that group's menu and /grant, /revoke;
- staff in their private chat (chat, chat_id = their user id): their roles' commands
  (/assist for street staff, /newactivity and /activity for staff, /grant and /revoke for
  administrators, /whoami), then the
  worker menu, since those commands work for them too.
Telegram shows the first list set along its precedence (chat_member, then chat, then
all_group_chats in groups; chat, then all_private_chats in private chats), so each more
specific list is complete on its own.

What was set is recorded (models.CommandMenu): a sync sets the lists that changed and
deletes the ones no longer wanted (a revoked person's chat, an unbound group), which
Telegram cannot list for us. It runs at start, after /bind, /grant and /revoke in chat,
and after the set-up commands of the command line. A chat_member list needs the
administrator to be in the group, which only Telegram knows: it is asked at each sync.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
    BotCommandScopeUnion,
)

from bot.services.menus import MenuFacts, MenuService

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

Command = tuple[str, str]  # (command, description)
Scope = dict[str, Any]  # the scope as Telegram's JSON, e.g. {"type": "chat", "chat_id": -1}

WORKER: tuple[Command, ...] = (
    ("start", "申请入会 / Apply"),
    ("status", "申请进度 / Status"),
    ("card", "电子会员卡 / Member card"),
    ("servicecard", "会员服务卡 / Member service card"),
    ("benefits", "普惠服务 / Benefit services"),
    ("activities", "工会活动 / Activities"),
    ("notify", "活动通知开关 / Announcements on or off"),
    ("transfer", "会籍接转 / New job or kept membership"),
    ("cancel", "放弃填写 / Cancel"),
    ("lang", "语言 / Language"),
    ("mydata", "我的信息 / My data"),
    ("delete", "删除我的信息 / Delete my data"),
    ("help", "帮助 / Help"),
)
UNSERVED_GROUP: tuple[Command, ...] = (("bind", "绑定审核群 / Bind this group"),)
WHOAMI: Command = ("whoami", "我的角色 / My roles")
ACTIVITY: Command = ("activity", "活动报名与签到 / Activities: sign-ups and attendance")
FOUR_ONES: Command = ("fourones", "“四个一”完成情况 / The four ones, completed")
STATS: Command = ("stats", "统计 / Statistics")
EXPORT: Command = ("export", "导出Excel / Export to Excel")
DASHBOARD: Command = ("dashboard", "网页看板 / Dashboard")
REVIEW_GROUP: tuple[Command, ...] = (
    STATS,
    EXPORT,
    DASHBOARD,
    ("servicecards", "会员服务卡报送 / Service cards"),
    ACTIVITY,
    FOUR_ONES,
    WHOAMI,
    ("cancel", "放弃填写驳回原因或更改单位 / Cancel a reason or an employer change"),
)
FEDERATION_GROUP: tuple[Command, ...] = (
    ("cases", "建会工作 / Founding cases"),
    ("case", "查看一项建会工作 / Show a founding case"),
    ("newcase", "开始建会工作 / Open a founding case"),
    ("search", "查找企业 / Search enterprises"),
    ("merge", "合并企业 / Merge enterprises"),
    ("alias", "企业别名 / Enterprise aliases"),
    ("budget", "活动经费预算 / Subsidy budgets"),
    ("book", "活动费用记账 / Book an activity's cost"),
    ("ledger", "活动经费台账 / Subsidy ledger (Excel)"),
    STATS,
    EXPORT,
    DASHBOARD,
    ACTIVITY,
    FOUR_ONES,
    WHOAMI,
)
ASSIST: Command = ("assist", "代录纸质申请 / Enter a paper application")
NEW_ACTIVITY: Command = ("newactivity", "创建工会活动 / Create an activity")
ADMIN: tuple[Command, ...] = (
    ("grant", "授予角色 / Grant a role"),
    ("revoke", "撤销角色 / Revoke a role"),
)
RETRIES = 3
MAX_WAIT = 30.0  # longest 429 wait honoured before giving up on a list until next sync


class MenusUnavailable(Exception):
    """Telegram could not be reached (or refused the bot); nothing more was changed."""


@dataclass(frozen=True)
class Menu:
    scope: Scope
    commands: tuple[Command, ...]

    @property
    def key(self) -> str:
        return scope_key(self.scope)

    @property
    def digest(self) -> str:
        text = json.dumps(self.commands, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class SyncReport:
    set: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)  # scope keys Telegram refused


def scope_key(scope: Scope) -> str:
    return json.dumps(scope, sort_keys=True)


def staff_private(roles: frozenset[str]) -> tuple[Command, ...]:
    own: list[Command] = []
    if "street" in roles:
        own.append(ASSIST)
    if roles & {"street", "federation", "admin"}:
        own += [NEW_ACTIVITY, ACTIVITY]
    if "admin" in roles:
        own += ADMIN
    own.append(WHOAMI)
    return (*own, *WORKER)


def draw_up(
    facts: MenuFacts, federation_chat_id: int | None, admins_in: set[tuple[int, int]]
) -> dict[str, Menu]:
    """Every menu wanted now, by scope key. `admins_in` holds (group, user) for the
    administrators who are members of a served group."""
    groups = {chat: REVIEW_GROUP for chat in facts.review_chats}
    if federation_chat_id is not None:
        groups[federation_chat_id] = FEDERATION_GROUP
    menus = [
        Menu({"type": "all_private_chats"}, WORKER),
        Menu({"type": "all_group_chats"}, UNSERVED_GROUP),
        *(Menu({"type": "chat", "chat_id": chat}, cmds) for chat, cmds in groups.items()),
        *(
            Menu({"type": "chat", "chat_id": user}, staff_private(roles))
            for user, roles in sorted(facts.roles.items())
        ),
        *(
            Menu({"type": "chat_member", "chat_id": chat, "user_id": user}, groups[chat] + ADMIN)
            for chat, user in sorted(admins_in)
            if chat in groups
        ),
    ]
    return {menu.key: menu for menu in menus}


def scope_object(scope: Scope) -> BotCommandScopeUnion:
    kind = scope["type"]
    if kind == "all_private_chats":
        return BotCommandScopeAllPrivateChats()
    if kind == "all_group_chats":
        return BotCommandScopeAllGroupChats()
    if kind == "chat":
        return BotCommandScopeChat(chat_id=scope["chat_id"])
    if kind == "chat_member":
        return BotCommandScopeChatMember(chat_id=scope["chat_id"], user_id=scope["user_id"])
    raise ValueError(f"unexpected scope type {kind!r}")


class CommandMenus:
    def __init__(
        self,
        bot: Bot,
        service: MenuService,
        *,
        federation_chat_id: int | None,
        request_timeout: int | None = None,
    ) -> None:
        self.bot = bot
        self.service = service
        self.federation_chat_id = federation_chat_id
        self.request_timeout = request_timeout
        self._lock = asyncio.Lock()  # one sync at a time in a process

    async def sync(self, *, force: bool = False) -> SyncReport:
        """Bring Telegram's menus in line with the database; `force` sets every list
        again (e.g. after someone changed them with @BotFather). Raises MenusUnavailable
        when Telegram cannot be reached; lists done by then stay recorded."""
        async with self._lock:
            try:
                return await self._sync(force)
            except TelegramAPIError as error:  # network, 401, 5xx: not one list's fault
                raise MenusUnavailable(f"{type(error).__name__}: {error.message}") from None

    async def try_sync(self) -> SyncReport | None:
        """sync(), logging instead of raising: menus must never stop the bot or a reply."""
        try:
            report = await self.sync()
        except MenusUnavailable as error:
            log.warning("command menus not updated (%s); the next sync retries", error)
            return None
        if report.failed:
            log.warning("command menus refused by Telegram: %s", ", ".join(report.failed))
        return report

    async def _sync(self, force: bool) -> SyncReport:
        facts = await self.service.facts()
        wanted = draw_up(facts, self.federation_chat_id, await self._admins_in_groups(facts))
        applied = await self.service.applied(self.bot.id)
        report = SyncReport()
        for key, menu in wanted.items():
            if not force and key in applied and applied[key][1] == menu.digest:
                report.unchanged += 1
                continue
            commands = [BotCommand(command=c, description=d) for c, d in menu.commands]
            call = partial(
                self.bot.set_my_commands,
                commands,
                scope=scope_object(menu.scope),
                request_timeout=self.request_timeout,
            )
            if await self._call(key, report, call):
                await self.service.record(self.bot.id, key, menu.scope, menu.digest)
                report.set += 1
        for key, (stored, _) in applied.items():
            if key in wanted:
                continue
            call = partial(
                self.bot.delete_my_commands,
                scope=scope_object(stored),
                request_timeout=self.request_timeout,
            )
            if await self._call(key, report, call, gone_is_done=True):
                await self.service.forget(self.bot.id, key)
                report.deleted += 1
        return report

    async def _call(
        self,
        key: str,
        report: SyncReport,
        make: Callable[[], Awaitable[Any]],
        *,
        gone_is_done: bool = False,
    ) -> bool:
        """One setMyCommands/deleteMyCommands: True once done. A refusal concerns this
        list only (logged, retried at the next sync); a chat that no longer exists has
        nothing left to delete."""
        for _attempt in range(RETRIES):
            try:
                await make()
                return True
            except TelegramRetryAfter as error:
                await asyncio.sleep(min(float(error.retry_after), MAX_WAIT))
            except (TelegramBadRequest, TelegramForbiddenError) as error:
                if gone_is_done and "chat not found" in error.message:
                    return True
                log.info("command menu %s not set: %s", key, error.message)
                report.failed.append(key)
                return False
        report.failed.append(key)
        return False

    async def _admins_in_groups(self, facts: MenuFacts) -> set[tuple[int, int]]:
        """(group, user) for each administrator who is a member of a served group."""
        admins = sorted(user for user, roles in facts.roles.items() if "admin" in roles)
        groups = [*facts.review_chats]
        if self.federation_chat_id is not None:
            groups.append(self.federation_chat_id)
        found: set[tuple[int, int]] = set()
        for chat in groups:
            for user in admins:
                try:
                    member = await self.bot.get_chat_member(
                        chat, user, request_timeout=self.request_timeout
                    )
                except (TelegramBadRequest, TelegramForbiddenError):
                    continue  # an unknown user, or a group the bot cannot see: no menu there
                if member.status in ("creator", "administrator", "member", "restricted"):
                    found.add((chat, user))
        return found


async def set_menus(app: App) -> None:
    """At start: every menu as the database says (called from bot/runner.py prepare)."""
    menus: CommandMenus = app.dispatcher["menus"]
    report = await menus.try_sync()
    if report is not None:
        log.info(
            "command menus: %d set, %d deleted, %d unchanged",
            report.set,
            report.deleted,
            report.unchanged,
        )
