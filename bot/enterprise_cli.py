"""Subcommands of `unionbot` (see bot/cli.py)."""

from __future__ import annotations

from typing import Any


def add_commands(commands: Any) -> None:
    """Register this module's subcommands on the `unionbot` parser."""
