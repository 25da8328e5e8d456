"""Benefit services (普惠服务): a catalogue per street and district-wide, each with a quota.
A member claims a place (never more claims than the quota, whatever the concurrency: one
conditional UPDATE takes the place) and gets a signed redemption code as a QR; staff scan
it, which opens the bot, and the redemption is recorded once. A redeemed benefit completes
the member's "one benefit service"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timefmt
from bot.db import Database
from bot.services.admin import _street as street_by_ref
from bot.services.announcements import announce, audience, check_need
from bot.services.audit import Actor, record
from bot.services.cards import CardSigner
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.members import active_member
from bot.services.roles import has_role
from models import Benefit, BenefitClaim, Member, Street
from models.base import utcnow

BENEFITS = Benefit.__table__
CLAIMS = BenefitClaim.__table__
TOKEN_PURPOSE = b"unionbot benefit token v1"


class BenefitRefused(DomainError):
    """`code`: not_member, unknown, full, expired, not_yours (another street's), had_one
    (first-only), claimed (this member has it), forged (a code that is not ours),
    redeemed (at `at` by `by`)."""

    def __init__(self, code: str, **extra: object) -> None:
        super().__init__(code)
        self.code, self.extra = code, extra


@dataclass(frozen=True)
class BenefitView:
    id: int
    title: str
    description: str
    provider: str
    street: str | None  # None: district-wide
    left: int
    valid_to: date
    claim_id: int | None = None  # this member's claim
    redeemed_at: datetime | None = None


@dataclass(frozen=True)
class Redemption:
    claim_id: int
    benefit: str
    member_number: str
    redeemed_at: datetime


class BenefitService:
    def __init__(self, db: Database, signer: CardSigner) -> None:
        """`signer`: a CardSigner with TOKEN_PURPOSE (bot.app.load_keys makes it)."""
        self.db = db
        self.signer = signer

    async def add(
        self, title: str, provider: str, quota: int, valid_from: date, valid_to: date,
        actor: Actor, *, street_ref: str | None = None, description: str = "",
        first_only: bool = False, need: str | None = None,
    ) -> int:  # fmt: skip
        """Add to the catalogue and announce it to the members it is for."""
        if quota < 1 or valid_to < valid_from or not title.strip() or not provider.strip():
            raise ValueError("a benefit needs a title, a provider, a quota of at least 1 and "
                             "a period that ends after it starts")  # fmt: skip
        async with self.db.transaction() as session:
            street_id = None
            if street_ref is not None:
                street_id = (await street_by_ref(session, street_ref)).id
            benefit = Benefit(street_id=street_id, title=title.strip()[:60],
                              description=description.strip(), provider=provider.strip()[:60],
                              quota=quota, claimed=0, valid_from=valid_from, valid_to=valid_to,
                              first_only=first_only, need=check_need(need))  # fmt: skip
            session.add(benefit)
            await session.flush()
            users = await audience(session, street_id, need)
            announced = await announce(session, users, "benefit_announced", benefit_id=benefit.id)
            after = {"title": benefit.title, "quota": quota, "street": street_ref,
                     "announced": announced}  # fmt: skip
            await record(session, actor, "benefit.added", "benefit", benefit.id, after=after)
            return benefit.id

    async def for_member(self, user_id: int, today: date | None = None) -> list[BenefitView]:
        """What the member may claim now, and what they claimed."""
        today = today or timefmt.local(utcnow()).date()
        async with self.db.read() as session:
            member = await _member(session, user_id)
            rows = await session.execute(
                select(Benefit, Street.name, CLAIMS.c.id, CLAIMS.c.redeemed_at)
                .outerjoin(Street, Street.id == Benefit.street_id)
                .outerjoin(CLAIMS, (CLAIMS.c.benefit_id == Benefit.id)
                           & (CLAIMS.c.member_id == member.id))
                .where(or_(Benefit.street_id.is_(None), Benefit.street_id == member.street_id))
                .where(Benefit.valid_from <= today, Benefit.valid_to >= today)
                .order_by(Benefit.valid_to, Benefit.id)
            )  # fmt: skip
            views = []
            for b, street, claim, redeemed in rows:
                left = b.quota - b.claimed
                views.append(BenefitView(b.id, b.title, b.description, b.provider, street, left,
                                         b.valid_to, claim, redeemed))  # fmt: skip
            return views

    async def claim(self, user_id: int, benefit_id: int, today: date | None = None) -> str:
        """Take a place; the redemption code (for a QR) of the claim."""
        today = today or timefmt.local(utcnow()).date()
        try:
            async with self.db.transaction() as session:
                member = await _member(session, user_id)
                benefit = await session.get(Benefit, benefit_id)
                if benefit is None:
                    raise BenefitRefused("unknown")
                if benefit.street_id not in (None, member.street_id):
                    raise BenefitRefused("not_yours")
                if not benefit.valid_from <= today <= benefit.valid_to:
                    raise BenefitRefused("expired")
                mine = await session.scalar(
                    select(CLAIMS.c.id).where(
                        CLAIMS.c.benefit_id == benefit_id, CLAIMS.c.member_id == member.id
                    )
                )
                if mine is not None:
                    raise BenefitRefused("claimed", token=self.signer.token(mine))
                if benefit.first_only and await session.scalar(
                    select(exists().where(CLAIMS.c.member_id == member.id))
                ):
                    raise BenefitRefused("had_one")
                taken = await session.execute(
                    update(BENEFITS)
                    .where(BENEFITS.c.id == benefit_id, BENEFITS.c.claimed < BENEFITS.c.quota)
                    .values(claimed=BENEFITS.c.claimed + 1)
                )
                if not taken.rowcount:  # type: ignore[attr-defined]
                    raise BenefitRefused("full")
                claim = BenefitClaim(benefit_id=benefit_id, member_id=member.id,
                                     claimed_at=utcnow())  # fmt: skip
                session.add(claim)
                await session.flush()
                await record(session, Actor(user_id, "member"), "benefit.claimed", "benefit",
                             benefit_id, after={"member": member.number})  # fmt: skip
                return self.signer.token(claim.id)
        except IntegrityError:  # the same member claiming twice at once: the first counts
            raise BenefitRefused("claimed") from None

    async def redeem(self, token: str, actor: Actor) -> Redemption:
        """Staff scanned a member's code: the street's staff (the member's street) or the
        federation's record the redemption, once."""
        claim_id = self.signer.member_id(token)
        if claim_id is None:
            raise BenefitRefused("forged")
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    select(BenefitClaim, Benefit.title, Member.number, Member.street_id)
                    .join(Benefit, Benefit.id == BenefitClaim.benefit_id)
                    .join(Member, Member.id == BenefitClaim.member_id)
                    .where(BenefitClaim.id == claim_id)
                )
            ).first()
            if row is None:
                raise BenefitRefused("forged")
            claim, title, number, street_id = row
            allowed = await has_role(session, actor.user_id, ("federation", "admin"))
            if not allowed:
                allowed = await has_role(session, actor.user_id, ("street",), street_id=street_id)
            if not allowed:
                raise NotAllowed()
            now = utcnow()
            done = await session.execute(
                update(CLAIMS)
                .where(CLAIMS.c.id == claim_id, CLAIMS.c.redeemed_at.is_(None))
                .values(redeemed_at=now, redeemed_by_user_id=actor.user_id,
                        redeemed_by_name=actor.name)
            )  # fmt: skip
            if not done.rowcount:  # type: ignore[attr-defined]
                raise BenefitRefused("redeemed", at=claim.redeemed_at, by=claim.redeemed_by_name)
            await record(session, actor, "benefit.redeemed", "benefit", claim.benefit_id,
                         after={"member": number})  # fmt: skip
            return Redemption(claim_id, title, number, now)


async def benefit_view(session: AsyncSession, benefit_id: int) -> BenefitView:
    """An outbox view's read of a benefit (NotFound when it is gone)."""
    row = (
        await session.execute(
            select(Benefit, Street.name)
            .outerjoin(Street, Street.id == Benefit.street_id)
            .where(Benefit.id == benefit_id)
        )
    ).first()
    if row is None:
        raise NotFound()
    b, street = row
    return BenefitView(b.id, b.title, b.description, b.provider, street, b.quota - b.claimed,
                       b.valid_to)  # fmt: skip


async def _member(session: AsyncSession, user_id: int) -> Member:
    member = await active_member(session, user_id)
    if member is None:
        raise BenefitRefused("not_member")
    return member
