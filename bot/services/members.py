"""The one question the member's own commands ask first: which active member is this?"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Member


async def active_member(session: AsyncSession, user_id: int) -> Member | None:
    """The person's active membership, if they have one."""
    return await session.scalar(
        select(Member).where(Member.telegram_user_id == user_id, Member.status == "active")
    )
