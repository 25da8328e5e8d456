"""Callback data of inline buttons. Never trusted: every handler re-checks on the server."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ReviewCb(CallbackData, prefix="rv"):
    action: str  # approve | reject | reason | back
    app: int
    reason: str = ""


class AlertCb(CallbackData, prefix="al"):
    action: str  # follow
    alert: int


class FormCb(CallbackData, prefix="f"):
    action: str  # consent | decline | street | edit | submit | cancel | skip | restart
    value: str = ""
