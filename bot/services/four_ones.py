"""The "four ones" (四个一) completion that staff see: per street, or per reception point of
one street, how many active members have each item done. Counted from the rows each time
(the card is issued on joining; the other three are a collected service card, a redeemed
benefit and an attended activity)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, func, select

from bot.db import Database
from models import (
    ActivitySignup,
    Application,
    BenefitClaim,
    Member,
    ReceptionPoint,
    ServiceCardRequest,
    Street,
)

NO_POINT = "（未经接待点）"


@dataclass(frozen=True)
class Completion:
    name: str  # the street, or the reception point
    members: int  # active members, each with a member card
    service_card: int
    benefit: int
    activity: int
    all_four: int


SERVICE_CARD = exists().where(
    ServiceCardRequest.member_id == Member.id, ServiceCardRequest.collected_at.is_not(None)
)
BENEFIT = exists().where(BenefitClaim.member_id == Member.id, BenefitClaim.redeemed_at.is_not(None))
ACTIVITY = exists().where(
    ActivitySignup.member_id == Member.id, ActivitySignup.attended_at.is_not(None)
)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


COLUMNS = (
    func.count(Member.id),
    _count(SERVICE_CARD),
    _count(BENEFIT),
    _count(ACTIVITY),
    _count(and_(SERVICE_CARD, BENEFIT, ACTIVITY)),
)


class CompletionService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_street(self) -> list[Completion]:
        """Every street, with its active members (a street without members shows zeros)."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(Street.name, *COLUMNS)
                .outerjoin(Member, (Member.street_id == Street.id) & (Member.status == "active"))
                .group_by(Street.id, Street.name)
                .order_by(Street.name)
            )
            return [Completion(name, *map(int, counts)) for name, *counts in rows]

    async def by_point(self, street_id: int) -> list[Completion]:
        """One street's active members by the reception point they applied at."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(ReceptionPoint.name, *COLUMNS)
                .select_from(Member)
                .join(Application, Application.id == Member.application_id)
                .outerjoin(ReceptionPoint, ReceptionPoint.id == Application.point_id)
                .where(Member.street_id == street_id, Member.status == "active")
                .group_by(ReceptionPoint.id, ReceptionPoint.name)
                .order_by(ReceptionPoint.name)
            )
            return [Completion(name or NO_POINT, *map(int, counts)) for name, *counts in rows]

    async def street_of_review_chat(self, chat_id: int) -> tuple[int, str] | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Street.id, Street.name).where(Street.review_chat_id == chat_id)
                )
            ).first()
            return (row[0], row[1]) if row else None
