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


class CaseInput(StatesGroup):
    """Typed input for a founding case's card (handlers/cases.py)."""

    facts = State()  # the next stage's facts
    relatives = State()  # the art. 10 question, before the committee is recorded
    back = State()  # why the case goes back a stage
    note = State()  # a progress note
    pause_note = State()  # why the case is paused ("other")


class JobChange(StatesGroup):
    """A member's /transfer in a private chat (handlers/job_change.py)."""

    choice = State()  # a new job, or keep the membership
    employer = State()  # the new employer's name or USCC
    confirm = State()  # send the request, or keep the membership


class ServiceCard(StatesGroup):
    survey = State()  # ticking the needs, after asking for the card


class NewActivity(StatesGroup):
    """Staff creating an activity in a private chat (handlers/activities.py)."""

    title = State()
    place = State()
    when = State()  # the day, start and end
    capacity = State()
    deadline = State()  # of sign-ups
    audience = State()  # every member, or those who ticked one need
    confirm = State()


class CallOff(StatesGroup):
    """Staff calling an activity off: why (handlers/activities.py)."""

    reason = State()
