"""/mydata and /delete: what is stored about the worker, and what deleting it does."""

from __future__ import annotations

from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import timefmt
from bot.i18n import translate as _
from bot.services.privacy import (
    ApplicationData,
    DeletionPlan,
    DeletionResult,
    FormData,
    MembershipData,
    MyData,
)
from bot.union_names import street_union_name
from bot.views.review import gender_label, reason_label, reason_with_note

# Telegram refuses longer messages (4096); leave room for the entities.
MESSAGE_LIMIT = 4000


class PrivacyCb(CallbackData, prefix="pv"):
    """Never trusted: the token is checked by the service against the current records."""

    action: str  # confirm | cancel
    token: str = ""


def status_label(status: str) -> str:
    return {
        "submitted": _("审核中"),
        "approved": _("已通过"),
        "rejected": _("未通过"),
        "withdrawn": _("已撤回"),
    }.get(status, status)


def channel_label(channel: str) -> str:
    return {
        "qr": _("扫码申请"),
        "online": _("线上申请"),
        "assisted": _("工作人员代为录入"),
    }.get(channel, channel)


def language_label(locale: str) -> str:
    return {"zh": "中文", "en": "English"}.get(locale, locale)


def _numbers(numbers: tuple[str, ...]) -> str:
    return _("、").join(escape(n) for n in numbers)


# --- /mydata ----------------------------------------------------------------------------
def mydata_messages(data: MyData) -> list[str]:
    """The worker's data as one or more HTML messages (user text escaped)."""
    if data.empty:
        return [_("我们没有保存您的任何个人信息。")]
    blocks = [_("<b>📋 我们保存的关于您的信息</b>")]
    blocks += [application_block(a) for a in data.applications]
    blocks += [membership_block(m) for m in data.memberships]
    if data.form is not None:
        blocks.append(form_block(data.form))
    if data.language:
        blocks.append(_("语言设置：{language}").format(language=language_label(data.language)))
    if data.audit_entries:
        blocks.append(
            _(
                "审计记录：{count} 条（记录谁在何时做了什么，依法保留，不含身份证号和手机号）"
            ).format(count=data.audit_entries)
        )
    blocks.append(_("发送 /delete 可删除您的信息。"))
    return pack(blocks)


def application_block(a: ApplicationData) -> str:
    lines = [
        _("<b>申请 {number}</b>（{status}）").format(
            number=escape(a.number), status=status_label(a.status)
        ),
        _("姓名：{v}").format(v=escape(a.name)),
        _("身份证号：{v}（{gender}，{birth} 出生）").format(
            v=escape(a.resident_id),
            gender=gender_label(a.gender),
            birth=timefmt.day(a.birth_date),
        ),
        _("手机号：{v}").format(v=escape(a.mobile.removeprefix("+86"))),
        _("工作单位：{v}").format(v=escape(a.employer)),
    ]
    if a.employer_typed and a.employer_typed != a.employer:
        lines.append(_("您输入的单位名称：{v}").format(v=escape(a.employer_typed)))
    if a.employer_branch:
        lines.append(_("门店或分支机构：{v}").format(v=escape(a.employer_branch)))
    lines += [
        _("岗位：{v}").format(v=escape(a.job or _("（未填写）"))),
        _("受理：{v}").format(v=escape(_point(a))),
        _("提交时间：{time}").format(time=timefmt.minute(a.submitted_at)),
        _("同意时间：{time}（告知书版本 {version}）").format(
            time=timefmt.minute(a.consent_at), version=escape(a.notice_version)
        ),
    ]
    if a.decided_at is not None:
        lines.append(
            _("处理结果：{status}，{time}").format(
                status=status_label(a.status), time=timefmt.minute(a.decided_at)
            )
        )
    if a.status == "rejected":
        why = reason_label(a.reject_reason)
        if a.reject_note:
            why = reason_with_note(why, a.reject_note)
        lines.append(_("驳回原因：{why}").format(why=why))
    return "\n".join(lines)


def _point(a: ApplicationData) -> str:
    union = street_union_name(a.street)
    where = f"{union} · {a.point}" if a.point else union
    return _("{where}（{channel}）").format(where=where, channel=channel_label(a.channel))


