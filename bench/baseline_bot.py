"""The baseline for bench_updates: the same five-step form on aiogram's stock FSM.

What someone would build instead of unionbot: an aiogram 3 bot with `MemoryStorage`, the
same conversation and the same Bot API calls per step, nothing more.

- `/start <point code>` (the QR deep link): the privacy notice with the consent buttons
  (sendMessage, inline keyboard).
- The consent press: answerCallbackQuery with a toast, editMessageReplyMarkup removing
  the buttons, the name question (sendMessage).
- Name → resident id question; resident id → mobile question with the share-contact reply
  keyboard; mobile → employer question removing that keyboard; employer → job question
  with the inline skip button; job → the summary ("请核对…") with the edit/submit
  buttons. One sendMessage each, HTML parse mode and link previews off, as unionbot.
- Each answer is checked with the project's own validation (bot/validation.py:
  validate_name, validate_resident_id, validate_mobile, validate_employer,
  normalise_free_text), so the CPU work per step is comparable.

What it deliberately lacks (what unionbot pays for on every step):
- durability: the form lives in process memory (MemoryStorage) and is lost on a restart;
  no database at all;
- no inbox: updates are acknowledged before they are handled, a crash loses them, a
  re-delivered update is handled twice, nothing is resumed at start;
- no encryption: the resident id and mobile sit in memory in clear text;
- no outbox: replies are sent straight from the handler, not stored first, not paced
  against Telegram's limits, not retried;
- no per-user ordering of updates (aiogram's default isolation: none), no locale lookup
  (Chinese only), no check of the person's standing (member / open application) in a
  database, no matching of the employer against the enterprise registry, no font check of
  the name, no submit step.

    python -m bench.baseline_bot API_BASE TOKEN POINT_CODE
"""

from __future__ import annotations

import asyncio
import sys
from html import escape

from aiogram import Bot, Dispatcher, F
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.validation import (
    JOB_MAX_LEN,
    ValidationError,
    normalise_free_text,
    validate_employer,
    validate_mobile,
    validate_name,
    validate_resident_id,
)

STREET, POINT = "德胜街道", "新街口社区"

NOTICE = (
    f"👋 欢迎申请加入工会（单体入会）。受理点：{STREET} · {POINT}\n\n"
    "<b>个人信息处理说明</b>\n"
    "• 收集内容：姓名、身份证号、手机号、工作单位、岗位（可不填）。\n"
    "• 用途：核实身份、办理入会、统计所在企业会员人数，以便帮助企业建立工会。\n"
    f"• 谁能看到：{STREET}总工会的审核人员，只能看到打码后的身份证号和手机号；"
    "区总工会只看到企业的汇总人数。\n"
    f"• 会籍：审核通过后，您的会籍登记在{STREET}工会联合会；所在企业建立工会后，"
    "会籍转入企业工会。\n"
    "• 保护措施：身份证号和手机号加密保存，不会明文显示或记录在日志中。\n"
    "• 保存期限：会籍存续期间；申请未通过的，180 天后匿名化；未提交的草稿 30 天后删除。\n"
    "• 您可随时发送 /cancel 放弃填写。\n\n"
    "身份证号属于敏感个人信息，需要您单独同意后才能处理（《个人信息保护法》第二十九条）。"
)
ASK = {
    "name": "请输入您的姓名（与身份证一致）：",
    "resident_id": "请输入您的 18 位身份证号：",
    "mobile": "请点击下方按钮分享您的手机号，或直接输入 11 位手机号：",
    "employer": "请输入您的工作单位全称（如营业执照上的名称），或统一社会信用代码：",
    "job": "请输入您的岗位或职务（可跳过）：",
}
INVALID = "输入有误，请重新输入。"


class Form(StatesGroup):
    consent = State()
    name = State()
    resident_id = State()
    mobile = State()
    employer = State()
    job = State()
    review = State()


