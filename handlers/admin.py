"""Group binding (/bind CODE), silence in groups the bot does not serve, and staff roles
managed by administrators in chat (/grant, /revoke, /whoami).

This router is included first, so its gate sees every group update before the others:
in a group that is neither a bound review group nor the federation group, the bot says
once why it is silent and then swallows everything (anyone can add a bot to a group).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from aiogram import Bot
from aiogram.filters import JOIN_TRANSITION, ChatMemberUpdatedFilter, Command, CommandObject, Filter
from aiogram.types import CallbackQuery, Chat, ChatMemberUpdated, Message, TelegramObject

from bot.commands import CommandMenus
from bot.config import Settings
from bot.i18n import translate as _
from bot.services.admin import SetupError
from bot.services.audit import Actor
from bot.services.binding import (
    BindCodeExpired,
    BindCodeUsed,
    BindingService,
    ChatTaken,
    LastAdmin,
    RoleView,
    TooManyBindAttempts,
    UnknownBindCode,
)
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.union_names import street_union_name
from handlers import texts
from handlers.filters import GROUP, ChatMigrated
from handlers.registry import Handlers
from handlers.review import actor_of

router = Handlers("admin")

TELEGRAM = Actor(None, "telegram")  # the actor of changes Telegram itself makes

GROUP_TYPES = frozenset({"group", "supergroup"})

ROLE_WORDS = {
    "street": "street",
    "街道": "street",
    "federation": "federation",
    "区总工会": "federation",
    "admin": "admin",
    "管理员": "admin",
}


def _chat_of(event: TelegramObject) -> Chat | None:
    if isinstance(event, Message | ChatMemberUpdated):
        return event.chat
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat
    return None


class NotServedHere(Filter):
    """A group that is neither a bound street review group nor the federation group."""

    async def __call__(
        self, event: TelegramObject, binding: BindingService, settings: Settings
    ) -> bool:
        chat = _chat_of(event)
        if chat is None or chat.type not in GROUP_TYPES:
            return False  # private chats cost no query
        return await binding.chat_role(chat.id, settings.federation.chat_id) is None


def unbound_notice() -> str:
    return _(
        "本机器人只在用绑定码绑定的街道审核群和区总工会工作群中工作。"
        "管理员可在命令行运行 <code>unionbot streets bind-code 街道</code> 取得绑定码，"
        "然后在本群发送 <code>/bind 绑定码</code>。在此之前，本群的消息一概不予处理。"
    )


async def _tell_once(bot: Bot, chat_id: int, binding: BindingService) -> None:
    if await binding.note_unbound(chat_id):
        await bot.send_message(chat_id, unbound_notice())


def role_label(role: RoleView) -> str:
    if role.role == "street":
        union = street_union_name(role.street) if role.street else "?"
        return _("{union}审核人员").format(union=escape(union))
    if role.role == "federation":
        return _("区总工会工作人员")
    return _("管理员")


def roles_text(roles: list[RoleView]) -> str:
    return _("、").join(role_label(r) for r in roles) or _("无")


# --- binding a group -----------------------------------------------------------------


@router.message(Command("bind"), GROUP)
async def bind_group(
    message: Message,
    command: CommandObject,
    binding: BindingService,
    settings: Settings,
    bot: Bot,
    menus: CommandMenus,
) -> None:
    user, federation = message.from_user, settings.federation.chat_id
    if user is None:
        return
    if not await binding.is_admin(user.id):  # a cheap answer; bind() checks again
        if await binding.chat_role(message.chat.id, federation) is None:
            await _tell_once(bot, message.chat.id, binding)  # strangers get nothing more
        else:
            await message.reply(_("只有管理员可以绑定群组。"))
        return
    if not (command.args or "").strip():
        await message.reply(bind_usage())
        return
    try:
        street = await binding.bind(
            command.args or "",
            message.chat.id,
            message.chat.title,
            actor_of(user),
            federation_chat_id=federation,
        )
    except DomainError as error:
        await message.reply(bind_refusal(error))
        return
    await message.reply(
        _("✅ 本群已绑定为 {street} 的审核群，待审核的申请将陆续发到这里。").format(
            street=escape(street)
        )
    )
    await menus.try_sync()  # the group's menu now has the review commands


def bind_usage() -> str:
    return _(
        "用法：<code>/bind 绑定码</code>。绑定码由管理员在命令行运行 "
        "<code>unionbot streets bind-code 街道</code> 取得，只能用一次，过期作废。"
    )


def bind_refusal(error: DomainError) -> str:
    if isinstance(error, NotAllowed):
        return _("只有管理员可以绑定群组。")
    if isinstance(error, TooManyBindAttempts):
        if error.scope == "chat":
            text = _(
                "本群一小时内输错绑定码已达 {count} 次。"
                "为防止有人猜测绑定码，请在 {time} 之后再试。"
            )
        else:
            text = _(
                "您一小时内输错绑定码已达 {count} 次。为防止有人猜测绑定码，请在 {time} 之后再试。"
            )
        return text.format(count=error.limit, time=texts.when(error.retry_at))
    if isinstance(error, BindCodeUsed):
        return _("这个绑定码已于 {time} 用过，请重新生成一个。").format(
            time=texts.when(error.used_at)
        )
    if isinstance(error, BindCodeExpired):
        return _("这个绑定码已于 {time} 过期，请重新生成一个。").format(
            time=texts.when(error.expired_at)
        )
    if isinstance(error, ChatTaken) and error.role == "federation":
        return _("本群是区总工会工作群，不能绑定为街道审核群。")
    if isinstance(error, ChatTaken):
        return _("本群已是 {street} 的审核群。").format(street=escape(error.street or "?"))
    if isinstance(error, UnknownBindCode):
        return _("绑定码无效，请核对后重新发送（不区分大小写）。")
    return _("找不到绑定码对应的街道。")


@router.message(Command("bind"))
async def bind_outside_group(message: Message) -> None:
    await message.answer(_("请把机器人加入审核群，由管理员在群里发送 <code>/bind 绑定码</code>。"))


@router.message(ChatMigrated())
async def group_migrated(message: Message, binding: BindingService, menus: CommandMenus) -> None:
    """A group upgraded to a supergroup gets a new id: its binding (and menu) moves along."""
    new_id = message.migrate_to_chat_id
    if new_id is not None and await binding.follow_migration(message.chat.id, new_id, TELEGRAM):
        await menus.try_sync()


# --- the gate: silence where the bot does not serve -----------------------------------


@router.message(NotServedHere())
async def unserved_message(message: Message, binding: BindingService, bot: Bot) -> None:
    # Under privacy mode only commands, replies to the bot and service messages get here.
    if (message.text or "").startswith("/"):
        await _tell_once(bot, message.chat.id, binding)


@router.callback_query(NotServedHere())
async def unserved_button(query: CallbackQuery) -> None:
    await query.answer()  # stops the client's spinner, changes nothing


@router.my_chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION), GROUP, NotServedHere())
async def added_to_group(event: ChatMemberUpdated, binding: BindingService, bot: Bot) -> None:
    await _tell_once(bot, event.chat.id, binding)


# --- roles in chat ---------------------------------------------------------------------


class UsageError(Exception):
    """The command's arguments cannot be understood; the usage text is the answer."""


