"""The offline channel: street staff enter a paper application on a worker's behalf."""

from __future__ import annotations

from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.i18n import translate as _
from bot.services.intake import IntakeService
from handlers import form
from handlers.filters import PRIVATE
from handlers.registry import Handlers

router = Handlers("assisted")
router.filter("message", PRIVATE)


@router.message(Command("assist"))
async def assist(message: Message, state: FSMContext, intake: IntakeService) -> None:
    user = message.from_user
    if user is None:
        return
    street = await intake.staff_street(user.id)  # checked on the server, every time
    if street is None:
        await message.answer(_("只有街道总工会工作人员可以代录纸质申请。"))
        return
    await form.begin(
        message, state, street.id, street.name, None, assisted_by=(user.id, user.full_name)
    )
