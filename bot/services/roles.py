"""The one question every staff action asks: does this person hold this role right now?

Asked inside the transaction that acts, so a role withdrawn a moment ago already counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
