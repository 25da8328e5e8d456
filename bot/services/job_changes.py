"""The member's own life (动态接转): a new job moves the membership, accepted by the union of
the new workplace; out of work or retired, the membership is kept (保留会籍).

A new job is a request that the street of the new workplace decides (into its joint
union, or into the enterprise union founded there through the bot); accepting it moves
the member, their count from the old enterprise to the new one (which may reach its own
founding threshold) and writes a membership event, all in one transaction under both
enterprises' locks. Keeping the membership needs nobody's decision: the member stays in
their union and counts toward no enterprise until a new job is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db import Database
from bot.services import enterprises, outbox
from bot.services.alerts import raise_threshold_alert
from bot.services.audit import Actor, record
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.members import active_member
from bot.services.outbox import CardRef
from bot.services.unions import enterprise_union, joint_union
from models import (
    Application,
    Enterprise,
    JobChangeRequest,
    Member,
    MembershipEvent,
    Staff,
    Street,
    UnionOrg,
)
from models.base import utcnow

REQUESTS = JobChangeRequest.__table__
MEMBERS = Member.__table__


class JobChangeRefused(DomainError):
    """`code`: not_member, pending (an open request: `number`), same (the member's own
    employer), inactive (the new employer is closed or moved out), kept (already kept),
    decided (the request was decided: `status`, `by`), gone (the member ended)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code, self.extra = code, extra


@dataclass(frozen=True)
class MemberSituation:
    member_id: int
    number: str
    enterprise: str
    union: str
    kept_since: datetime | None
    pending: int | None  # an open request's id


