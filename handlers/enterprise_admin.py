"""Federation staff in the federation group: /search the registry, /merge duplicates,
/confirm an enterprise that workers named so that other workers are offered it, /alias
to list, add and remove the other names workers call an enterprise by, and to decide the
names learned from staff corrections (also with the buttons under each proposal).

Every command and every button press checks the role on the server; callback data is
only a request, never a permission.
"""

from __future__ import annotations

from html import escape

from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    User,
)

from bot import timefmt
from bot.callbacks import AliasCb
from bot.i18n import translate as _
from bot.pii import mask_numbers
from bot.services.alias_proposals import AliasProposalService, ProposalDecided, ProposalView
from bot.services.audit import Actor
from bot.services.enterprises import (
    AliasRefused,
    EnterpriseInfo,
    EnterpriseService,
    MergeRefused,
    split_aliases,
)
from bot.services.errors import NotAllowed, NotFound
from bot.services.outbox import CardRef
from handlers.buttons import forged, pressed_on
from handlers.filters import InFederationChat
from handlers.registry import Handlers
from handlers.review import actor_of

router = Handlers("enterprise_admin")

SEARCH_LIMIT = 10
MAX_QUERY = 100


class MergeCb(CallbackData, prefix="em"):
    action: str  # do | cancel
    src: int
    dst: int


router.filter("message", InFederationChat())
router.filter("callback_query", InFederationChat())


def _not_staff() -> str:
    return _("只有区总工会工作人员和管理员可以使用此功能。")


def _line(info: EnterpriseInfo) -> str:
    marks = [_("{count} 人").format(count=info.member_count)]
    if info.provisional:
        marks.append(_("临时") if info.confirmed else _("临时，未确认"))
    if info.status != "active":
        marks.append(_("已注销") if info.status == "closed" else _("已迁出"))
    name = escape(mask_numbers(info.name))  # a worker's number typed before it was refused
    return f"<code>{info.id}</code> {name} · " + " · ".join(marks)


def _refusal(error: Exception) -> str:
    if isinstance(error, MergeRefused):
        if error.reason == "self":
            return _("不能把企业并入它自己。")
        return _("企业 {id} 已并入 {into}，不能再作为合并的一方。").format(
            id=error.enterprise_id, into=error.into
        )
    if isinstance(error, NotAllowed):
        return _not_staff()
    return _("找不到这家企业。")


async def _is_staff(user: User | None, enterprises: EnterpriseService) -> bool:
    return user is not None and await enterprises.is_federation_staff(user.id)


@router.message(Command("search"))
async def search(message: Message, command: CommandObject, enterprises: EnterpriseService) -> None:
    if not await _is_staff(message.from_user, enterprises):
        await message.reply(_not_staff())
        return
    text = (command.args or "").strip()[:MAX_QUERY]
    if not text:
        await message.reply(_("用法：/search 企业名称、拼音、编号或统一社会信用代码"))
        return
    hits = await enterprises.search(text, limit=SEARCH_LIMIT)
    if not hits:
        await message.reply(_("没有找到匹配的企业。"))
        return
    await message.reply("\n".join(_line(hit.enterprise) for hit in hits))


@router.message(Command("confirm"))
async def confirm(message: Message, command: CommandObject, enterprises: EnterpriseService) -> None:
    """A provisional enterprise (typed by a worker) is confirmed as a real employer: from
    now on workers are offered it as a button."""
    if not await _is_staff(message.from_user, enterprises) or message.from_user is None:
        await message.reply(_not_staff())
        return
    ref = (command.args or "").strip()
    if not ref or len(ref.split()) != 1:
        await message.reply(_("用法：/confirm 企业编号（先用 /search 查找）"))
        return
    try:
        info, changed = await enterprises.confirm(ref, actor_of(message.from_user))
    except (NotAllowed, NotFound) as error:
        await message.reply(_refusal(error))
        return
    if not info.provisional:
        text = _("这家企业已在企业库中登记，无需确认。")
    elif changed:
        text = _("已确认，职工填写单位时将可以选择这家企业：")
    else:
        text = _("这家企业此前已确认：")
    await message.reply(f"{text}\n{_line(info)}")


