"""A local Telegram Bot API emulator for end-to-end tests and demos.

async with Emulator() as emu:
    emu.add_bot("123456:TEST", "unionbot", "UnionBot")
    emu.add_user(1001, "张三")
    bot = Bot("123456:TEST", session=AiohttpSession(
        api=TelegramAPIServer.from_base(emu.base_url)))
    emu.send_text(1001, "/start")
    reply = await emu.wait_for(1001, "欢迎")
"""

from .emulator import Emulator
from .errors import ApiError, EmulatorError
from .faults import FloodLimits
from .records import ApiCall, BotEvent
from .transcript import TranscriptEvent

__all__ = [
    "ApiCall",
    "ApiError",
    "BotEvent",
    "Emulator",
    "EmulatorError",
    "FloodLimits",
    "TranscriptEvent",
]
