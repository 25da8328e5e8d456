"""People acting through the emulator: workers filling in the form, staff pressing buttons.

Used by the end-to-end tests, the demo and the benchmarks, so all three drive the bot the
same way a person would: by sending messages and pressing the buttons the bot showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.emulator import Emulator

TIMEOUT = 15.0


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, callback_data) of a message's inline keyboard."""
    markup = message.get("reply_markup") or {}
    return [
        (button["text"], button.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]


def find_button(message: dict[str, Any], label: str) -> str:
    for text, data in buttons(message):
        if label in text:
            return data
    raise LookupError(f"no button {label!r} on message: {[t for t, _ in buttons(message)]}")


@dataclass
class Person:
    emu: Emulator
    user_id: int
    name: str

    async def say(self, text: str, expect: str | None = None, chat_id: int | None = None) -> dict:
        """Send text and return the bot's next message in that chat (containing `expect`)."""
        chat = chat_id or self.user_id
        mark = self.emu.mark()
        self.emu.send_text(self.user_id, text, chat_id)
        return await self.emu.wait_for(chat, expect, since=mark, timeout=TIMEOUT)

    async def share_contact(self, phone: str, expect: str | None = None) -> dict:
        mark = self.emu.mark()
        self.emu.send_contact(self.user_id, phone)
        return await self.emu.wait_for(self.user_id, expect, since=mark, timeout=TIMEOUT)

    async def press(
        self, message: dict, label: str, expect: str | None = None, *, wait: bool = True
    ) -> dict | None:
        """Press the button labelled `label`; return the bot's next message or edit."""
        chat = message["chat"]["id"]
        mark = self.emu.mark()
        self.emu.press_button(
            self.user_id, chat, message["message_id"], find_button(message, label)
        )
        if not wait:
            return None
        return await self.emu.wait_for(chat, expect, since=mark, timeout=TIMEOUT)

    async def employer_choices(self, card: dict, search: str) -> dict:
        """Staff on a review card: 🏢 更改单位, then the reply `search`; the bot's choices
        (press one to change the employer)."""
        chat = card["chat"]["id"]
        prompt = await self.press(card, "更改单位", "请回复本条消息")
        if prompt is None:
            raise LookupError("the bot did not ask for the employer")
        mark = self.emu.mark()
        self.emu.send_text(self.user_id, search, chat, reply_to=prompt["message_id"])
        return await self.emu.wait_for(chat, "请选择正确的单位", since=mark, timeout=TIMEOUT)

    def last(self, chat_id: int | None = None) -> dict:
        message = self.emu.last_message(chat_id or self.user_id)
        if message is None:
            raise LookupError("no message yet")
        return message


@dataclass
class WorkerData:
    name: str
    resident_id: str
    mobile: str
    employer: str
    job: str | None = None


class Worker(Person):
    """A worker applying through the private chat, step by step."""

    async def open_form(self, point_code: str | None) -> dict:
        text = f"/start {point_code}" if point_code else "/start"
        return await self.say(text, "个人信息处理说明" if point_code else "街道")

    async def consent(self, notice: dict) -> dict:
        return await self.press(notice, "同意处理", "请输入您的姓名")  # type: ignore[return-value]

    async def fill(self, data: WorkerData, *, share_contact: bool = True) -> dict:
        """From the name question to the summary; returns the summary message."""
        await self.say(data.name, "身份证号")
        await self.say(data.resident_id, "手机号")
        if share_contact:
            await self.share_contact(data.mobile.removeprefix("+"), "工作单位")
        else:
            await self.say(data.mobile, "工作单位")
        job_question = await self.say(data.employer, "岗位")
        if data.job:
            return await self.say(data.job, "请核对")
        return await self.press(job_question, "跳过", "请核对")  # type: ignore[return-value]

    async def submit(self, summary: dict) -> dict:
        """Submit; returns the application-received message with the number."""
        await self.press(summary, "提交申请", "已提交")
        return await self.emu.wait_for(self.user_id, "申请编号", timeout=TIMEOUT)

    async def apply(self, point_code: str | None, data: WorkerData) -> dict:
        notice = await self.open_form(point_code)
        await self.consent(notice)
        summary = await self.fill(data)
        return await self.submit(summary)


def review_card(emu: Emulator, group_id: int, application_number: str) -> dict:
    for message in reversed(emu.messages(group_id)):
        if application_number in (message.get("text") or ""):
            return message
    raise LookupError(f"no review card for {application_number}")
