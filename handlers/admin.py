"""Handlers: admin."""

from __future__ import annotations

from handlers.registry import Handlers

router = Handlers("admin")
