"""The one question every staff action asks: does this person hold this role right now?

Asked inside the transaction that acts, so a role withdrawn a moment ago already counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.audit import Actor
from bot.services.errors import NotAllowed
from models import Staff


async def has_role(
    session: AsyncSession,
    user_id: int | None,
    roles: Iterable[str],
    *,
    street_id: int | None = None,
) -> bool:
    """True if `user_id` actively holds one of `roles` (for `street_id`, when given)."""
    if user_id is None:
        return False
    query = select(Staff.id).where(
        Staff.telegram_user_id == user_id,
        Staff.active.is_(True),
        Staff.role.in_(tuple(roles)),
    )
    if street_id is not None:
        query = query.where(Staff.street_id == street_id)
    return await session.scalar(query.limit(1)) is not None


DISTRICT_ROLES = ("federation", "admin")


async def is_staff_for(session: AsyncSession, actor: Actor, street_id: int | None) -> bool:
    """The command line (the administrator), federation staff or an administrator; else
    active street staff of `street_id` (of any street when None)."""
    if actor.user_id is None or await has_role(session, actor.user_id, DISTRICT_ROLES):
        return True
    return await has_role(session, actor.user_id, ("street",), street_id=street_id)


async def require_federation(session: AsyncSession, actor: Actor) -> None:
    """Federation staff or an administrator, checked inside the transaction that acts;
    the command line (no user id) is the administrator."""
    if actor.user_id is not None and not await has_role(
        session, actor.user_id, ("federation", "admin")
    ):
        raise NotAllowed()
