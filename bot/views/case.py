"""A founding case's card and the case list, in the federation group."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.callbacks import CaseCb
from bot.founding_facts import FactError
from bot.i18n import translate as _
from bot.services.founding import CaseRefused, CaseView
from models.founding import CASE_STAGES, PAUSE_REASONS

NOTES_SHOWN = 3


def stage_label(stage: str) -> str:
    labels = {
        "following": _("跟进中"),
        "preparing": _("筹备中"),
        "assembly": _("会员大会已召开"),
        "approved": _("上级工会已批复"),
        "founded": _("工会已成立"),
    }
    return labels.get(stage, stage)


def pause_label(reason: str | None) -> str:
    labels = {
        "refused": _("企业拒绝"),
        "closed": _("企业注销或停业"),
        "moved_out": _("企业迁出"),
        "too_few": _("会员人数不足"),
        "other": _("其他原因"),
    }
    return labels.get(reason or "", reason or "")


def advance_label(stage: str) -> str:
    """The button that records the next stage."""
    labels = {
        "preparing": _("➡️ 筹备组已批准"),
        "assembly": _("➡️ 会员大会已召开"),
        "approved": _("➡️ 上级工会已批复"),
        "founded": _("➡️ 工会已成立"),
    }
    return labels[stage]


def _people(group: list[Any]) -> str:
    separator = _("、")
    return separator.join(
        _("{name}（{role}）").format(name=escape(name), role=escape(role)) for name, role in group
    )


def _stage_facts(stage: str, recorded: dict[str, Any]) -> str:
    separator = _("、")
    if stage == "preparing":
        return _("{date} 批准；筹备组：{people}").format(
            date=recorded["date"], people=_people(recorded.get("group", []))
        )
    if stage == "assembly":
        return _("{date} 召开；主席：{chair}；委员：{committee}").format(
            date=recorded["date"],
            chair=escape(recorded["chair"]),
            committee=separator.join(escape(n) for n in recorded.get("committee", [])),
        )
    if stage == "approved":
        return _("{date} 批复，文号 {document}").format(
            date=recorded["date"], document=escape(recorded["document"])
        )
    if stage == "founded":
        return _("{date} 成立：{name}（{uscc}），联系人 {contact}").format(
            date=recorded["date"],
            name=escape(recorded["name"]),
            uscc=recorded["uscc"],
            contact=escape(recorded["contact"]),
        )
    return ""


def case_text(case: CaseView, now: datetime) -> str:
    lines = [
        _("🏗 <b>建会工作 #{id}：{enterprise}</b>").format(
            id=case.id, enterprise=escape(case.enterprise)
        ),
    ]
    if case.uscc:
        lines.append(_("统一社会信用代码：{uscc}").format(uscc=case.uscc))
    status = stage_label(case.stage)
    if case.paused:
        status = _("⏸ 暂缓（{reason}），停在：{stage}").format(
            reason=pause_label(case.pause_reason), stage=status
        )
    step = CASE_STAGES.index(case.stage) + 1
    lines += [
        _("阶段：{status}（第 {step}/{steps} 步，已 {days} 天）").format(
            status=status, step=step, steps=len(CASE_STAGES), days=case.days_in_stage(now)
        ),
        _("负责人：{owner}").format(owner=escape(case.owner_name or _("未指定"))),
        _("单体会员：{count} 人").format(count=case.member_count),
    ]
    if case.paused and case.pause_note:
        lines.append(_("暂缓说明：{note}").format(note=escape(case.pause_note)))
    reached = CASE_STAGES[1 : CASE_STAGES.index(case.stage) + 1]
    if reached:
        lines.append("")
    for stage in reached:
        recorded = case.facts.get(stage)
        if recorded:
            lines.append(f"✅ {stage_label(stage)}：{_stage_facts(stage, recorded)}")
    if case.stage == "founded":
        lines.append(_transfer_line(case))
    notes = case.notes[-NOTES_SHOWN:]
    if notes:
        lines.append("")
        lines.append(_("最近记录："))
        for note in notes:
            at = datetime.fromisoformat(note["at"])
            lines.append(f"• {timefmt.day(at)} {escape(note['by'])}：{escape(note['text'])}")
    return "\n".join(lines)


def _transfer_line(case: CaseView) -> str:
    if case.transfer_status == "done" and case.to_transfer == 0:
        return _("📦 会籍接转已完成：{moved} 名会员转入企业工会。").format(moved=case.transferred)
    if case.transfer_status is not None:
        return _("📦 会籍接转进行中：已转入 {moved} 人，还有 {left} 人。").format(
            moved=case.transferred, left=case.to_transfer
        )
    return _("📦 会籍接转：{left} 名会员待转入企业工会。").format(left=case.to_transfer)


def case_keyboard(case: CaseView) -> InlineKeyboardMarkup | None:
    if not case.open:
        if case.transfer_status is None and case.to_transfer:
            data = CaseCb(action="move", case=case.id, v=case.version).pack()
            button = InlineKeyboardButton(text=_("📦 会籍接转"), callback_data=data)
            return InlineKeyboardMarkup(inline_keyboard=[[button]])
        return None

    def button(text: str, action: str, value: str = "") -> InlineKeyboardButton:
        data = CaseCb(action=action, case=case.id, v=case.version, value=value).pack()
        return InlineKeyboardButton(text=text, callback_data=data)

    if case.paused:
        rows = [[button(_("▶️ 恢复"), "resume")], [button(_("📝 记录进展"), "note")]]
        return InlineKeyboardMarkup(inline_keyboard=rows)
    following = CASE_STAGES[CASE_STAGES.index(case.stage) + 1]
    rows = [[button(advance_label(following), "adv")]]
    second = [button(_("📝 记录进展"), "note")]
    if case.stage != "following":
        second.append(button(_("⬅️ 退回上一步"), "back"))
    rows.append(second)
    rows.append([button(_("⏸ 暂缓"), "pause"), button(_("🙋 由我负责"), "own")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def pause_keyboard(case: CaseView) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=pause_label(reason),
                callback_data=CaseCb(
                    action="reason", case=case.id, v=case.version, value=reason
                ).pack(),
            )
        ]
        for reason in PAUSE_REASONS
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=_("↩️ 返回"),
                callback_data=CaseCb(action="card", case=case.id, v=case.version).pack(),
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def relatives_keyboard(case_id: int, version: int) -> InlineKeyboardMarkup:
    def button(text: str, value: str) -> InlineKeyboardButton:
        data = CaseCb(action="rel", case=case_id, v=version, value=value).pack()
        return InlineKeyboardButton(text=text, callback_data=data)

    row = [button(_("没有"), "no"), button(_("有近亲属"), "yes")]
    return InlineKeyboardMarkup(inline_keyboard=[row])


def case_list_text(cases: list[CaseView], now: datetime, overdue: set[int]) -> str:
    if not cases:
        return _("目前没有进行中的建会工作。")
    lines = [_("🏗 <b>进行中的建会工作（{count}）</b>").format(count=len(cases))]
    for case in cases:
        stage = stage_label(case.stage)
        if case.paused:
            stage = _("⏸ 暂缓（{stage}）").format(stage=stage)
        mark = " ⏰" if case.id in overdue else ""
        lines.append(
            _("#{id} {enterprise} — {stage}，{days} 天；负责人 {owner}{mark}").format(
                id=case.id,
                enterprise=escape(case.enterprise),
                stage=stage,
                days=case.days_in_stage(now),
                owner=escape(case.owner_name or _("未指定")),
                mark=mark,
            )
        )
    lines.append(_("\n发送 /case 编号 查看某项工作的卡片。"))
    return "\n".join(lines)


def transfer_done_text(union: str, moved: int, members: int) -> str:
    return _(
        "✅ <b>会籍接转完成</b>：{moved} 名会员的会籍已转入{union}，该工会现有会员 {members} 人。"
        "会员名册见附件（身份证号已打码）。"
    ).format(moved=moved, union=escape(union), members=members)


def reminder_text(case: CaseView, why: str, now: datetime) -> str:
    """A case preparing too long, or without progress for a while."""
    head = _("⏰ <b>建会工作 #{id}：{enterprise}</b>").format(
        id=case.id, enterprise=escape(case.enterprise)
    )
    if why == "preparing":
        body = _(
            "已筹备 {days} 天。筹备组一般应在六个月内完成会员登记和候选人提名，"
            "请督促召开会员大会。"
        ).format(days=case.days_in_stage(now))
    else:
        idle = (timefmt.local(now).date() - timefmt.local(case.touched_at).date()).days
        body = _("已 {days} 天没有进展（阶段：{stage}）。请记录进展，或暂缓这项工作。").format(
            days=idle, stage=stage_label(case.stage)
        )
    owner = _("负责人：{owner}").format(owner=escape(case.owner_name or _("未指定")))
    return f"{head}\n{body}\n{owner}\n" + _("发送 /case {id} 查看卡片。").format(id=case.id)


def prompt_for(stage: str) -> str:
    """What to type for the stage being recorded, one fact per line."""
    prompts = {
        "preparing": _(
            "{who}，请回复本条消息，记录筹备组：\n"
            "第 1 行：上级工会批准日期（如 2026-12-01）\n"
            "其后每行一人：姓名 职务（如 张伟 组长）\n"
            "发送 /cancel 放弃。"
        ),
        "assembly": _(
            "{who}，请回复本条消息，记录会员大会：\n"
            "第 1 行：召开日期（如 2026-12-01）\n"
            "第 2 行：工会主席姓名\n"
            "第 3 行：当选委员姓名，用顿号分隔\n"
            "发送 /cancel 放弃。"
        ),
        "approved": _(
            "{who}，请回复本条消息，记录上级工会批复：\n"
            "第 1 行：批复日期（如 2026-12-01）\n"
            "第 2 行：批复文号（如 西工发〔2026〕12号）\n"
            "发送 /cancel 放弃。"
        ),
        "founded": _(
            "{who}，请回复本条消息，记录成立的企业工会：\n"
            "第 1 行：工会名称\n"
            "第 2 行：工会统一社会信用代码（以 81 开头）\n"
            "第 3 行：成立日期（如 2026-12-01）\n"
            "第 4 行：联系人及电话\n"
            "发送 /cancel 放弃。"
        ),
    }
    return prompts[stage]


def relatives_question(committee: list[str]) -> str:
    separator = _("、")
    return _(
        "《工会法》第十条：企业主要负责人的近亲属不得作为本企业基层工会委员会成员的人选。\n"
        "委员：{committee}\n"
        "其中是否有企业主要负责人的近亲属？"
    ).format(committee=separator.join(escape(n) for n in committee))


def fact_error_text(error: FactError) -> str:
    """A typed fact that cannot be recorded, said with the line it is on."""
    value = escape(error.value)
    texts = {
        "date.format": _("“{value}”不是有效日期，请写成 2026-12-01 的形式。"),
        "date.future": _("日期 {value} 还没到，请填写实际发生的日期。"),
        "name": _("“{value}”不像姓名：请写汉字姓名（少数民族姓名可用“·”）或英文姓名。"),
        "person.role": _("“{value}”缺少职务：每行写一人，姓名和职务之间空一格（如 张伟 组长）。"),
        "person.twice": _("{value} 出现了两次，请每人只写一次。"),
        "people.none": _("请至少写一个人。"),
        "people.many": _("人数超过 {limit} 人，请检查名单。"),
        "uscc.format": _("“{value}”不是 18 位统一社会信用代码。"),
        "uscc.checksum": _("统一社会信用代码“{value}”的校验位不对，请核对。"),
        "uscc.not_union": _(
            "{value} 不是工会的统一社会信用代码：工会法人资格证书上的代码以 8 开头"
            "（基层工会为 81）。"
        ),
        "lines.missing": _("内容不全：需要 {needed} 行，收到 {given} 行。请按提示逐行填写。"),
    }
    if error.code.endswith(".long"):
        message = _("“{value}”太长了，最多 {limit} 个字。")
    elif error.code.endswith(".empty"):
        message = _("这一项不能为空。")
    else:
        message = texts.get(error.code, _("无法识别“{value}”，请按提示填写。"))
    text = message.format(value=value, **error.extra)
    if error.line is not None:
        text = _("第 {line} 行：{text}").format(line=error.line, text=text)
    return text


def refusal_text(error: CaseRefused) -> str:
    texts = {
        "founded": _("这项建会工作已完成，工会已成立。"),
        "paused": _("这项工作已暂缓，请先点“恢复”。"),
        "not_paused": _("这项工作没有暂缓。"),
        "first_stage": _("已经是第一步，不能再退回。"),
        "facts": _("记录的内容与下一步不符，请重新点按钮。"),
        "close_relatives": _(
            "按《工会法》第十条，企业主要负责人的近亲属不能担任本企业工会委员。"
            "请调整委员名单后再记录会员大会。"
        ),
        "has_union": _("该企业已经建立工会，无需建会工作。"),
        "inactive": _("该企业已注销、迁出或已并入其他企业。"),
        "uscc_taken": _("这个统一社会信用代码已属于另一个工会，请核对。"),
        "reason": _("无法识别的暂缓原因。"),
    }
    if error.code == "date_order":
        return _("日期不能早于上一步的日期（{latest}）。").format(
            latest=error.extra["latest"].isoformat()
        )
    if error.code == "close_relatives" and not error.extra.get("answered", True):
        return _("请先回答委员中是否有企业主要负责人的近亲属（《工会法》第十条）。")
    return texts.get(error.code, error.code)


def changed_text(case: CaseView) -> str:
    return _("这项工作刚刚有了变化（现在：{stage}），卡片已更新，请按最新卡片操作。").format(
        stage=stage_label(case.stage)
    )
