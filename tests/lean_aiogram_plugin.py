"""Loaded with `-p` (pyproject.toml) so that the suite imports aiogram the way `unionbot run`
does (bot/lean_aiogram.py), before any conftest or test module imports it."""

from __future__ import annotations

import pytest

from bot.lean_aiogram import import_lazily


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    import_lazily()