@dataclass(frozen=True)
class RequestView:
    id: int
    status: str
    member_number: str
    member_name: str
    from_enterprise: str
    to_enterprise: str
    to_enterprise_provisional: bool
    from_union: str
    to_union: str
    street_name: str
    kept: bool
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class JobChangeService:
    def __init__(self, db: Database, *, threshold: int, federation_chat_id: int | None) -> None:
        self.db = db
        self.threshold = threshold
        self.federation_chat_id = federation_chat_id

    async def situation(self, user_id: int) -> MemberSituation:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Member, Enterprise.name, UnionOrg.name)
                    .join(Enterprise, Enterprise.id == Member.enterprise_id)
                    .join(UnionOrg, UnionOrg.id == Member.union_org_id)
                    .where(Member.telegram_user_id == user_id, Member.status == "active")
                )
            ).first()
            if row is None:
                raise JobChangeRefused("not_member")
            member, enterprise, union = row
            pending = await session.scalar(
                select(REQUESTS.c.id).where(
                    REQUESTS.c.member_id == member.id, REQUESTS.c.status == "submitted"
                )
            )
        return MemberSituation(member.id, member.number, enterprise, union, member.kept_since,
                               pending)  # fmt: skip

    async def request(
        self,
        user_id: int,
        employer_text: str,
        *,
        enterprise_id: int | None = None,
        uscc: str | None = None,
    ) -> RequestView:
        """The member's new employer (picked, or typed: then found or created as in the
        form); the request goes to the review group of the new workplace's street."""
        try:
            async with self.db.transaction() as session:
                member = await _active_member(session, user_id)
                pending = await session.scalar(
                    select(REQUESTS.c.id).where(
                        REQUESTS.c.member_id == member.id, REQUESTS.c.status == "submitted"
                    )
                )
                if pending is not None:
                    raise JobChangeRefused("pending", request=pending)
                target = await _new_enterprise(session, member, employer_text, enterprise_id,
                                               uscc)  # fmt: skip
                if target.id == member.enterprise_id and member.kept_since is None:
                    raise JobChangeRefused("same")
                if target.status != "active":
                    raise JobChangeRefused("inactive")
                street_id = target.street_id or member.street_id
                union_id = await enterprise_union(session, target.id)
                if union_id is None:
                    street = await session.get_one(Street, street_id)
                    union_id, _created = await joint_union(session, street)
                request_id = await session.scalar(
                    insert(REQUESTS)
                    .values(
                        member_id=member.id, employer_text=employer_text[:100],
                        from_enterprise_id=member.enterprise_id, to_enterprise_id=target.id,
                        from_union_id=member.union_org_id, to_union_id=union_id,
                        street_id=street_id, status="submitted", created_at=utcnow(),
                    )
                    .returning(REQUESTS.c.id)
                )  # fmt: skip
                await record(
                    session, Actor(user_id, "member"), "job_change.requested", "member",
                    member.number, after={"request": request_id, "to_enterprise": target.id,
                                          "to_union": union_id},
                )  # fmt: skip
                # The enterprise union's own group, or the street's.
                review_chat = await session.scalar(
                    select(UnionOrg.review_chat_id).where(UnionOrg.id == union_id)
                ) or await session.scalar(
                    select(Street.review_chat_id).where(Street.id == street_id)
                )
                messages = [(user_id, "job_change_received", {"request_id": request_id})]
                if review_chat is not None:
                    messages.append((review_chat, "job_change_card", {"request_id": request_id}))
                await outbox.enqueue_many(session, messages)
                return await request_view(session, request_id)
        except IntegrityError:  # two requests of one member at once: the index kept one
            raise JobChangeRefused("pending", request=None) from None

    async def decide(
        self, request_id: int, actor: Actor, *, accept: bool, card: CardRef | None = None
    ) -> RequestView:
        """The new workplace's street accepts (the membership moves) or declines."""
        async with self.db.transaction() as session:
            request = await session.get(JobChangeRequest, request_id)
            if request is None:
                raise NotFound("request")
            await enterprises.lock(session, (request.from_enterprise_id, request.to_enterprise_id))
            if not await _reviews(session, actor, request):
                raise NotAllowed()
            now = utcnow()
            decided = await session.execute(
                update(REQUESTS)
                .where(REQUESTS.c.id == request_id, REQUESTS.c.status == "submitted")
                .values(
                    status="accepted" if accept else "declined", decided_at=now,
                    decided_by_user_id=actor.user_id, decided_by_name=actor.name,
                )
                .execution_options(synchronize_session=False)
            )  # fmt: skip
            await session.refresh(request)
            if decided.rowcount != 1:  # type: ignore[attr-defined]
                raise JobChangeRefused(
                    "decided", status=request.status, by=request.decided_by_name,
                    at=request.decided_at,
                )  # fmt: skip
            member = await session.get_one(Member, request.member_id)
            if member.status != "active":
                raise JobChangeRefused("gone")
            messages: list[tuple[int, str, dict[str, Any]]] = []
            if accept:
                await self._move(session, member, request, actor, now)
                if member.telegram_user_id is not None:
                    messages.append(
                        (member.telegram_user_id, "member_card", {"member_id": member.id})
                    )
            await record(
                session, actor, f"job_change.{'accepted' if accept else 'declined'}",
                "member", member.number, before={"enterprise": request.from_enterprise_id},
                after={"enterprise": request.to_enterprise_id if accept else
                       request.from_enterprise_id, "request": request.id},
            )  # fmt: skip
            if member.telegram_user_id is not None:
                messages.insert(
                    0, (member.telegram_user_id, "job_change_decided", {"request_id": request.id})
                )
            if card is not None:
                messages.append(
                    (card.chat_id, "job_change_card_edit",
                     {"request_id": request.id, "message_id": card.message_id})
                )  # fmt: skip
            if messages:
                await outbox.enqueue_many(session, messages)
            return await request_view(session, request.id)

    async def _move(
        self, session: AsyncSession, member: Member, request: JobChangeRequest,
        actor: Actor, now: datetime,
    ) -> None:  # fmt: skip
        from_union = member.union_org_id
        await session.execute(
            update(MEMBERS)
            .where(MEMBERS.c.id == member.id)
            .values(
                enterprise_id=request.to_enterprise_id, union_org_id=request.to_union_id,
                street_id=request.street_id, kept_since=None,
            )
        )  # fmt: skip
        session.add(
            MembershipEvent(
                member_id=member.id, from_union_id=from_union, to_union_id=request.to_union_id,
                reason="job_change", actor_user_id=actor.user_id, actor_name=actor.name, at=now,
            )
        )  # fmt: skip
        await session.flush()
        await enterprises.recount(session, request.from_enterprise_id)
        count = await enterprises.recount(session, request.to_enterprise_id)
        # Staff accepted a worker naming it: a provisional enterprise is confirmed.
        await enterprises.confirm(session, request.to_enterprise_id)
        await raise_threshold_alert(
            session, request.to_enterprise_id, count, self.threshold, self.federation_chat_id
        )

    async def keep(self, user_id: int) -> MemberSituation:
        """Out of work or retired: the membership is kept in the same union and counted
        toward no enterprise (保留会籍)."""
        async with self.db.transaction() as session:
            member = await _active_member(session, user_id)
            await enterprises.lock(session, [member.enterprise_id])
            await session.refresh(member)
            if member.kept_since is not None:
                raise JobChangeRefused("kept")
            pending = await session.scalar(
                select(REQUESTS.c.id).where(
                    REQUESTS.c.member_id == member.id, REQUESTS.c.status == "submitted"
                )
            )
            if pending is not None:
                raise JobChangeRefused("pending", request=pending)
            now = utcnow()
            await session.execute(
                update(MEMBERS).where(MEMBERS.c.id == member.id).values(kept_since=now)
            )
            session.add(
                MembershipEvent(
                    member_id=member.id, from_union_id=member.union_org_id,
                    to_union_id=member.union_org_id, reason="kept", actor_user_id=user_id,
                    actor_name="member", at=now,
                )
            )  # fmt: skip
            await session.flush()
            await enterprises.recount(session, member.enterprise_id)
            await record(
                session, Actor(user_id, "member"), "member.kept", "member", member.number,
                before={"enterprise": member.enterprise_id},
            )  # fmt: skip
        return await self.situation(user_id)

    async def get(self, request_id: int) -> RequestView:
        async with self.db.read() as session:
            return await request_view(session, request_id)

    async def ensure_reviewer(self, request_id: int, actor: Actor) -> None:
        async with self.db.read() as session:
            request = await session.get(JobChangeRequest, request_id)
            if request is None:
                raise NotFound("request")
            if not await _reviews(session, actor, request):
                raise NotAllowed()