def inline(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


CONSENT = inline([("✅ 同意处理我的身份证号等信息", "consent")], [("不同意", "decline")])
CONTACT = ReplyKeyboardMarkup(
    keyboard=[[KeyboardButton(text="📱 分享我的手机号", request_contact=True)]],
    resize_keyboard=True,
    one_time_keyboard=True,
)
SKIP = inline([("跳过", "skip")])
SUMMARY = inline(
    [("✏️ 姓名", "edit:name"), ("✏️ 身份证号", "edit:resident_id")],
    [("✏️ 手机号", "edit:mobile"), ("✏️ 工作单位", "edit:employer")],
    [("✏️ 岗位", "edit:job")],
    [("📨 提交申请", "submit"), ("取消", "cancel")],
)


def summary(data: dict[str, str]) -> str:
    gender = "男" if data["gender"] == "male" else "女"
    return "\n".join(
        [
            "<b>请核对您的申请信息</b>",
            f"姓名：{escape(data['name'])}",
            f"身份证号：{escape(data['resident_id'])}（{gender}，{data['birth_date']} 出生）",
            f"手机号：{escape(data['mobile'].removeprefix('+86'))}",
            f"工作单位：{escape(data['employer'])}",
            f"岗位：{escape(data['job'])}",
            f"受理：{STREET}总工会 · {POINT}",
            "",
            "确认无误请点击“提交申请”，需要修改请点击对应项目。",
        ]
    )


def build_dispatcher(point_code: str) -> Dispatcher:
    dispatcher = Dispatcher(storage=MemoryStorage())

    @dispatcher.message(CommandStart(deep_link=True))
    async def start(message: Message, command: CommandObject, state: FSMContext) -> None:
        if command.args != point_code:
            await message.answer("这个二维码已失效或无法识别。")
            return
        await state.set_data({})
        await state.set_state(Form.consent)
        await message.answer(NOTICE, reply_markup=CONSENT)

    @dispatcher.callback_query(Form.consent, F.data == "consent")
    async def consent(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer("已记录您的同意")
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
            await state.set_state(Form.name)
            await query.message.answer(ASK["name"])

    @dispatcher.message(Form.name, F.text)
    async def name(message: Message, state: FSMContext) -> None:
        try:
            value = validate_name(message.text or "")
        except ValidationError:
            await message.answer(INVALID)
            return
        await state.update_data(name=value)
        await state.set_state(Form.resident_id)
        await message.answer(ASK["resident_id"])

    @dispatcher.message(Form.resident_id, F.text)
    async def resident_id(message: Message, state: FSMContext) -> None:
        try:
            resident = validate_resident_id(message.text or "")
        except ValidationError:
            await message.answer(INVALID)
            return
        await state.update_data(
            resident_id=resident.number,
            gender=resident.gender,
            birth_date=resident.birth_date.isoformat(),
        )
        await state.set_state(Form.mobile)
        await message.answer(ASK["mobile"], reply_markup=CONTACT)

    @dispatcher.message(Form.mobile, F.text)
    async def mobile(message: Message, state: FSMContext) -> None:
        try:
            value = validate_mobile(message.text or "")
        except ValidationError:
            await message.answer(INVALID)
            return
        await state.update_data(mobile=value)
        await state.set_state(Form.employer)
        await message.answer(ASK["employer"], reply_markup=ReplyKeyboardRemove())

    @dispatcher.message(Form.employer, F.text)
    async def employer(message: Message, state: FSMContext) -> None:
        try:
            value = validate_employer(message.text or "")
        except ValidationError:
            await message.answer(INVALID)
            return
        await state.update_data(employer=value)
        await state.set_state(Form.job)
        await message.answer(ASK["job"], reply_markup=SKIP)

    @dispatcher.message(Form.job, F.text)
    async def job(message: Message, state: FSMContext) -> None:
        try:
            value = normalise_free_text(message.text or "", max_len=JOB_MAX_LEN)
        except ValidationError:
            await message.answer(INVALID)
            return
        data = await state.update_data(job=value)
        await state.set_state(Form.review)
        await message.answer(summary(data), reply_markup=SUMMARY)

    return dispatcher


def main(api_base: str, token: str, point_code: str) -> None:
    async def run() -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
        bot = Bot(
            token,
            session=session,
            default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True),
        )
        await build_dispatcher(point_code).start_polling(bot)

    asyncio.run(run())


if __name__ == "__main__":
    main(*sys.argv[1:4])
