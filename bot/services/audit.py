"""Appending to the audit log, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditEntry
from models.base import utcnow

# Columns that keep a person's display name (decided_by_name, followed_by_name, ...).
NAME_MAX = 60


def display_name(name: str, limit: int = NAME_MAX) -> str:
    """A Telegram name (up to 129 characters: first and last name) cut to fit where it
    is stored, with an ellipsis so that nobody reads a cut name as the whole one."""
    name = " ".join(name.split())
    return name if len(name) <= limit else name[: limit - 1] + "…"


@dataclass(frozen=True)
class Actor:
    """Who acts: a Telegram user, or the command line (user_id None). The name is cut to
    fit the columns that record it."""

    user_id: int | None
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", display_name(self.name))

    @classmethod
    def cli(cls, name: str = "cli") -> Actor:
        return cls(user_id=None, name=name)


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    row = {
        "at": utcnow(),
        "actor_user_id": actor.user_id,
        "actor_name": actor.name,
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "before": before,
        "after": after,
    }
    await session.execute(_insert(), row)


@cache
def _insert() -> Any:
    # One prepared statement, parameters bound per call: every decision writes a row.
    return insert(AuditEntry.__table__)
