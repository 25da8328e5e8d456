"""Texts of the application form, shared by several handlers. The same form serves a
worker applying for themselves and street staff typing a worker's paper form (assisted):
the second speaks to the staff member about the worker."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot import timefmt
from bot.callbacks import FormCb
from bot.i18n import translate as _
from bot.union_names import joint_union_name, street_union_name
from bot.validation import ValidationError

NOTICE_VERSION = "2026-11"


def privacy_notice(street: str, point: str | None) -> str:
    where = f"{escape(street)} · {escape(point)}" if point else escape(street)
    return _(
        "👋 欢迎申请加入工会（单体入会）。受理点：{where}\n\n"
        "<b>个人信息处理说明</b>\n"
        "• 收集内容：姓名、身份证号、手机号、工作单位、岗位（可不填）。\n"
        "• 用途：核实身份、办理入会、统计所在企业会员人数，以便帮助企业建立工会。\n"
        "• 谁能看到：{street_union}的审核人员，只能看到打码后的身份证号和手机号；"
        "区总工会只看到企业的汇总人数。\n"
        "• 会籍：审核通过后，您的会籍登记在{joint_union}；所在企业建立工会后，"
        "会籍转入企业工会。\n"
        "• 保护措施：身份证号和手机号加密保存，不会明文显示或记录在日志中。\n"
        "• 保存期限：会籍存续期间；申请未通过的，180 天后匿名化；未提交的草稿 30 天后删除。\n"
        "• 您可随时发送 /cancel 放弃填写。\n\n"
        "身份证号属于敏感个人信息，需要您单独同意后才能处理（《个人信息保护法》第二十九条）。"
    ).format(
        where=where,
        street_union=escape(street_union_name(street)),
        joint_union=escape(joint_union_name(street)),
    )


def paper_consent(street: str) -> str:
    return _(
        "📝 <b>代录纸质申请</b>（{street_union}）\n"
        "请确认职工已阅读个人信息处理说明，并已在纸质申请表上签字，单独同意处理其身份证号"
        "（《个人信息保护法》第二十九条）。随后请按提示输入职工的信息。"
    ).format(street_union=escape(street_union_name(street)))


def consent_keyboard(*, assisted: bool = False) -> InlineKeyboardMarkup:
    if assisted:  # staff confirm what the worker signed on paper
        agree, refuse = _("✅ 职工已同意并在申请表上签字"), _("职工未同意")
    else:
        agree, refuse = _("✅ 同意处理我的身份证号等信息"), _("不同意")
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=agree, callback_data=FormCb(action="consent").pack())],
            [InlineKeyboardButton(text=refuse, callback_data=FormCb(action="decline").pack())],
        ]
    )


def consent_recorded(*, assisted: bool) -> str:
    return _("已记录职工的同意") if assisted else _("已记录您的同意")


def declined_text(*, assisted: bool) -> str:
    if assisted:
        return _("职工未同意，没有保存任何信息。需要时发送 /assist 重新代录。")
    return _("好的，您未同意，我们没有保存任何信息。如改变主意，可随时发送 /start 重新开始。")


def consent_expected(*, assisted: bool) -> str:
    if assisted:
        return _("请先确认职工已签字同意（点击上面的按钮），再录入职工的信息。")
    return _("请先阅读上面的说明，点击“同意”按钮后再填写。")


def cancelled_text(*, assisted: bool) -> str:
    if assisted:
        return _("已取消，录入的职工信息没有保存。需要时发送 /assist 重新代录。")
    return _("已取消，您填写的信息没有保存。需要时发送 /start 重新开始。")


def employer_question(*, assisted: bool) -> str:
    if assisted:
        return _("请选择职工的工作单位（如果都不是，请点“以上都不是”）：")
    return _("请选择您的工作单位（如果都不是，请点“以上都不是”）：")


def own_union_text(employer: str, union: Any, street: str, *, assisted: bool) -> str:
    """The employer already has a union (`union`: bot.services.enterprises.OwnUnion):
    单体入会 is for workers of employers without one, so say where to join instead."""
    joint = escape(joint_union_name(street))
    lines = [
        _("🏢 {employer} 已经建立了工会。").format(employer=escape(employer)),
    ]
    if union.name:
        lines.append(_("工会名称：{name}").format(name=escape(union.name)))
    if union.contact:
        lines.append(_("联系方式：{contact}").format(contact=escape(union.contact)))
    if assisted:
        lines.append(
            _(
                "\n单体入会是为所在单位还没有工会的职工设立的，职工可以直接向本单位工会申请入会。"
                "如果职工仍希望加入{joint}，可以继续代录，审核人员会看到这一情况。"
            ).format(joint=joint)
        )
    else:
        lines.append(
            _(
                "\n单体入会是为所在单位还没有工会的职工设立的，您可以直接向本单位工会申请入会。"
                "如果您仍希望加入{joint}，也可以继续申请，审核人员会看到这一情况。"
            ).format(joint=joint)
        )
    return "\n".join(lines)


def union_in_bot_text(employer: str, union: str) -> str:
    return _(
        "🏢 {employer} 已经建立了工会。这份入会申请将交给{union}审核，通过后会籍登记在该工会。"
    ).format(employer=escape(employer), union=escape(union))


def own_union_keyboard() -> InlineKeyboardMarkup:
    choices = [
        ("street", _("继续申请加入街道工会联合会")),
        ("retype", _("重新填写工作单位")),
        ("stop", _("不申请了")),
    ]
    rows = [
        [InlineKeyboardButton(text=label, callback_data=FormCb(action="union", value=v).pack())]
        for v, label in choices
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def own_union_stopped(*, assisted: bool) -> str:
    if assisted:
        return _("已停止代录，录入的职工信息没有保存。请告知职工向本单位工会申请入会。")
    return _("好的，您填写的信息没有保存。请向本单位工会申请入会。")


# What each step expects, said when it gets something it cannot use.
EXPECTS = {
    "Form:name": lambda: _("这一步需要您输入姓名（文字）。"),
    "Form:resident_id": lambda: _("这一步需要您输入 18 位身份证号（文字）。"),
    "Form:mobile": lambda: _("这一步需要您分享手机号，或输入 11 位手机号。"),
    "Form:employer": lambda: _("这一步需要您输入工作单位名称（文字）。"),
    "Form:job": lambda: _("这一步需要您输入岗位（文字），也可以点击“跳过”。"),
    "Form:street": lambda: _("请点击上面的按钮选择您所在的街道。"),
}

EXPECTS_ASSISTED = {
    "Form:name": lambda: _("这一步需要输入职工的姓名（文字）。"),
    "Form:resident_id": lambda: _("这一步需要输入职工的 18 位身份证号（文字）。"),
    "Form:mobile": lambda: _("这一步需要输入职工本人的 11 位手机号。"),
    "Form:employer": lambda: _("这一步需要输入职工工作单位的名称（文字）。"),
    "Form:job": lambda: _("这一步需要输入职工的岗位（文字），也可以点击“跳过”。"),
}


def expects(state: str, *, assisted: bool) -> str | None:
    hint = (EXPECTS_ASSISTED if assisted else EXPECTS).get(state)
    return hint() if hint else None


ASK_ASSISTED = {
    "name": lambda: _("请输入职工的姓名（与身份证一致）："),
    "resident_id": lambda: _("请输入职工的 18 位身份证号："),
    "mobile": lambda: _("请输入职工本人的 11 位手机号："),
    "employer": lambda: _("请输入职工工作单位的全称，或统一社会信用代码："),
    "job": lambda: _("请输入职工的岗位或职务（可跳过）："),
}

ASK = {
    "name": lambda: _("请输入您的姓名（与身份证一致）："),
    "resident_id": lambda: _("请输入您的 18 位身份证号："),
    "mobile": lambda: _("请点击下方按钮分享您的手机号，或直接输入 11 位手机号："),
    "employer": lambda: _("请输入您的工作单位全称（如营业执照上的名称），或统一社会信用代码："),
    "job": lambda: _("请输入您的岗位或职务（可跳过）："),
}


def ask(field: str, *, assisted: bool = False) -> str:
    return (ASK_ASSISTED if assisted else ASK)[field]()


def contact_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📱 分享我的手机号"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def skip_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("跳过"), callback_data=FormCb(action="skip").pack())]
        ]
    )


def summary_text(data: dict[str, Any]) -> str:
    gender = _("男") if data["gender"] == "male" else _("女")
    assisted = data.get("assisted_by")
    union = street_union_name(data["street_name"])
    if assisted:
        where = _("{union} · 纸质申请，{who} 代录").format(union=union, who=assisted[1])
        title = _("<b>请核对职工的申请信息</b>")
    else:
        point = data.get("point_name")
        where = f"{union} · {point}" if point else _("{union} · 线上申请").format(union=union)
        title = _("<b>请核对您的申请信息</b>")
    return "\n".join(
        [
            title,
            _("姓名：{v}").format(v=escape(data["name"])),
            _("身份证号：{v}（{gender}，{birth} 出生）").format(
                v=escape(data["resident_id"]), gender=gender, birth=data["birth_date"]
            ),
            _("手机号：{v}").format(v=escape(data["mobile"].removeprefix("+86"))),
            _("工作单位：{v}").format(v=escape(data["employer"])),
            _("岗位：{v}").format(v=escape(data.get("job") or _("（未填写）"))),
            _("受理：{v}").format(v=escape(where)),
            "",
            _("确认无误请点击“提交申请”，需要修改请点击对应项目。"),
        ]
    )


def summary_keyboard() -> InlineKeyboardMarkup:
    def edit(label: str, field: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=label, callback_data=FormCb(action="edit", value=field).pack()
        )

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [edit(_("✏️ 姓名"), "name"), edit(_("✏️ 身份证号"), "resident_id")],
            [edit(_("✏️ 手机号"), "mobile"), edit(_("✏️ 工作单位"), "employer")],
            [edit(_("✏️ 岗位"), "job")],
            [
                InlineKeyboardButton(
                    text=_("📨 提交申请"), callback_data=FormCb(action="submit").pack()
                ),
                InlineKeyboardButton(text=_("取消"), callback_data=FormCb(action="cancel").pack()),
            ],
        ]
    )


def employer_keyboard(candidates: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=name[:60], callback_data=FormCb(action="employer", value=str(ident)).pack()
            )
        ]
        for ident, name in candidates
    ]
    none = FormCb(action="employer", value="none").pack()
    rows.append([InlineKeyboardButton(text=_("以上都不是"), callback_data=none)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def use_latest_buttons() -> str:
    """A press whose data is not on the message it came with (a modified client)."""
    return _("这个按钮已失效，请使用最新一条消息下方的按钮。")


def street_keyboard(streets: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=name, callback_data=FormCb(action="street", value=str(street_id)).pack()
            )
        ]
        for street_id, name in streets
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def no_glyph_message(error: ValidationError, *, assisted: bool = False) -> str:
    """The name has characters the member card cannot show (``name.no_glyph``)."""
    chars = "".join(f"“{escape(c)}”" for c in error.chars)
    if assisted:  # the staff member entering a paper application is the service station
        return _(
            "姓名中的{chars}暂时无法在会员卡上显示，请与职工商量改用常用写法后重新输入。"
        ).format(chars=chars)
    return _(
        "姓名中的{chars}暂时无法在会员卡上显示，请改用常用写法，或到街道工会服务站办理。"
    ).format(chars=chars)


FIELD_LABELS = {
    "name": lambda: _("姓名"),
    "resident_id": lambda: _("身份证号"),
    "mobile": lambda: _("手机号"),
    "employer": lambda: _("工作单位"),
    "job": lambda: _("岗位"),
    "employer_search": lambda: _("单位名称"),
    "reject_note": lambda: _("驳回原因"),
}
# Too long for these means a wrong format: their own rule says what is expected.
_TOO_LONG_AS = {"name": "name.too_long", "resident_id": "ric.format", "mobile": "mobile.invalid"}


def validation_message(error: ValidationError, field: str | None = None) -> str:
    """The polite answer to a refused input; `field` (a FIELD_LABELS key) lets a length
    refusal say which field and how long it may be ("工作单位最多 100 个字")."""
    if error.code == "name.no_glyph":
        return no_glyph_message(error)
    if error.code == "text.too_long":
        if field in _TOO_LONG_AS:
            return validation_message(ValidationError(_TOO_LONG_AS[field]))
        if field in FIELD_LABELS and error.limit:
            return _("{field}最多 {limit} 个字，请简短一些后重新输入。").format(
                field=FIELD_LABELS[field](), limit=error.limit
            )
    messages = {
        "text.empty": _("内容不能为空，请重新输入。"),
        "text.too_long": _("输入内容太长了，请简短一些。"),
        "text.no_words": _("请用文字输入，不要只发送表情或符号。"),
        "name.too_short": _("姓名至少需要 2 个字，请重新输入。"),
        "name.too_long": _("姓名最多 40 个字，请重新输入。"),
        "name.bad_chars": _("姓名只能包含汉字（少数民族姓名可用“·”）或英文字母，请重新输入。"),
        "name.bad_dot": _("姓名中的“·”只能用在两个字之间，请重新输入。"),
        "ric.format": _("身份证号应为 18 位（最后一位可以是 X），请重新输入。"),
        "ric.old_15_digit": _("这是 15 位的旧身份证号，请输入现在使用的 18 位身份证号。"),
        "ric.checksum": _("身份证号校验位不正确，可能有数字输错了，请核对后重新输入。"),
        "ric.bad_birth_date": _("身份证号中的出生日期不存在，请核对后重新输入。"),
        "ric.implausible_birth": _("身份证号中的出生日期不合理，请核对后重新输入。"),
        "ric.future_birth": _("身份证号中的出生日期在未来，请核对后重新输入。"),
        "ric.too_young": _("根据规定，年满 16 周岁的职工才能申请入会。"),
        "ric.bad_region": _("身份证号的地区代码不正确，请核对后重新输入。"),
        "mobile.invalid": _("手机号格式不正确，请输入 11 位手机号。"),
        "mobile.not_mainland": _("目前只支持中国大陆手机号，请输入 11 位大陆手机号。"),
        "mobile.not_mobile": _("这不是手机号码（可能是座机），请输入 11 位手机号。"),
        "uscc.format": _("统一社会信用代码应为 18 位字母或数字，请核对后重新输入。"),
        "uscc.checksum": _("统一社会信用代码校验位不正确，请核对后重新输入。"),
        "employer.mobile": _(
            "工作单位一栏不能填写手机号，请输入单位全称（如营业执照上的名称）或统一社会信用代码。"
        ),
        "employer.resident_id": _(
            "工作单位一栏不能填写身份证号，请输入单位全称（如营业执照上的名称）或统一社会信用代码。"
        ),
        "employer.digits": _(
            "工作单位一栏请填写单位名称，不能只填数字（统一社会信用代码为 18 位，请完整输入）。"
        ),
    }
    return messages.get(error.code, _("输入内容不符合要求，请重新输入。"))


def when(moment: Any) -> str:
    return timefmt.minute(moment)