@dataclass(frozen=True)
class Target:
    user_id: int
    name: str | None


def _target(message: Message, args: list[str]) -> tuple[Target, list[str]]:
    """The person meant: the author of the replied-to message, or a leading user id."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and not replied.from_user.is_bot:
        return Target(replied.from_user.id, replied.from_user.full_name), args
    if args and args[0].isdigit():
        return Target(int(args[0]), None), args[1:]
    raise UsageError()


def _role(word: str) -> str:
    role = ROLE_WORDS.get(word.lower())
    if role is None:
        raise UsageError()
    return role


@dataclass(frozen=True)
class GrantRequest:
    target: Target
    role: str
    street: str | None


async def parse_grant(message: Message, text: str, binding: BindingService) -> GrantRequest:
    target, args = _target(message, text.split())
    if not args:
        raise UsageError()
    role, rest = _role(args[0]), args[1:]
    street = None
    if role == "street":
        # In a review group the street goes without saying.
        street = rest.pop(0) if rest else await binding.street_of_chat(message.chat.id)
        if street is None:
            raise UsageError()
    name = " ".join(rest) or target.name
    return GrantRequest(Target(target.user_id, name), role, street)


def grant_usage() -> str:
    return _(
        "用法：回复某人的消息，发送 <code>/grant street 街道</code>、"
        "<code>/grant federation</code> 或 <code>/grant admin</code>；"
        "撤销用 <code>/revoke</code> 或 <code>/revoke 角色</code>。"
        "也可以直接写用户 ID，例如 <code>/grant 123456 street DS 张三</code>。"
    )


def not_admin() -> str:
    return _("只有管理员可以分配或撤销角色。")


def _who(target: Target) -> str:
    return escape(target.name or str(target.user_id))


@router.message(Command("grant"))
async def grant(
    message: Message, command: CommandObject, binding: BindingService, menus: CommandMenus
) -> None:
    if message.from_user is None:
        return
    if not await binding.is_admin(message.from_user.id):  # grant() checks again
        await message.reply(not_admin())
        return
    try:
        request = await parse_grant(message, command.args or "", binding)
        await binding.grant(
            request.target.user_id,
            request.target.name,
            request.role,
            request.street,
            actor_of(message.from_user),
        )
    except (UsageError, SetupError):
        await message.reply(grant_usage())
        return
    except NotAllowed:
        await message.reply(not_admin())
        return
    except NotFound:
        await message.reply(_("找不到这个街道，请使用街道代码或全称。"))
        return
    roles = await binding.roles(request.target.user_id)
    label = roles_text(roles)
    await message.reply(
        _("✅ 已授予 {who} 角色。现有角色：{roles}").format(who=_who(request.target), roles=label)
    )
    await menus.try_sync()  # their private chat (and groups, for admins) get the commands


@router.message(Command("revoke"))
async def revoke(
    message: Message, command: CommandObject, binding: BindingService, menus: CommandMenus
) -> None:
    if message.from_user is None:
        return
    if not await binding.is_admin(message.from_user.id):  # revoke() checks again
        await message.reply(not_admin())
        return
    try:
        target, args = _target(message, (command.args or "").split())
        role = _role(args[0]) if args else None
        count = await binding.revoke(target.user_id, role, actor_of(message.from_user))
    except UsageError:
        await message.reply(grant_usage())
        return
    except NotAllowed:
        await message.reply(not_admin())
        return
    except LastAdmin:
        await message.reply(_("不能撤销最后一位管理员的角色；请先授予其他人管理员角色。"))
        return
    if count == 0:
        await message.reply(_("{who} 没有可撤销的角色。").format(who=_who(target)))
    else:
        await message.reply(
            _("已撤销 {who} 的 {count} 个角色，立即生效。").format(who=_who(target), count=count)
        )
        await menus.try_sync()  # back to the worker menu, or fewer staff commands


@router.message(Command("whoami"))
async def whoami(message: Message, binding: BindingService) -> None:
    if message.from_user is None:
        return
    user_id = message.from_user.id
    roles = await binding.roles(user_id)
    text = _("您的用户 ID：<code>{id}</code>").format(id=user_id) + "\n"
    if roles:
        text += _("您的角色：{roles}").format(roles=roles_text(roles))
    else:
        text += _("您目前没有工作人员角色。")
    await message.reply(text)
