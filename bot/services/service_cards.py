"""The member service card (会员服务卡): a member asks for it, the street exports its
requests in batches for the city federation (which issues the card), marks a batch sent
and arrived (the members are told to collect theirs at the service station) and each
card collected. Also the members' needs survey, asked once with the request, and the
"four ones" checklist that `/status` shows.

The street's steps are for the street's own staff (street staff of the batch's or the
card's street), federation staff and administrators, and the command line (no user id:
the administrator); the role is checked in the transaction that acts."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timefmt
from bot.db import Database
from bot.pii import PiiCipher, mask_mobile, mask_resident_id
from bot.services import outbox
from bot.services.admin import _street as street_by_ref
from bot.services.audit import Actor, record
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.members import active_member
from bot.services.roles import is_staff_for
from bot.xlsx import Sheet, workbook
from models import (
    ActivitySignup,
    Application,
    BenefitClaim,
    Enterprise,
    Member,
    NeedsSurvey,
    ServiceCardBatch,
    ServiceCardRequest,
    Street,
    UnionOrg,
)
from models.base import utcnow
from models.service_card import CARD_STATUSES, NEEDS

REQUESTS = ServiceCardRequest.__table__
BATCHES = ServiceCardBatch.__table__
HEADERS = ("序号", "会员编号", "姓名", "性别", "出生日期", "身份证号", "手机号", "工作单位",
           "所属工会", "入会日期")  # fmt: skip
SHEET = "会员服务卡申领"


class ServiceCardRefused(DomainError):
    """`code`: not_member, nothing (no request waits to be batched), batch (no such
    batch), order (the batch is not at the step before: `status`), answered (the survey
    was answered), not_requested (no card was asked for), collected, street (the batch or
    the card is another street's than the one asked about)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "not_member": "not an active member",
        "nothing": "no request is waiting to be batched",
        "batch": "no such batch",
        "street": "the batch or the card belongs to another street",
        "order": "not at the step before this one",
        "answered": "the survey was answered already",
        "collected": "the card was collected already",
    }

    def __init__(self, code: str, **extra: object) -> None:
        status = f" (now {extra['status']})" if extra.get("status") else ""
        super().__init__(self.MESSAGES.get(code, code) + status)
        self.code, self.extra = code, extra


@dataclass(frozen=True)
class CardSituation:
    member_id: int
    member_number: str
    status: str | None  # None: not requested
    requested_at: datetime | None
    collected_at: datetime | None
    street: str
    contact: str | None
    surveyed: bool


@dataclass(frozen=True)
class FourOnes:
    card_since: date
    service_card: str | None  # the request's status, None when not requested
    service_card_on: date | None  # collected on
    benefit_on: date | None  # the first benefit redeemed
    activity_on: date | None  # the first activity attended


@dataclass(frozen=True)
class Batch:
    number: str
    street: str
    cards: int
    workbook: bytes


@dataclass(frozen=True)
class BatchLine:
    number: str
    status: str  # batched, sent, arrived
    cards: int
    collected: int
    created_at: datetime


@dataclass(frozen=True)
class StreetCards:
    """A street's cards for its staff: requests by status (every one of CARD_STATUSES),
    and the batches with a card not collected yet, oldest first."""

    code: str
    street: str
    counts: dict[str, int]
    batches: tuple[BatchLine, ...]


