"""Appending to the audit log, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditEntry
from models.base import utcnow


@dataclass(frozen=True)
class Actor:
    """Who acts: a Telegram user, or the command line (user_id None)."""

    user_id: int | None
    name: str

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
        "actor_name": actor.name[:60],
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
