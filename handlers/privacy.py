"""Data-subject rights in a private chat: /mydata shows, /delete erases after confirmation."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import translate as _
from bot.services.audit import Actor
from bot.services.preferences import PreferenceService
from bot.services.privacy import PrivacyService, StaleConfirmation
from bot.views import privacy as view
from bot.views.privacy import PrivacyCb
from handlers.buttons import forged, pressed_on
from handlers.filters import PRIVATE
from handlers.registry import Handlers

router = Handlers("privacy")
router.filter("message", PRIVATE)
router.filter("callback_query", PRIVATE)


@router.message(Command("mydata"))
async def mydata(message: Message, privacy: PrivacyService) -> None:
    if message.from_user is None:
        return
    for text in view.mydata_messages(await privacy.my_data(message.from_user.id)):
        await message.answer(text)


@router.message(Command("delete"))
async def delete_request(message: Message, privacy: PrivacyService) -> None:
    if message.from_user is None:
        return
    plan = await privacy.deletion_plan(message.from_user.id)
    if plan.nothing:
        await message.answer(view.nothing_to_delete_text())
        return
    await message.answer(
        view.deletion_plan_text(plan), reply_markup=view.confirm_keyboard(plan.token)
    )


@router.callback_query(PrivacyCb.filter(F.action == "confirm"))
async def delete_confirmed(
    query: CallbackQuery,
    callback_data: PrivacyCb,
    privacy: PrivacyService,
    preferences: PreferenceService,
    state: FSMContext,
) -> None:
    user = query.from_user
    if forged(query):  # not pressed on the confirmation the bot showed: change nothing
        await query.answer(view.stale_confirmation_text(), show_alert=True)
        return
    try:
        # Only ever the presser's own data; the token ties it to what they were shown.
        result = await privacy.delete(
            user.id, Actor(user.id, "data subject"), confirm=callback_data.token
        )
    except StaleConfirmation:
        if (await privacy.deletion_plan(user.id)).nothing:  # pressed again after deleting
            await query.answer(_("您的个人信息已删除，无需再次确认。"))
        else:
            await query.answer(view.stale_confirmation_text(), show_alert=True)
        return
    await state.clear()  # the storage's cached copy of the form, too
    _forget_language(preferences, user.id)
    await query.answer(_("已删除"))
    await _close(query, view.deletion_done_text(result))


@router.callback_query(PrivacyCb.filter(F.action == "cancel"))
async def delete_cancelled(query: CallbackQuery) -> None:
    if forged(query):
        await query.answer(view.stale_confirmation_text(), show_alert=True)
        return
    await query.answer()
    await _close(query, view.cancelled_text())


async def _close(query: CallbackQuery, text: str) -> None:
    """Replace the confirmation with the outcome, so its buttons cannot be pressed again.
    Forged data may point at any message: only our confirmation is ever edited."""
    message = pressed_on(query)
    if message is not None:
        await message.edit_text(text, reply_markup=None)


def _forget_language(preferences: PreferenceService, user_id: int) -> None:
    preferences.forget(user_id)