class ServiceCardService:
    def __init__(self, db: Database, cipher: PiiCipher) -> None:
        self.db = db
        self.cipher = cipher

    # ------------------------------------------------------------------------ members

    async def situation(self, user_id: int) -> CardSituation:
        async with self.db.read() as session:
            member = await _member(session, user_id)
            return await _situation(session, member)

    async def request(self, user_id: int) -> CardSituation:
        """Ask for the card (once: asking again changes nothing)."""
        try:
            async with self.db.transaction() as session:
                member = await _member(session, user_id)
                exists = await session.scalar(
                    select(REQUESTS.c.id).where(REQUESTS.c.member_id == member.id)
                )
                if exists is None:
                    session.add(
                        ServiceCardRequest(member_id=member.id, street_id=member.street_id,
                                           status="requested", requested_at=utcnow())
                    )  # fmt: skip
                    await session.flush()
                    await record(session, Actor(user_id, "member"), "service_card.requested",
                                 "member", member.number)  # fmt: skip
                return await _situation(session, member)
        except IntegrityError:  # asked twice at the same moment: the first one counts
            return await self.situation(user_id)

    async def answer_survey(self, user_id: int, needs: list[str]) -> None:
        chosen = [need for need in NEEDS if need in set(needs)]
        try:
            async with self.db.transaction() as session:
                member = await _member(session, user_id)
                if await session.get(NeedsSurvey, member.id) is not None:
                    raise ServiceCardRefused("answered")
                session.add(NeedsSurvey(member_id=member.id, needs=chosen, answered_at=utcnow(),
                                        answered_by=user_id))  # fmt: skip
                await session.flush()
        except IntegrityError:
            raise ServiceCardRefused("answered") from None

    async def four_ones(self, member_id: int) -> FourOnes:
        async with self.db.read() as session:
            member = await session.get_one(Member, member_id)
            card = (
                await session.execute(
                    select(REQUESTS.c.status, REQUESTS.c.collected_at).where(
                        REQUESTS.c.member_id == member_id
                    )
                )
            ).first()
            benefit = await session.scalar(
                select(BenefitClaim.redeemed_at)
                .where(BenefitClaim.member_id == member_id, BenefitClaim.redeemed_at.is_not(None))
                .order_by(BenefitClaim.redeemed_at)
                .limit(1)
            )
            activity = await session.scalar(
                select(func.min(ActivitySignup.attended_at)).where(
                    ActivitySignup.member_id == member_id
                )
            )
        collected = card.collected_at if card else None
        return FourOnes(
            timefmt.local(member.joined_at).date(),
            card.status if card else None,
            timefmt.local(collected).date() if collected else None,
            timefmt.local(benefit).date() if benefit else None,
            timefmt.local(activity).date() if activity else None,
        )

    # ------------------------------------------------------------------------ staff

    async def make_batch(self, street_ref: str, actor: Actor, *, full_ids: bool = False) -> Batch:
        """Every waiting request of the street in one batch, with the Excel file for the
        city federation. Full id and mobile numbers only when asked (the command line:
        an administrator), and then audited."""
        async with self.db.transaction() as session:
            await _require_staff(session, actor)
            street = await street_by_ref(session, street_ref)
            await _require_staff(session, actor, street.id)
            # Numbered after its id, known once inserted: a unique placeholder until then.
            batch = ServiceCardBatch(street_id=street.id, number=secrets.token_hex(8),
                                     created_by=actor.name)  # fmt: skip
            session.add(batch)
            await session.flush()
            batch.number = f"JK-{street.code}-{batch.id:05d}"
            # Each request joins one batch only, whoever exports at the same moment.
            taken = list(
                await session.scalars(
                    update(REQUESTS)
                    .where(REQUESTS.c.street_id == street.id, REQUESTS.c.status == "requested")
                    .values(status="batched", batch_id=batch.id)
                    .returning(REQUESTS.c.member_id)
                )
            )
            if not taken:
                raise ServiceCardRefused("nothing")
            rows = await self._rows(session, taken, full_ids)
            await record(
                session, actor, "service_card.batched", "service_card_batch", batch.number,
                after={"cards": len(taken), "full_ids": full_ids},
            )  # fmt: skip
            number, name = batch.number, street.name
        # Excel is CPU work: after the commit (no lock held) and off the event loop.
        data = await asyncio.to_thread(workbook, [Sheet(SHEET, HEADERS, rows)])
        return Batch(number, name, len(taken), data)

    async def batch_file(
        self, batch_number: str, actor: Actor, *, street_ref: str | None = None
    ) -> Batch:
        """A batch's Excel file again (the first one was lost on the way), numbers masked:
        every card of the batch, whatever step it is at. Audited."""
        async with self.db.transaction() as session:
            batch = await _batch(session, batch_number, actor, street_ref)
            members = list(
                await session.scalars(
                    select(REQUESTS.c.member_id).where(REQUESTS.c.batch_id == batch.id)
                )
            )
            rows = await self._rows(session, members, False)
            street = await session.get_one(Street, batch.street_id)
            await record(session, actor, "service_card.exported_again", "service_card_batch",
                         batch.number, after={"cards": len(members)})  # fmt: skip
            number, name = batch.number, street.name
        data = await asyncio.to_thread(workbook, [Sheet(SHEET, HEADERS, rows)])
        return Batch(number, name, len(members), data)

    async def overview(self, street_ref: str, actor: Actor) -> StreetCards:
        """The street's requests by status and its open batches, for its staff."""
        async with self.db.read() as session:
            await _require_staff(session, actor)
            street = await street_by_ref(session, street_ref)
            await _require_staff(session, actor, street.id)
            counts = dict.fromkeys(CARD_STATUSES, 0)
            for status, count in await session.execute(
                select(REQUESTS.c.status, func.count(REQUESTS.c.id))
                .where(REQUESTS.c.street_id == street.id)
                .group_by(REQUESTS.c.status)
            ):
                counts[status] = int(count)
            collected = func.count(REQUESTS.c.collected_at)
            rows = await session.execute(
                select(BATCHES.c.number, BATCHES.c.sent_at, BATCHES.c.arrived_at,
                       BATCHES.c.created_at, func.count(REQUESTS.c.id), collected)
                .join(REQUESTS, REQUESTS.c.batch_id == BATCHES.c.id)
                .where(BATCHES.c.street_id == street.id)
                .group_by(BATCHES.c.id, BATCHES.c.number, BATCHES.c.sent_at,
                          BATCHES.c.arrived_at, BATCHES.c.created_at)
                .having(collected < func.count(REQUESTS.c.id))
                .order_by(BATCHES.c.id)
            )  # fmt: skip
            batches = tuple(
                BatchLine(number, "batched" if sent is None else "sent" if arrived is None
                          else "arrived", int(cards), int(done), created)
                for number, sent, arrived, created, cards, done in rows
            )  # fmt: skip
            return StreetCards(street.code, street.name, counts, batches)

    async def _rows(
        self, session: AsyncSession, member_ids: list[int], full_ids: bool
    ) -> list[tuple[object, ...]]:
        result = await session.execute(
            select(Member.number, Application, Enterprise.name, UnionOrg.name, Member.joined_at)
            .join(Application, Application.id == Member.application_id)
            .join(Enterprise, Enterprise.id == Member.enterprise_id)
            .join(UnionOrg, UnionOrg.id == Member.union_org_id)
            .where(Member.id.in_(member_ids))
            .order_by(Member.number)
        )
        rows: list[tuple[object, ...]] = []
        for index, (number, application, employer, union, joined_at) in enumerate(result, 1):
            ric = self.cipher.decrypt(application.ric_cipher, context="ric")
            mobile = self.cipher.decrypt(application.mobile_cipher, context="mobile")
            rows.append((
                index, number, application.name, "男" if application.gender == "male" else "女",
                application.birth_date, ric if full_ids else mask_resident_id(ric),
                mobile.removeprefix("+86") if full_ids else mask_mobile(mobile), employer, union,
                timefmt.local(joined_at).date(),
            ))  # fmt: skip
        return rows

    async def mark(
        self, batch_number: str, step: str, actor: Actor, *, street_ref: str | None = None
    ) -> int:
        """A batch sent to the city federation, or its cards arrived at the service
        station (then each member is told to collect theirs). The number of cards.
        `street_ref`: only a batch of that street (asked in its review group)."""
        before, column = {"sent": ("batched", "sent_at"), "arrived": ("sent", "arrived_at")}[step]
        async with self.db.transaction() as session:
            batch = await _batch(session, batch_number, actor, street_ref)
            moved = list(
                await session.execute(
                    update(REQUESTS)
                    .where(REQUESTS.c.batch_id == batch.id, REQUESTS.c.status == before)
                    .values(status=step)
                    .returning(REQUESTS.c.id, REQUESTS.c.member_id)
                )
            )
            if not moved:
                current = await session.scalar(
                    select(REQUESTS.c.status).where(REQUESTS.c.batch_id == batch.id).limit(1)
                )
                raise ServiceCardRefused("order", status=current)
            setattr(batch, column, utcnow())
            await record(session, actor, f"service_card.{step}", "service_card_batch",
                         batch.number, after={"cards": len(moved)})  # fmt: skip
            if step == "arrived":
                users = await session.execute(
                    select(Member.id, Member.telegram_user_id).where(
                        Member.id.in_([m for _, m in moved]), Member.telegram_user_id.is_not(None)
                    )
                )
                messages = [(user, "service_card_arrived", {"member_id": member})
                            for member, user in users]  # fmt: skip
                if messages:
                    await outbox.enqueue_many(session, messages)
            return len(moved)

    async def collected(
        self, member_number: str, actor: Actor, *, street_ref: str | None = None
    ) -> None:
        """The member took their card at the service station: the item is done. For staff
        of the street the card was asked for in (its batch went from there and it arrived
        there), or of the member's street when no card was asked for.
        `street_ref`: only a card of that street (asked in its review group)."""
        async with self.db.transaction() as session:
            await _require_staff(session, actor)
            member = (
                await session.execute(
                    select(Member.id, Member.street_id).where(
                        Member.number == member_number.strip().upper()
                    )
                )
            ).first()
            if member is None:
                raise NotFound(f"member {member_number}")
            member_id, street_id = member
            asked_in = await session.scalar(
                select(REQUESTS.c.street_id).where(REQUESTS.c.member_id == member_id)
            )
            street_id = asked_in or street_id
            await _require_staff(session, actor, street_id)
            await _require_street(session, street_id, street_ref)
            done = await session.execute(
                update(REQUESTS)
                .where(REQUESTS.c.member_id == member_id, REQUESTS.c.status == "arrived")
                .values(status="collected", collected_at=utcnow(), collected_by=actor.name)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                status = await session.scalar(
                    select(REQUESTS.c.status).where(REQUESTS.c.member_id == member_id)
                )
                raise ServiceCardRefused("collected" if status == "collected" else "order",
                                         status=status)  # fmt: skip
            await record(session, actor, "service_card.collected", "member", member_number.upper())

    async def completion(self) -> list[tuple[str, int, int, int]]:
        """Per street: (street, active members, cards asked for, cards collected)."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(
                    Street.name,
                    func.count(Member.id),
                    func.count(REQUESTS.c.id),  # one request per member at most
                    func.count(REQUESTS.c.collected_at),
                )
                .join(Member, (Member.street_id == Street.id) & (Member.status == "active"))
                .outerjoin(REQUESTS, REQUESTS.c.member_id == Member.id)
                .group_by(Street.name)
                .order_by(Street.name)
            )
            return [(name, int(a), int(b), int(c)) for name, a, b, c in rows]


async def _require_staff(session: AsyncSession, actor: Actor, street_id: int | None = None) -> None:
    """The command line (the administrator), federation staff or an administrator, or
    active street staff of `street_id` (of any street when None: asked before looking
    anything up, so that nobody else learns what exists)."""
    if not await is_staff_for(session, actor, street_id):
        raise NotAllowed()


async def _require_street(session: AsyncSession, street_id: int, street_ref: str | None) -> None:
    if street_ref is not None and (await street_by_ref(session, street_ref)).id != street_id:
        raise ServiceCardRefused("street")


async def _batch(
    session: AsyncSession, batch_number: str, actor: Actor, street_ref: str | None
) -> ServiceCardBatch:
    """The batch, for staff of its street or the district's; of `street_ref` if given."""
    await _require_staff(session, actor)
    batch = await session.scalar(
        select(ServiceCardBatch).where(ServiceCardBatch.number == batch_number.strip().upper())
    )
    if batch is None:
        raise ServiceCardRefused("batch")
    await _require_staff(session, actor, batch.street_id)
    await _require_street(session, batch.street_id, street_ref)
    return batch


async def _member(session: AsyncSession, user_id: int) -> Member:
    member = await active_member(session, user_id)
    if member is None:
        raise ServiceCardRefused("not_member")
    return member


async def _situation(session: AsyncSession, member: Member) -> CardSituation:
    request = (
        await session.execute(
            select(REQUESTS.c.status, REQUESTS.c.requested_at, REQUESTS.c.collected_at).where(
                REQUESTS.c.member_id == member.id
            )
        )
    ).first()
    street = await session.get_one(Street, member.street_id)
    surveyed = await session.get(NeedsSurvey, member.id) is not None
    return CardSituation(
        member.id, member.number, request.status if request else None,
        request.requested_at if request else None, request.collected_at if request else None,
        street.name, street.contact, surveyed,
    )  # fmt: skip