async def _active_member(session: AsyncSession, user_id: int) -> Member:
    member = await active_member(session, user_id)
    if member is None:
        raise JobChangeRefused("not_member")
    return member


async def _new_enterprise(
    session: AsyncSession, member: Member, text: str, picked: int | None, uscc: str | None
) -> Enterprise:
    enterprise = await session.get(Enterprise, picked) if picked is not None else None
    while enterprise is not None and enterprise.merged_into_id is not None:
        enterprise = await session.get(Enterprise, enterprise.merged_into_id)
    if enterprise is not None:
        return enterprise
    return await enterprises.find_or_create(session, text, member.street_id, uscc=uscc)


async def _reviews(session: AsyncSession, actor: Actor, request: JobChangeRequest) -> bool:
    """The receiving union's staff, or the street's staff where that union has no group
    of its own (callback data can be forged: checked on every press)."""
    if actor.user_id is None:
        return True  # the command line
    union_staff = exists().where(
        Staff.telegram_user_id == actor.user_id,
        Staff.active.is_(True),
        Staff.role == "union",
        Staff.union_org_id == request.to_union_id,
    )
    street_staff = exists().where(
        Staff.telegram_user_id == actor.user_id,
        Staff.active.is_(True),
        Staff.role == "street",
        Staff.street_id == request.street_id,
    )
    own_group = exists().where(
        UnionOrg.id == request.to_union_id, UnionOrg.review_chat_id.is_not(None)
    )
    return bool(await session.scalar(select(or_(union_staff, and_(street_staff, ~own_group)))))


async def request_view(session: AsyncSession, request_id: int | None) -> RequestView:
    old, new = aliased(Enterprise), aliased(Enterprise)
    source, target = aliased(UnionOrg), aliased(UnionOrg)
    row = (
        await session.execute(
            select(JobChangeRequest, Member, Application.name, old.name, new.name,
                   new.provisional, source.name, target.name, Street.name)
            .join(Member, Member.id == JobChangeRequest.member_id)
            .join(Application, Application.id == Member.application_id)
            .join(old, old.id == JobChangeRequest.from_enterprise_id)
            .join(new, new.id == JobChangeRequest.to_enterprise_id)
            .join(source, source.id == JobChangeRequest.from_union_id)
            .join(target, target.id == JobChangeRequest.to_union_id)
            .join(Street, Street.id == JobChangeRequest.street_id)
            .where(JobChangeRequest.id == request_id)
        )
    ).first()  # fmt: skip
    if row is None:
        raise NotFound("request")
    request, member, name, old_name, new_name, provisional, from_union, to_union, street = row
    return RequestView(
        id=request.id,
        status=request.status,
        member_number=member.number,
        member_name=name,
        from_enterprise=old_name,
        to_enterprise=new_name,
        to_enterprise_provisional=provisional,
        from_union=from_union,
        to_union=to_union,
        street_name=street,
        kept=member.kept_since is not None,
        created_at=request.created_at,
        decided_by=request.decided_by_name,
        decided_at=request.decided_at,
    )