@router.message(Command("merge"))
async def merge(message: Message, command: CommandObject, enterprises: EnterpriseService) -> None:
    if not await _is_staff(message.from_user, enterprises):
        await message.reply(_not_staff())
        return
    refs = (command.args or "").split()
    if len(refs) != 2:
        await message.reply(_("用法：/merge 源企业编号 目标企业编号"))
        return
    try:
        source, target = await enterprises.merge_preview(refs[0], refs[1])
    except (MergeRefused, NotFound) as error:
        await message.reply(_refusal(error))
        return
    buttons = [
        InlineKeyboardButton(
            text=_("确认合并"),
            callback_data=MergeCb(action="do", src=source.id, dst=target.id).pack(),
        ),
        InlineKeyboardButton(
            text=_("取消"),
            callback_data=MergeCb(action="cancel", src=source.id, dst=target.id).pack(),
        ),
    ]
    await message.reply(
        _("把下面第一家企业的会员和申请并入第二家？合并后不能撤销。")
        + f"\n{_line(source)}\n→ {_line(target)}",
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]),
    )


async def _forged_merge_answer(callback_data: MergeCb, enterprises: EnterpriseService) -> str:
    """Why a press that is not on its confirmation changes nothing: the merge's own
    refusal when there is one (a second press after merging: already merged), else that
    the button is no longer valid."""
    if callback_data.action == "do":
        try:
            await enterprises.merge_preview(callback_data.src, callback_data.dst)
        except (MergeRefused, NotFound) as error:
            return _refusal(error)
    return _("这个按钮已失效，请使用合并确认消息下方的按钮。")


@router.callback_query(MergeCb.filter())
async def merge_pressed(
    query: CallbackQuery, callback_data: MergeCb, enterprises: EnterpriseService
) -> None:
    if not await _is_staff(query.from_user, enterprises):
        await query.answer(_not_staff(), show_alert=True)
        return
    if forged(query):  # not on this confirmation: it would rewrite another message
        await query.answer(await _forged_merge_answer(callback_data, enterprises), show_alert=True)
        return
    message = pressed_on(query)
    if callback_data.action == "cancel":
        await query.answer()
        if message is not None:
            await message.edit_text(_("已取消合并。"))
        return
    if callback_data.action != "do":
        await query.answer(_("这个按钮已失效。"), show_alert=True)
        return
    try:
        result = await enterprises.merge(
            callback_data.src, callback_data.dst, actor_of(query.from_user)
        )
    except (MergeRefused, NotAllowed, NotFound) as error:
        await query.answer(_refusal(error), show_alert=True)
        return
    await query.answer()
    if message is not None:
        target = await enterprises.get(result.target_id)
        await message.edit_text(
            _("已合并，由 {who} 操作。").format(who=escape(query.from_user.full_name))
            + f"\n{_line(target)}"
        )


def _alias_usage() -> str:
    return _(
        "用法：\n/alias 企业编号 — 查看别名\n"
        "/alias 企业编号 + 别名 — 添加（多个用“；”或“、”分隔）\n"
        "/alias 企业编号 - 别名 — 删除\n"
        "/alias ok 建议编号 或 /alias no 建议编号 — 采用或不采用别名建议\n"
        "别名是职工对单位的常用叫法，如品牌、门店名或英文名。"
    )


def _alias_refusal(error: AliasRefused) -> str:
    alias = escape(error.alias)
    if error.reason == "too_long":
        return _("别名太长了，最多 100 个字。")
    if error.reason == "duplicate":
        return _("“{alias}”已经是这家企业的别名。").format(alias=alias)
    if error.reason == "missing":
        return _("“{alias}”不是这家企业的别名。").format(alias=alias)
    if error.reason == "taken" and error.other is not None:
        return _("“{alias}”已是企业 <code>{id}</code> {name} 的别名。").format(
            alias=alias, id=error.other[0], name=escape(mask_numbers(error.other[1]))
        )
    return _("请写出别名，例如品牌名或英文名。")


def _decision_refusal(error: Exception, not_found: str) -> str:
    """Why a decision on a proposal (a command or a press) changed nothing."""
    if isinstance(error, ProposalDecided):
        what = _("采用") if error.status == "accepted" else _("不采用")
        return _("这条建议已由 {who} 于 {time} 处理（{what}）。").format(
            who=escape(error.by), time=timefmt.minute(error.at), what=what
        )
    if isinstance(error, AliasRefused):
        return _alias_refusal(error)
    if isinstance(error, NotAllowed):
        return _not_staff()
    return not_found