def membership_block(m: MembershipData) -> str:
    text = _("🪪 会员编号：{number}\n所属工会：{union}\n入会日期：{date}").format(
        number=escape(m.number), union=escape(m.union), date=timefmt.day(m.joined_at)
    )
    if m.status != "active" and m.ended_at is not None:
        text += "\n" + _("会籍已于 {date} 终止").format(date=timefmt.day(m.ended_at))
    return text


FIELD_LINES = {
    "name": lambda v: _("姓名：{v}").format(v=v),
    "resident_id": lambda v: _("身份证号：{v}").format(v=v),
    "mobile": lambda v: _("手机号：{v}").format(v=v.removeprefix("+86")),
    "employer": lambda v: _("工作单位：{v}").format(v=v),
    "job": lambda v: _("岗位：{v}").format(v=v),
}


def form_block(form: FormData) -> str:
    lines = [
        _("<b>未提交的申请表</b>（最后修改 {time}，30 天无操作将自动删除）").format(
            time=timefmt.minute(form.updated_at)
        )
    ]
    lines += [FIELD_LINES[name](escape(value)) for name, value in form.fields.items()]
    return "\n".join(lines)


def pack(blocks: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Blocks joined by blank lines, split into messages no longer than `limit`."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}\n\n{block}" if current else block
        if current and len(candidate) > limit:
            messages.append(current)
            candidate = block
        current = candidate
    messages.append(current)
    return messages


# --- /delete ----------------------------------------------------------------------------
def deletion_plan_text(plan: DeletionPlan) -> str:
    lines = [_("<b>删除我的信息</b>"), _("确认后将：")]
    if plan.pending:
        lines.append(
            _("• 撤回正在审核的申请 {numbers}，并删除其中的个人信息；").format(
                numbers=_numbers(plan.pending)
            )
        )
    if plan.members:
        lines.append(
            _(
                "• 终止您的会员资格（会员编号 {numbers}），会员卡随即失效，"
                "所在企业的会员人数相应减少；您的姓名、身份证号、手机号等将被匿名化；"
            ).format(numbers=_numbers(plan.members))
        )
    if plan.other_applications:
        lines.append(
            _("• 匿名化其他 {count} 份申请记录中的个人信息；").format(count=plan.other_applications)
        )
    if plan.has_form:
        lines.append(_("• 删除未提交的申请表；"))
    if plan.has_language:
        lines.append(_("• 删除您的语言设置。"))
    lines += ["", _(
        "申请编号、会员编号和审计记录（谁在何时做了什么，不含身份证号和手机号）依法保留。"
        "此操作无法撤销；之后如需入会，可发送 /start 重新申请。"
    )]  # fmt: skip
    return "\n".join(lines)


def confirm_keyboard(token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("确认删除"),
                    callback_data=PrivacyCb(action="confirm", token=token).pack(),
                ),
                InlineKeyboardButton(
                    text=_("取消"), callback_data=PrivacyCb(action="cancel").pack()
                ),
            ]
        ]
    )


def deletion_done_text(result: DeletionResult) -> str:
    if result.nothing:
        return nothing_to_delete_text()
    lines = [_("✅ 已删除您的信息：")]
    if result.withdrawn:
        lines.append(_("• 已撤回申请 {numbers}").format(numbers=_numbers(result.withdrawn)))
    if result.ended:
        lines.append(
            _("• 会员资格已终止（会员编号 {numbers}）").format(numbers=_numbers(result.ended))
        )
    if result.anonymised:
        lines.append(_("• 已匿名化 {count} 份申请记录").format(count=len(result.anonymised)))
    if result.form_deleted:
        lines.append(_("• 已删除未提交的申请表"))
    if result.language_deleted:
        lines.append(_("• 已删除语言设置"))
    lines += ["", _("如需入会，可随时发送 /start 重新申请。")]
    return "\n".join(lines)


def nothing_to_delete_text() -> str:
    return _("我们没有保存您的任何个人信息，无需删除。")


def stale_confirmation_text() -> str:
    return _("这个确认已失效（已超过 30 分钟，或您的信息有了变化），请重新发送 /delete。")


def cancelled_text() -> str:
    return _("已取消，您的信息没有被删除。")
