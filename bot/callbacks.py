"""Callback data of inline buttons. Never trusted: every handler re-checks on the server."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# Database ids: a forged callback with a huge number must fail to parse, not reach SQL.
DbId = Field(ge=1, le=2**63 - 1)


class ReviewCb(CallbackData, prefix="rv"):
    action: str  # approve | reject | reason | back | employer
    app: int = DbId
    reason: str = ""


class EmployerCb(CallbackData, prefix="re"):
    """Staff picking the right employer for an application (re = review employer)."""

    app: int = DbId
    enterprise: int = DbId


class AlertCb(CallbackData, prefix="al"):
    action: str  # follow
    alert: int = DbId


class AliasCb(CallbackData, prefix="ap"):
    """Federation staff deciding an alias proposal: ok (accept) | no (refuse)."""

    action: str
    proposal: int = DbId


class CaseCb(CallbackData, prefix="cs"):
    """A founding case's card: `v` is the case version the card shows, so a press on an
    older card (or the second of two at once) changes nothing."""

    action: str  # adv | back | pause | reason | card | resume | note | own | rel | move
    case: int = DbId
    v: int = 0
    value: str = ""


class JobCb(CallbackData, prefix="jc"):
    """A member's job change: their own choices (new | keep | pick | send | kept |
    cancel) and the review card's (accept | decline, with the request)."""

    action: str
    req: int = Field(0, ge=0, le=2**63 - 1)
    value: str = ""


class CardCb(CallbackData, prefix="sc"):
    """The member service card: ask for it (ask), tick a need (need, value), finish the
    survey (done)."""

    action: str
    value: str = ""


class BenefitCb(CallbackData, prefix="bn"):
    action: str  # claim | show
    benefit: int = DbId


class ActivityCb(CallbackData, prefix="ac"):
    """A member's join | cancel | code (the check-in QR); staff's who | close."""

    action: str
    activity: int = DbId


class NewActivityCb(CallbackData, prefix="na"):
    """The creation dialogue: at_start (the deadline's default), for (the audience:
    value is a need, or empty for every member), publish | drop."""

    action: str
    value: str = ""


class FormCb(CallbackData, prefix="f"):
    # consent | decline | street | employer | union | edit | submit | cancel | skip | restart
    action: str
    value: str = ""
