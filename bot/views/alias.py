"""An alias proposal in the federation group: a name learned from a staff correction."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.callbacks import AliasCb
from bot.i18n import translate as _
from bot.services.alias_proposals import ProposalView


def proposal_text(proposal: ProposalView) -> str:
    alias = escape(proposal.alias)
    if proposal.origin == "merge":
        origin = _("临时企业 {id} 并入时的名称").format(id=escape(proposal.origin_ref))
    else:
        origin = _("申请 {number} 中职工填写的单位，审核人员改为此企业").format(
            number=escape(proposal.origin_ref)
        )
    lines = [
        _("🏷 <b>别名建议</b>"),
        _("职工的叫法：“{alias}”").format(alias=alias),
        _("企业：<code>{id}</code> {name}").format(
            id=proposal.enterprise_id, name=escape(proposal.enterprise_name)
        ),
        _("来源：{origin}（{who}）").format(origin=origin, who=escape(proposal.proposed_by)),
    ]
    if proposal.status == "proposed":
        lines.append(_("采用后，职工输入“{alias}”即可直接找到这家企业。").format(alias=alias))
    elif proposal.decided_at is not None:
        done = _("✅ 已采用为别名") if proposal.status == "accepted" else _("✖️ 未采用")
        lines.append(
            _("\n<b>{done}</b>，{who}（{time}）").format(
                done=done,
                who=escape(proposal.decided_by or "?"),
                time=timefmt.minute(proposal.decided_at),
            )
        )
    return "\n".join(lines)


def proposal_keyboard(proposal: ProposalView) -> InlineKeyboardMarkup | None:
    if proposal.status != "proposed":
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✅ 采用为别名"),
                    callback_data=AliasCb(action="ok", proposal=proposal.id).pack(),
                ),
                InlineKeyboardButton(
                    text=_("✖️ 不采用"),
                    callback_data=AliasCb(action="no", proposal=proposal.id).pack(),
                ),
            ]
        ]
    )
