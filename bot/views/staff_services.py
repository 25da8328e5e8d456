"""What staff read in their group chats about the street's side of the "four ones": the
member service card in a street's review group (/servicecards) and the activity subsidy
in the federation group (/budget, /book, /ledger). Pure functions of plain data; anything
a person typed is escaped."""

from __future__ import annotations

from collections import defaultdict
from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.i18n import translate as _
from bot.money import yuan
from bot.services.service_cards import Batch, ServiceCardRefused, StreetCards
from bot.services.subsidy import Posting, StreetRow, SubsidyRefused

MAX_BATCHES = 30  # listed in /servicecards; the rest are counted (Telegram's 4096 characters)
MAX_TYPED = 40  # characters of a typed reference shown back


class StreetCardsCb(CallbackData, prefix="sv"):
    """The review group's /servicecards message: export the waiting requests (export)."""

    action: str


def typed(text: str) -> str:
    """What someone typed, shown back safely and briefly."""
    text = " ".join(text.split())
    return escape(text if len(text) <= MAX_TYPED else text[: MAX_TYPED - 1] + "…")


# ---------------------------------------------------------------------------- service cards


def only_in_review_group() -> str:
    return _("这个命令只能在街道审核群中使用。")


def cards_not_staff() -> str:
    return _("只有本街道总工会的工作人员或区总工会工作人员可以办理会员服务卡报送。")


def cards_usage() -> str:
    return _(
        "用法：\n"
        "<code>/servicecards</code> 查看本街道的会员服务卡申领和批次\n"
        "<code>/servicecards sent 批次号</code> 批次已报送市总工会\n"
        "<code>/servicecards arrived 批次号</code> 批次的卡已到服务站（会员会收到领取通知）\n"
        "<code>/servicecards collected 会员编号</code> 会员已领卡\n"
        "<code>/servicecards file 批次号</code> 重新发送批次的 Excel 文件"
    )


def _batch_status(status: str, collected: int, cards: int) -> str:
    if status == "batched":
        return _("已导出，待报送市总工会")
    if status == "sent":
        return _("已报送市总工会制卡")
    return _("已到达服务站，已领取 {done}/{cards}").format(done=collected, cards=cards)


def overview_text(cards: StreetCards) -> str:
    counts = cards.counts
    lines = [
        _("<b>{street}会员服务卡</b>").format(street=escape(cards.street)),
        _("等待报送：{n}").format(n=counts.get("requested", 0)),
        _("已导出待报送：{n}").format(n=counts.get("batched", 0)),
        _("已报送制卡：{n}").format(n=counts.get("sent", 0)),
        _("已到达待领取：{n}").format(n=counts.get("arrived", 0)),
        _("已领取：{n}").format(n=counts.get("collected", 0)),
        "",
    ]
    if cards.batches:
        lines.append(_("<b>未办结的批次</b>"))
        for batch in cards.batches[:MAX_BATCHES]:
            lines.append(
                _("{number} · {cards} 张 · {status}（{day} 导出）").format(
                    number=batch.number,
                    cards=batch.cards,
                    status=_batch_status(batch.status, batch.collected, batch.cards),
                    day=timefmt.day(batch.created_at),
                )
            )
        more = len(cards.batches) - MAX_BATCHES
        if more > 0:
            lines.append(_("……另有 {n} 个批次").format(n=more))
    else:
        lines.append(_("没有未办结的批次。"))
    lines += ["", cards_usage()]
    return "\n".join(lines)


