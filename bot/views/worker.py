"""Messages to the worker that the outbox delivers."""

from __future__ import annotations

from html import escape

from bot import timefmt
from bot.i18n import translate as _
from bot.services.cards import CardFacts
from bot.services.service_cards import FourOnes
from bot.union_names import street_union_name
from bot.views.review import reason_label, reason_with_note


def received_text(number: str, street: str) -> str:
    return _(
        "📮 您的入会申请已提交，申请编号 <b>{number}</b>。\n"
        "{union}工作人员将尽快审核，结果会在这里通知您。发送 /status 可随时查看进度。"
    ).format(number=escape(number), union=escape(street_union_name(street)))


def approved_text(number: str, member_number: str, union_name: str) -> str:
    return _(
        "🎉 恭喜！您的入会申请 {number} 已通过审核。\n"
        "会员编号：<b>{member_number}</b>\n所属工会：{union}\n"
        "您的电子会员卡随后发送；发送 /card 可再次领取，/status 查看“四个一”会员服务。"
    ).format(number=escape(number), member_number=escape(member_number), union=escape(union_name))


def rejected_text(number: str, reason: str | None, note: str | None) -> str:
    why = reason_label(reason)
    if note:
        why = reason_with_note(why, note)
    return _(
        "很抱歉，您的入会申请 {number} 未通过审核。\n原因：{why}\n"
        "您可以补充或更正信息后重新申请：发送 /start 即可。"
    ).format(number=escape(number), why=why)


def moved_text(
    member_number: str, from_union: str | None, to_union: str, corrected: bool = False
) -> str:
    """The member's membership moved to the union founded at their enterprise, or was
    corrected (a past error had registered them in another enterprise's union)."""
    if corrected:
        lines = [
            _("🔄 <b>您的会籍已更正为{union}</b>").format(union=escape(to_union)),
            _("此前系统错误地把您登记在了其他企业的工会，现已更正，特此致歉。"),
        ]
    else:
        lines = [
            _("🔄 <b>您的会籍已转入{union}</b>").format(union=escape(to_union)),
            _("您所在的企业已经建立工会，按规定会籍随之转入企业工会。"),
        ]
    if from_union:
        lines.append(_("原所属工会：{union}").format(union=escape(from_union)))
    lines.append(
        _("会员编号不变：{number}。新的电子会员卡如下，旧卡扫码时会显示会籍去向。").format(
            number=member_number
        )
    )
    return "\n".join(lines)


def card_caption(card: CardFacts) -> str:
    return _("您的电子会员卡（{number}，{date} 入会）。出示二维码即可验证。").format(
        number=escape(card.member_number), date=timefmt.day(card.joined_at)
    )


def four_ones_text(items: FourOnes) -> str:
    """The "four ones" with each item's real state."""
    card_states = {
        None: _("⏳ 一张会员服务卡：发送 /servicecard 申领"),
        "requested": _("⏳ 一张会员服务卡：已申领，等待街道总工会报送"),
        "batched": _("⏳ 一张会员服务卡：已报送市总工会制卡"),
        "sent": _("⏳ 一张会员服务卡：正在制卡"),
        "arrived": _("📬 一张会员服务卡：已到达服务站，请携带身份证领取"),
    }
    service_card = (
        _("✅ 一张会员服务卡（{date} 领取）").format(date=items.service_card_on)
        if items.service_card == "collected" and items.service_card_on
        else card_states.get(items.service_card, card_states[None])
    )
    return "\n".join(
        [
            _("“四个一”会员服务："),
            _("✅ 一张会员卡（{date} 入会）").format(date=items.card_since),
            service_card,
            _("✅ 一项普惠制服务（{date} 享受）").format(date=items.benefit_on)
            if items.benefit_on
            else _("⏳ 一项普惠制服务：发送 /benefits 查看可领取的服务"),
            _("✅ 一次工会活动（{date} 参加）").format(date=items.activity_on)
            if items.activity_on
            else _("⏳ 一次工会活动：发送 /activities 查看可报名的活动"),
        ]
    )


def service_card_arrived_text(street: str, contact: str | None) -> str:
    text = _("📬 您的会员服务卡已到达{street}工会服务站，请携带身份证前往领取。").format(
        street=escape(street)
    )
    if contact:
        text += _("联系方式：{contact}").format(contact=escape(contact))
    return text