def _proposal_line(proposal: ProposalView) -> str:
    return _("#{id} “{alias}” → <code>{enterprise}</code> {name}").format(
        id=proposal.id,
        alias=escape(proposal.alias),
        enterprise=proposal.enterprise_id,
        name=escape(mask_numbers(proposal.enterprise_name)),
    )


async def _pending_text(proposals: AliasProposalService) -> str:
    waiting, total = await proposals.pending()
    if not waiting:
        return _("目前没有待处理的别名建议。")
    lines = [_("待处理的别名建议（共 {total} 条）：").format(total=total)]
    lines += [_proposal_line(proposal) for proposal in waiting]
    if total > len(waiting):
        lines.append(_("……处理完上面的建议后，再发 /alias 查看其余的。"))
    return "\n".join(lines)


async def _decide_by_command(
    message: Message, verb: str, ref: str, proposals: AliasProposalService, actor: Actor
) -> None:
    if not ref.isdigit() or len(ref) > 18:
        await message.reply(_alias_usage())
        return
    try:
        proposal = await proposals.decide(int(ref), verb == "ok", actor)
    except (ProposalDecided, AliasRefused, NotAllowed, NotFound) as error:
        await message.reply(_decision_refusal(error, _("找不到这条别名建议。")))
        return
    done = _("已采用为别名：") if proposal.status == "accepted" else _("已不采用：")
    await message.reply(done + _proposal_line(proposal))


@router.message(Command("alias"))
async def alias(
    message: Message,
    command: CommandObject,
    enterprises: EnterpriseService,
    alias_proposals: AliasProposalService,
) -> None:
    """/alias REF lists an enterprise's other names; /alias REF + A；B adds, - A removes;
    /alias alone lists the proposals waiting, /alias ok|no N decides one."""
    if not await _is_staff(message.from_user, enterprises) or message.from_user is None:
        await message.reply(_not_staff())
        return
    ref, _space, rest = (command.args or "").strip().partition(" ")
    actor = actor_of(message.from_user)
    if not ref:
        await message.reply(_alias_usage() + "\n\n" + await _pending_text(alias_proposals))
        return
    if ref.lower() in ("ok", "no"):
        await _decide_by_command(message, ref.lower(), rest.strip(), alias_proposals, actor)
        return
    sign, text = rest.strip()[:1], rest.strip()[1:].strip()
    if rest.strip() and sign not in "+-":
        await message.reply(_alias_usage())
        return
    try:
        if sign == "+":
            await enterprises.add_aliases(ref, split_aliases(text), actor)
        elif sign == "-":
            await enterprises.remove_alias(ref, text, actor)
        info = await enterprises.get(ref)
        names = [a.alias for a in await enterprises.aliases(ref)]
    except AliasRefused as error:
        await message.reply(_alias_refusal(error))
        return
    except (MergeRefused, NotAllowed, NotFound) as error:
        await message.reply(_refusal(error))
        return
    lines = [{"+": _("已添加。"), "-": _("已删除。")}[sign]] if sign else []
    listed = "、".join(escape(name) for name in names) if names else _("（还没有别名）")
    lines += [_line(info), _("别名：") + listed]
    await message.reply("\n".join(lines))


@router.callback_query(AliasCb.filter())
async def alias_pressed(
    query: CallbackQuery, callback_data: AliasCb, alias_proposals: AliasProposalService
) -> None:
    """✅ 采用为别名 / ✖️ 不采用 under a proposal; the message is edited through the outbox."""
    actor = actor_of(query.from_user)
    message = pressed_on(query)
    try:
        if callback_data.action not in ("ok", "no"):
            raise NotFound("action")
        if forged(query):  # not on this proposal: it would rewrite another message
            await alias_proposals.check(callback_data.proposal, actor)
            await query.answer(_("这个按钮已失效，请使用别名建议下方的按钮。"), show_alert=True)
            return
        card = CardRef(message.chat.id, message.message_id) if message is not None else None
        proposal = await alias_proposals.decide(
            callback_data.proposal, callback_data.action == "ok", actor, card
        )
    except (ProposalDecided, AliasRefused, NotAllowed, NotFound) as error:
        await query.answer(_decision_refusal(error, _("这个按钮已失效。")), show_alert=True)
    else:
        accepted = proposal.status == "accepted"
        await query.answer(_("已采用为别名。") if accepted else _("已记录：不采用。"))
