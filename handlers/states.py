"""Conversation states. Stored in the database, so a restart resumes them."""

from aiogram.fsm.state import State, StatesGroup


class Form(StatesGroup):
    street = State()
    consent = State()
    name = State()
    resident_id = State()
    mobile = State()
    employer = State()
    job = State()
    review = State()


class RejectNote(StatesGroup):
    typing = State()


class ChangeEmployer(StatesGroup):
    typing = State()
