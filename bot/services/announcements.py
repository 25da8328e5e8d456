"""Who hears of a new activity or benefit: the active members it is for (one street's, or
the whole district's), not those who sent /notify off, and, when it is for one need of
the needs survey, only those who ticked it or have not answered the survey. The messages
go through the outbox, so the sender paces them within Telegram's limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.outbox import enqueue_many
from models import AnnouncementOptOut, Member, NeedsSurvey
from models.service_card import NEEDS

BATCH = 1_000  # outbox rows per INSERT


def check_need(need: str | None) -> str | None:
    if need is not None and need not in NEEDS:
        raise ValueError(f"unknown need {need!r}: one of {', '.join(NEEDS)}")
    return need


async def audience(session: AsyncSession, street_id: int | None, need: str | None) -> list[int]:
    """The Telegram ids to tell, in member order."""
    query = (
        select(Member.telegram_user_id, NeedsSurvey.needs)
        .outerjoin(NeedsSurvey, NeedsSurvey.member_id == Member.id)
        .where(Member.status == "active", Member.telegram_user_id.is_not(None))
        .where(~Member.telegram_user_id.in_(select(AnnouncementOptOut.telegram_user_id)))
        .order_by(Member.id)
    )
    if street_id is not None:
        query = query.where(Member.street_id == street_id)
    # The survey's answers are a JSON list: read and filtered here, the same on both engines.
    return [
        user
        for user, needs in await session.execute(query)
        if need is None or needs is None or need in needs
    ]


async def announce(session: AsyncSession, users: list[int], kind: str, **payload: Any) -> int:
    return await enqueue_batched(session, [(user, kind, payload) for user in users])


async def enqueue_batched(
    session: AsyncSession, messages: list[tuple[int, str, dict[str, Any]]]
) -> int:
    """Many outbox rows, a thousand to an INSERT (within SQLite's limit on parameters)."""
    for start in range(0, len(messages), BATCH):
        await enqueue_many(session, messages[start : start + BATCH])
    return len(messages)