def overview_keyboard(cards: StreetCards) -> InlineKeyboardMarkup | None:
    if not cards.counts.get("requested"):
        return None
    button = InlineKeyboardButton(
        text=_("导出新批次"), callback_data=StreetCardsCb(action="export").pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def batch_caption(batch: Batch, *, again: bool = False) -> str:
    text = _(
        "📄 批次 {number}：{street} {cards} 张会员服务卡申领，身份证号和手机号已打码。"
    ).format(number=batch.number, street=escape(batch.street), cards=batch.cards)
    if again:
        return _("（重新发送）") + text
    return (
        text
        + "\n"
        + _("报送市总工会后请发送 <code>/servicecards sent {number}</code>。").format(
            number=batch.number
        )
    )


def exported_toast(batch: Batch) -> str:
    return _("已导出批次 {number}（{cards} 张）").format(number=batch.number, cards=batch.cards)


def nothing_waiting() -> str:
    return _("没有等待报送的申领，可能已由其他工作人员导出。")


def stale_button() -> str:
    return _("这个按钮已失效，请发送 /servicecards 重新查看。")


def marked_text(number: str, step: str, cards: int) -> str:
    if step == "sent":
        return _("✅ 批次 {number}（{cards} 张）已记为报送市总工会。").format(
            number=number, cards=cards
        )
    return _("✅ 批次 {number}（{cards} 张）已到达服务站，已通知会员前来领取。").format(
        number=number, cards=cards
    )


def collected_text(member_number: str) -> str:
    return _("✅ 会员 {number} 已领取会员服务卡。").format(number=typed(member_number.upper()))


def no_member(ref: str) -> str:
    return _("找不到会员编号 {number}，请核对（例如 DS-2026-00001）。").format(number=typed(ref))


def card_refusal(error: ServiceCardRefused, ref: str) -> str:
    status = str(error.extra.get("status") or "")
    now = {
        "requested": _("等待报送"), "batched": _("已导出待报送"), "sent": _("已报送制卡"),
        "arrived": _("已到达待领取"), "collected": _("已领取"),
    }.get(status, _("未申领"))  # fmt: skip
    texts = {
        "nothing": nothing_waiting(),
        "batch": _("找不到批次 {number}，请核对（例如 JK-DS-00001）。").format(number=typed(ref)),
        "street": _("{ref} 不属于本街道，请在所属街道的审核群中办理。").format(ref=typed(ref)),
        "order": _("{ref} 现在的状态是“{now}”，不能办理这一步。").format(ref=typed(ref), now=now),
        "collected": _("会员 {ref} 已经领取过会员服务卡。").format(ref=typed(ref)),
    }
    return texts.get(error.code, _("未能办理，请核对后重试。"))


# ---------------------------------------------------------------------------- the subsidy


def federation_only() -> str:
    return _("只有区总工会工作人员可以管理活动经费补贴。")


def budget_usage() -> str:
    return _(
        "用法：\n"
        "<code>/budget</code> 查看今年各街道的预算、已用和余额"
        "（<code>/budget 2026</code> 查看某一年）\n"
        "<code>/budget 街道 年度 金额</code> 设置街道的年度预算，例如 "
        "<code>/budget DS 2026 20000</code>（金额以元为单位，可写 1,200.50）"
    )


def book_usage() -> str:
    return _(
        "用法：<code>/book 活动编号 费用 [备注]</code>，"
        "例如 <code>/book 12 1,200.50 场地费</code>。"
        "费用以元为单位，由签到的会员分摊；活动结束、签到名单确定后才能记账。"
    )


def ledger_usage() -> str:
    return _("用法：<code>/ledger</code>（全部年度）或 <code>/ledger 2026</code>（某一年）。")


def bad_amount(text: str) -> str:
    return _(
        "金额“{amount}”看不懂：请用元为单位的数字，最多两位小数，例如 20000 或 1,200.50。"
    ).format(amount=typed(text))


def bad_year(text: str) -> str:
    return _("年度“{year}”不对，请写四位数的年份，例如 2026。").format(year=typed(text))


def no_street(ref: str) -> str:
    return _("找不到街道“{street}”，请用街道代码（例如 DS）或全称（例如 德胜街道）。").format(
        street=typed(ref)
    )


def note_too_long(limit: int) -> str:
    return _("备注太长了，最多 {limit} 个字。").format(limit=limit)


def budget_report(year: int, rows: list[StreetRow]) -> str:
    lines = [
        _("<b>{year} 年活动经费补贴（按街道）</b>").format(year=year),
        _("预算 / 已用 / 余额 · 活动数 · 参加人次"),
    ]
    for row in rows:
        lines.append(
            _(
                "{street}：{budget} / {spent} / {remaining} · {activities} 项 · {attendees} 人次"
            ).format(
                street=escape(row.street),
                budget=yuan(row.budget_fen),
                spent=yuan(row.spent_fen),
                remaining=yuan(row.remaining_fen),
                activities=row.activities,
                attendees=row.attendees,
            )
        )
    if not rows:
        lines.append(_("还没有街道。"))
    else:
        lines.append(
            _("合计：{budget} / {spent} / {remaining}").format(
                budget=yuan(sum(r.budget_fen for r in rows)),
                spent=yuan(sum(r.spent_fen for r in rows)),
                remaining=yuan(sum(r.remaining_fen for r in rows)),
            )
        )
    return "\n".join(lines)


def budget_set(ref: str, year: int, amount_fen: int) -> str:
    return _("✅ 已设置 {street} {year} 年的活动经费预算：{amount}。").format(
        street=typed(ref), year=year, amount=yuan(amount_fen)
    )


def booked_text(posting: Posting) -> str:
    by_street: dict[str, int] = defaultdict(int)
    for share in posting.shares:
        by_street[share.street] += share.amount_fen
    amounts = sorted({share.amount_fen for share in posting.shares})
    each = yuan(amounts[0]) if len(amounts) == 1 else f"{yuan(amounts[0])} – {yuan(amounts[-1])}"
    lines = [
        _(
            "✅ 已记账（记账编号 {posting}）：活动 {activity} 的费用 {amount}，"
            "由 {count} 名签到会员分摊，每人 {each}。"
        ).format(
            posting=posting.id,
            activity=posting.activity_id,
            amount=yuan(posting.amount_fen),
            count=posting.attendees,
            each=each,
        )
    ]
    for street, fen in sorted(by_street.items()):
        lines.append(_("{street}：{amount}").format(street=escape(street), amount=yuan(fen)))
    return "\n".join(lines)


def subsidy_refusal(error: SubsidyRefused) -> str:
    extra = error.extra
    status = {"open": _("进行中"), "cancelled": _("已取消")}.get(str(extra.get("status")), "")
    texts = {
        "unknown": _("找不到这项活动，请核对活动编号。"),
        "not_closed": _(
            "这项活动还没有结束（{status}）。签到名单确定、活动结束后才能记账。"
        ).format(status=status or escape(str(extra.get("status") or ""))),
        "booked": _(
            "这项活动已经记账 {net}。如需更正，请先在命令行退款或冲正"
            "（unionbot subsidy refund 或 reverse）。"
        ).format(net=yuan(int(extra.get("net_fen") or 0))),
        "no_attendance": _("这项活动没有会员签到，费用无人分摊，不能记账。"),
        "amount": _("金额必须大于 0。"),
        "negative": _("预算不能是负数。"),
        "year": _("年度不对，请写 2000 到 2100 之间的年份。"),
    }
    if error.code == "overspent":
        return _(
            "抱歉，未记账：{street} {year} 年的活动经费预算只剩 {remaining}，这次需要 {needed}。"
            "请先调整预算或核对费用。"
        ).format(
            street=escape(str(extra.get("street") or "")),
            year=extra.get("year"),
            remaining=yuan(int(extra.get("remaining_fen") or 0)),
            needed=yuan(int(extra.get("needed_fen") or 0)),
        )
    if error.code == "spent":
        return _("{street} {year} 年已经用了 {spent}，预算不能低于已用金额。").format(
            street=escape(str(extra.get("street") or "")),
            year=extra.get("year"),
            spent=yuan(int(extra.get("spent_fen") or 0)),
        )
    return texts.get(error.code, _("未能办理，请核对后重试。"))


def ledger_caption(year: int | None) -> str:
    which = _("{year} 年").format(year=year) if year is not None else _("全部年度")
    return _("📒 活动经费补贴台账（{which}）：明细、按街道、按活动三张表，只含会员编号。").format(
        which=which
    )
