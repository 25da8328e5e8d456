"""The worker's side: reception points, the person's standing, submitting an application."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.changes import ORG_TOPIC, Cached
from bot.db import Database
from bot.pii import LookupHasher, PiiCipher
from bot.services import enterprises, outbox, sequences
from bot.services.audit import Actor, display_name, record
from bot.services.errors import AlreadyMember, ConsentMissing, NotFound, OpenApplicationExists
from bot.services.membership import EventView, events_of
from bot.services.unions import founded_union
from bot.validation import validate_employer
from models import Application, Enterprise, Member, ReceptionPoint, Staff, Street, UnionOrg
from models.base import utcnow

NOTICE_VERSION = "2026-11"
CLAIM_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or typed


def new_claim_code() -> str:
    return "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class PointInfo:
    id: int | None
    name: str
    street_id: int
    street_name: str


@dataclass(frozen=True)
class StreetInfo:
    id: int
    name: str


@dataclass
class Draft:
    """Everything the conversation collected, already validated."""

    street_id: int
    point_id: int | None
    consent_at: datetime
    notice_version: str
    name: str
    resident_id: str
    gender: str
    birth_date: date
    mobile: str
    employer: str
    job: str | None
    language: str
    # A paper application entered by street staff: (their Telegram id, their name).
    assisted_by: tuple[int, str] | None = None
    # The registry enterprise the worker picked (None: create or reuse a provisional one).
    enterprise_id: int | None = None
    employer_uscc: str | None = None
    # What the worker typed at the employer step (None: not known), and the branch or
    # store they named after the employer (望京店).
    employer_typed: str | None = None
    employer_branch: str | None = None

    @property
    def channel(self) -> str:
        if self.assisted_by is not None:
            return "assisted"
        return "qr" if self.point_id is not None else "online"


@dataclass(frozen=True)
class Submitted:
    number: str
    street_name: str
    # For assisted applications: the one-time code the worker scans to claim it.
    claim_code: str | None = None


@dataclass(frozen=True)
class Claimed:
    number: str
    status: str
    member_number: str | None


@dataclass(frozen=True)
class ApplicationView:
    number: str
    status: str
    submitted_at: datetime
    decided_at: datetime | None
    reject_reason: str | None
    reject_note: str | None
    street_name: str
    employer: str
    street_id: int = 0


@dataclass(frozen=True)
class MembershipView:
    member_id: int
    number: str
    joined_at: datetime
    union_name: str
    history: tuple[EventView, ...] = ()  # the union changes, oldest first
    kept_since: datetime | None = None  # 保留会籍: out of work or retired


# The update path's reads: single statements (Database.fetch_one), built once.


@cache
def _active_points() -> Select[Any]:
    return (
        select(ReceptionPoint.code, ReceptionPoint.id, ReceptionPoint.name, Street.id, Street.name)
        .join(Street, Street.id == ReceptionPoint.street_id)
        .where(ReceptionPoint.active.is_(True))
    )


@cache
def _streets() -> Select[Any]:
    return select(Street.id, Street.name).order_by(Street.id)


@cache
def _standing(by: str) -> Select[Any]:
    """(active member number, open application number, its submission time) of a person
    known by `by`: "ric_hash" (the resident id's hash) or "telegram_user_id"."""
    key = bindparam(by)

    def pending(column: Any) -> Any:
        return (
            select(column)
            .where(getattr(Application, by) == key, Application.status == "submitted")
            .order_by(Application.id)
            .limit(1)
            .scalar_subquery()
        )

    member = (
        select(Member.number)
        .where(getattr(Member, by) == key, Member.status == "active")
        .limit(1)
        .scalar_subquery()
    )
    return select(member, pending(Application.number), pending(Application.submitted_at))


def _raise_if_standing(row: Any) -> None:
    member_number, application_number, submitted_at = row
    if member_number is not None:
        raise AlreadyMember(member_number)
    if application_number is not None:
        raise OpenApplicationExists(application_number, submitted_at)


class IntakeService:
    def __init__(self, db: Database, cipher: PiiCipher, hasher: LookupHasher) -> None:
        self.db = db
        self.cipher = cipher
        self.hasher = hasher
        # What staff change a few times a day, read on every /start (bot/changes.py).
        self._points = Cached(db.changes, ORG_TOPIC, self._load_points)
        self._streets = Cached(db.changes, ORG_TOPIC, self._load_streets)

    async def _load_points(self) -> dict[str, PointInfo]:
        rows = await self.db.fetch_all(_active_points())
        return {code: PointInfo(*rest) for code, *rest in rows}

    async def _load_streets(self) -> dict[int, StreetInfo]:
        return {id_: StreetInfo(id_, name) for id_, name in await self.db.fetch_all(_streets())}

    def ric_hash(self, resident_id: str) -> str:
        return self.hasher.digest(resident_id, context="ric")

    async def point_by_code(self, code: str) -> PointInfo | None:
        """An active reception point; None for an unknown or retired code."""
        return (await self._points.get()).get(code)

    async def streets(self) -> list[StreetInfo]:
        return list((await self._streets.get()).values())

    async def street(self, street_id: int) -> StreetInfo:
        street = (await self._streets.get()).get(street_id)
        if street is None:
            raise NotFound("street")
        return street

    async def staff_street(self, user_id: int) -> StreetInfo | None:
        """The street this person reviews for, if they are active street staff."""
        async with self.db.read() as session:
            street = await session.scalar(
                select(Street)
                .join(Staff, Staff.street_id == Street.id)
                .where(
                    Staff.telegram_user_id == user_id,
                    Staff.role == "street",
                    Staff.active.is_(True),
                )
                .limit(1)
            )
        return StreetInfo(street.id, street.name) if street else None

    async def check_person(self, resident_id: str) -> None:
        """Raise if this person already has an open application or is a member."""
        ric_hash = self.ric_hash(resident_id)
        row = await self.db.fetch_one(_standing("ric_hash"), ric_hash=ric_hash)
        _raise_if_standing(row)

    async def _check_person(self, session: AsyncSession, ric_hash: str) -> None:
        row = (await session.execute(_standing("ric_hash"), {"ric_hash": ric_hash})).one()
        _raise_if_standing(row)

    async def submit(self, user_id: int, draft: Draft) -> Submitted:
        """Store the application and queue its review card. For an assisted application
        `user_id` is the staff member's; the worker claims it later with the code."""
        if draft.consent_at is None or not draft.notice_version:
            raise ConsentMissing()
        if draft.enterprise_id is None:
            # Typed text becomes an enterprise name: never a mobile or id number, even from
            # a form saved before the form checked it (raises ValidationError).
            validate_employer(draft.employer)
        ric_hash = self.ric_hash(draft.resident_id)
        claim_code = new_claim_code() if draft.assisted_by else None
        applicant = None if draft.assisted_by else user_id
        try:
            async with self.db.transaction() as session:
                await self._check_person(session, ric_hash)
                street = await session.get(Street, draft.street_id)
                if street is None:
                    raise NotFound("street")
                enterprise = await _enterprise_of(session, draft)
                # The union founded at the employer through the bot takes its workers.
                union_id, union_chat = await founded_union(session, enterprise.id)
                application = Application(
                    number=await sequences.next_application_number(session),
                    telegram_user_id=applicant,
                    language=draft.language,
                    channel=draft.channel,
                    assisted_by_user_id=draft.assisted_by[0] if draft.assisted_by else None,
                    assisted_by_name=display_name(draft.assisted_by[1])
                    if draft.assisted_by
                    else None,
                    claim_hash=self._claim_hash(claim_code) if claim_code else None,
                    name=draft.name,
                    ric_cipher=self.cipher.encrypt(draft.resident_id, context="ric"),
                    ric_hash=ric_hash,
                    mobile_cipher=self.cipher.encrypt(draft.mobile, context="mobile"),
                    gender=draft.gender,
                    birth_date=draft.birth_date,
                    employer_text=draft.employer,
                    employer_typed=draft.employer_typed[:100] if draft.employer_typed else None,
                    employer_branch=draft.employer_branch[:40] if draft.employer_branch else None,
                    enterprise_id=enterprise.id,
                    employer_has_union=enterprise.has_union,
                    job=draft.job,
                    street_id=street.id,
                    union_org_id=union_id,
                    point_id=draft.point_id,
                    notice_version=draft.notice_version,
                    consent_at=draft.consent_at,
                    submitted_at=utcnow(),
                )
                session.add(application)
                await session.flush()
                actor = Actor(user_id, draft.assisted_by[1] if draft.assisted_by else "applicant")
                await record(
                    session,
                    actor,
                    "application.submitted",
                    "application",
                    application.number,
                    after={
                        "street": street.name,
                        "enterprise_id": enterprise.id,
                        "channel": draft.channel,
                    },
                )
                if applicant is not None:
                    await outbox.enqueue(
                        session, applicant, "application_received", application_id=application.id
                    )
                review_chat = union_chat or street.review_chat_id  # its own group first
                if review_chat is not None:
                    await outbox.enqueue(
                        session, review_chat, "review_card", application_id=application.id
                    )
                return Submitted(application.number, street.name, claim_code)
        except IntegrityError:
            # Two submissions of one person raced; the partial unique index kept one.
            async with self.db.read() as session:
                await self._check_person(session, ric_hash)
            raise

    def _claim_hash(self, code: str) -> str:
        return self.hasher.digest(code, context="claim")

    async def claim(self, code: str, user_id: int) -> Claimed:
        """A worker takes over the paper application staff entered for them (once)."""
        async with self.db.transaction() as session:
            application = await session.scalar(
                select(Application).where(Application.claim_hash == self._claim_hash(code))
            )
            if application is None or application.telegram_user_id is not None:
                raise NotFound("claim code")
            application.telegram_user_id = user_id
            application.claim_hash = None  # one-time
            member = await session.scalar(
                select(Member).where(Member.application_id == application.id)
            )
            if member is not None:
                member.telegram_user_id = user_id
                if member.status == "active":
                    await outbox.enqueue(session, user_id, "member_card", member_id=member.id)
            await record(
                session, Actor(user_id, "applicant"), "application.claimed", "application",
                application.number,
            )  # fmt: skip
            return Claimed(
                application.number, application.status, member.number if member else None
            )

    async def standing_of(self, user_id: int) -> tuple[str | None, str | None]:
        """(active member number, open application number) in one query: /start asks
        this on every scan, so it is kept cheap."""
        row = await self.db.fetch_one(_standing("telegram_user_id"), telegram_user_id=user_id)
        return (row[0], row[1]) if row is not None else (None, None)

    async def recently_assisted(
        self, staff_user_id: int, within: timedelta = timedelta(minutes=30)
    ) -> str | None:
        """The number of the paper application this staff member submitted last, if it was
        within `within` (to answer a second press of 提交 kindly)."""
        async with self.db.read() as session:
            return await session.scalar(
                select(Application.number)
                .where(
                    Application.assisted_by_user_id == staff_user_id,
                    Application.submitted_at >= utcnow() - within,
                )
                .order_by(Application.id.desc())
                .limit(1)
            )

    async def applications_of(self, user_id: int) -> list[ApplicationView]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(Application, Street.name)
                .join(Street, Street.id == Application.street_id)
                .where(Application.telegram_user_id == user_id)
                .order_by(Application.id.desc())
                .limit(5)
            )
            return [
                ApplicationView(
                    a.number,
                    a.status,
                    a.submitted_at,
                    a.decided_at,
                    a.reject_reason,
                    a.reject_note,
                    street_name,
                    a.employer_text,
                    a.street_id,
                )
                for a, street_name in rows
            ]

    async def membership_of(self, user_id: int) -> MembershipView | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Member, UnionOrg.name)
                    .join(UnionOrg, UnionOrg.id == Member.union_org_id)
                    .where(Member.telegram_user_id == user_id, Member.status == "active")
                    .order_by(Member.id.desc())
                )
            ).first()
            if row is None:
                return None
            member, union_name = row
            history = await events_of(session, member.id)
        return MembershipView(
            member.id, member.number, member.joined_at, union_name, tuple(history),
            member.kept_since,
        )  # fmt: skip


async def _enterprise_of(session: AsyncSession, draft: Draft) -> Enterprise:
    """The registry enterprise the worker picked (following merges), or the one their
    typed name or USCC finds, or a new provisional one."""
    picked = draft.enterprise_id
    enterprise = await session.get(Enterprise, picked) if picked is not None else None
    while enterprise is not None and enterprise.merged_into_id is not None:
        enterprise = await session.get(Enterprise, enterprise.merged_into_id)
    if enterprise is not None and enterprise.status == "active":
        return enterprise
    return await enterprises.find_or_create(
        session, draft.employer, draft.street_id, uscc=draft.employer_uscc
    )
