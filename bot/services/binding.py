"""Binding group chats to streets with one-time codes, and staff roles managed in chat.

A group becomes a street's review group only when an administrator sends `/bind CODE`
there with a code printed by `unionbot streets bind-code`. Only the code's keyed hash is
stored, so a database dump does not reveal codes that are still usable.

Wrong codes are limited per person and per group (see BIND_FAILURES_PER_USER). Each one
is written to the audit log, as evidence of guessing, and the limit counts those entries:
the log is append-only, shared by every bot process and survives restarts, so it needs no
table of its own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.pii import LookupHasher
from bot.services.admin import AdminService, SetupError, StreetRef, _street
from bot.services.audit import Actor, display_name, record
from bot.services.errors import DomainError, NotAllowed
from bot.services.roles import has_role
from models import AuditEntry, BindCode, Staff, Street, UnboundGroup, UnionOrg
from models.base import utcnow

# No 0/O, 1/I/L: codes are read off a terminal and typed by hand on a phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
CODE_CONTEXT = "bind-code"
DEFAULT_TTL = timedelta(hours=24)
TITLE_MAX = 120

# Why guessing is hopeless: there are 31**10 ≈ 8.2e14 codes, each lives 24 hours and binds
# once, and only administrators may try at all. A group gets 20 wrong codes an hour, so
# 480 in a code's lifetime; with even ten codes alive at once one group's chance is
# 480 × 10 / 8.2e14 ≈ 6e-12, and a thousand groups and admin accounts working together
# stay below 1e-8. (Without the limit, one admin account tried 300 codes in 47 seconds.)
# Constants rather than settings: loosening them is a security decision, made in review.
BIND_FAILURES_PER_USER = 5
BIND_FAILURES_PER_CHAT = 20
BIND_FAILURE_WINDOW = timedelta(hours=1)
BIND_REFUSED = "bind_code.refused"  # the audit action of a wrong, used or expired code

ChatRole = Literal["review", "federation"]


class BindCodeError(DomainError):
    """A /bind code that cannot be used (unknown, used or expired)."""


class UnknownBindCode(BindCodeError):
    pass


@dataclass
class BindCodeUsed(BindCodeError):
    used_at: datetime


@dataclass
class BindCodeExpired(BindCodeError):
    expired_at: datetime


@dataclass
class TooManyBindAttempts(DomainError):
    """Too many wrong codes lately from this person (`scope` "user") or in this group
    ("chat"); nothing is checked until `retry_at`."""

    scope: Literal["user", "chat"]
    limit: int
    retry_at: datetime


def _reason(error: BindCodeError) -> str:
    if isinstance(error, BindCodeUsed):
        return "used"
    return "expired" if isinstance(error, BindCodeExpired) else "unknown"


@dataclass
class ChatTaken(DomainError):
    """The chat already has a role: a street's review group, or the federation group."""

    role: ChatRole
    street: str | None = None


class LastAdmin(DomainError):
    """Revoking this would leave no administrator who can manage roles in chat."""


@dataclass(frozen=True)
class RoleView:
    role: str
    street: str | None  # the street's name, for street staff


def new_bind_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """What people type: lower case, spaces or a dash in the middle are all fine."""
    return "".join(ch for ch in text.upper() if ch not in " -_\t")


class BindingService:
    def __init__(
        self,
        db: Database,
        hasher: LookupHasher,
        *,
        failures_per_user: int = BIND_FAILURES_PER_USER,
        failures_per_chat: int = BIND_FAILURES_PER_CHAT,
        failure_window: timedelta = BIND_FAILURE_WINDOW,
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.failures_per_user = failures_per_user
        self.failures_per_chat = failures_per_chat
        self.failure_window = failure_window
        # The street and staff rules live in AdminService; reused inside our transactions.
        self.admin = AdminService(db)

    def _hash(self, code: str) -> str:
        return self.hasher.digest(normalize_code(code), context=CODE_CONTEXT)

    # --- codes and binding -------------------------------------------------------------

    async def create_code(
        self, street_ref: str, actor: Actor, ttl: timedelta = DEFAULT_TTL
    ) -> tuple[str, datetime]:
        """A new one-time code for `street_ref` (code or name) and when it expires."""
        if ttl <= timedelta(0):
            raise SetupError("a bind code must live for a positive time")
        code, expires_at = new_bind_code(), utcnow() + ttl
        async with self.db.transaction() as session:
            street = await _street(session, street_ref)
            row = BindCode(code_hash=self._hash(code), street_id=street.id, expires_at=expires_at)
            session.add(row)
            await session.flush()
            await record(
                session,
                actor,
                "bind_code.created",
                "street",
                street.code,
                after={"code_id": row.id, "expires_at": expires_at.isoformat()},
            )
        return code, expires_at

    async def create_union_code(
        self, union_id: int, actor: Actor, ttl: timedelta = DEFAULT_TTL
    ) -> tuple[str, datetime]:
        """A one-time code that makes a group the review group of an enterprise union
        founded through the bot."""
        if ttl <= timedelta(0):
            raise SetupError("a bind code must live for a positive time")
        code, expires_at = new_bind_code(), utcnow() + ttl
        async with self.db.transaction() as session:
            union = await session.get(UnionOrg, union_id)
            if union is None or union.kind != "enterprise":
                raise SetupError(f"union {union_id}: not an enterprise union of the bot")
            row = BindCode(code_hash=self._hash(code), union_org_id=union.id, expires_at=expires_at)
            session.add(row)
            await session.flush()
            await record(
                session, actor, "bind_code.created", "union_org", union.id,
                after={"code_id": row.id, "expires_at": expires_at.isoformat()},
            )  # fmt: skip
        return code, expires_at

    async def bind(
        self,
        code: str,
        chat_id: int,
        chat_title: str | None,
        actor: Actor,
        *,
        federation_chat_id: int | None = None,
    ) -> str:
        """Make `chat_id` the review group of the code's street (or enterprise union);
        returns its name.

        The waiting applications are posted there (AdminService's binding logic). A wrong,
        used or expired code is audited (committed, though the bind fails) and counted:
        past the limit, TooManyBindAttempts, and the code is not even looked at."""
        async with self.db.transaction() as session:
            await _require_admin(session, actor)
            await _check_chat_free(session, chat_id, federation_chat_id)
            await self._check_attempts(session, actor, chat_id)
            try:
                code_id, street_id, union_id = await self._consume(session, code, chat_id)
            except BindCodeError as error:
                # Committed with this transaction (it changed nothing else). Never the
                # typed text: a near miss of a real code is still a clue.
                await record(
                    session,
                    actor,
                    BIND_REFUSED,
                    "chat",
                    chat_id,
                    after={"reason": _reason(error), "title": (chat_title or "")[:TITLE_MAX]},
                )
                failure = error
            else:
                if union_id is not None:
                    return await self._bind_union_chat(
                        session, union_id, code_id, chat_id, chat_title, actor
                    )
                return await self._bind_chat(
                    session, street_id, code_id, chat_id, chat_title, actor
                )
        raise failure

    async def _bind_union_chat(
        self,
        session: AsyncSession,
        union_id: int,
        code_id: int,
        chat_id: int,
        chat_title: str | None,
        actor: Actor,
    ) -> str:
        union = await session.get_one(UnionOrg, union_id)
        await self.admin.bind_union(session, union, chat_id, actor)
        await record(
            session, actor, "bind_code.used", "union_org", union.id,
            after={"code_id": code_id, "chat": chat_id, "title": (chat_title or "")[:TITLE_MAX]},
        )  # fmt: skip
        await session.execute(delete(UnboundGroup).where(UnboundGroup.chat_id == chat_id))
        return union.name

    async def _bind_chat(
        self,
        session: AsyncSession,
        street_id: int,
        code_id: int,
        chat_id: int,
        chat_title: str | None,
        actor: Actor,
    ) -> str:
        street = await session.get_one(Street, street_id)
        await self.admin._bind(session, street, chat_id, actor)
        await record(
            session,
            actor,
            "bind_code.used",
            "street",
            street.code,
            after={"code_id": code_id, "chat": chat_id, "title": (chat_title or "")[:TITLE_MAX]},
        )
        # A group that is unbound again later deserves to be told again, once.
        await session.execute(delete(UnboundGroup).where(UnboundGroup.chat_id == chat_id))
        return street.name

    async def _check_attempts(self, session: AsyncSession, actor: Actor, chat_id: int) -> None:
        """Refuse while this person or this group has used up its wrong codes. Counted in
        the caller's transaction (SQLite: one writer, so exact; PostgreSQL: attempts
        handled at the very same moment by two processes may both pass)."""
        since = utcnow() - self.failure_window
        refused = select(AuditEntry.at).where(
            AuditEntry.action == BIND_REFUSED, AuditEntry.at > since
        )
        checks = (
            ("user", self.failures_per_user, AuditEntry.actor_user_id == actor.user_id),
            ("chat", self.failures_per_chat, AuditEntry.subject_id == str(chat_id)),
        )
        blocked: list[TooManyBindAttempts] = []
        for scope, limit, condition in checks:
            times = list(await session.scalars(refused.where(condition).order_by(AuditEntry.at)))
            if len(times) >= limit:
                # Free again when enough of them have left the window to be under the limit.
                retry_at = _next_minute(times[len(times) - limit] + self.failure_window)
                blocked.append(TooManyBindAttempts(scope, limit, retry_at))  # type: ignore[arg-type]
        if blocked:
            raise max(blocked, key=lambda error: error.retry_at)

    async def _consume(
        self, session: AsyncSession, code: str, chat_id: int
    ) -> tuple[int, int | None, int | None]:
        """Mark the code used with one conditional UPDATE, so two /bind race safely."""
        code_hash, now = self._hash(code), utcnow()
        used = (
            await session.execute(
                update(BindCode)
                .where(
                    BindCode.code_hash == code_hash,
                    BindCode.used_at.is_(None),
                    BindCode.expires_at > now,
                )
                .values(used_at=now, used_in_chat_id=chat_id)
                .returning(BindCode.id, BindCode.street_id, BindCode.union_org_id)
            )
        ).first()
        if used is not None:
            return used.id, used.street_id, used.union_org_id
        row = await session.scalar(select(BindCode).where(BindCode.code_hash == code_hash))
        if row is None:
            raise UnknownBindCode()
        if row.used_at is not None:
            raise BindCodeUsed(row.used_at)
        raise BindCodeExpired(row.expires_at)

    async def chat_role(self, chat_id: int, federation_chat_id: int | None) -> ChatRole | None:
        """What the bot does in this chat: review (a bound street), federation, or nothing."""
        if federation_chat_id is not None and chat_id == federation_chat_id:
            return "federation"
        if await self.street_of_chat(chat_id):
            return "review"
        async with self.db.read() as session:
            union = await session.scalar(
                select(UnionOrg.id).where(UnionOrg.review_chat_id == chat_id)
            )
        return "review" if union is not None else None

    async def street_of_chat(self, chat_id: int) -> str | None:
        """The code of the street whose review group this is."""
        street = await self.street_of_review_chat(chat_id)
        return street.code if street else None

    async def street_of_review_chat(self, chat_id: int) -> StreetRef | None:
        """The street whose review group `chat_id` is: the one lookup the group commands
        (/stats, /fourones, /export, /servicecards) scope themselves with."""
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Street.id, Street.code, Street.name).where(
                        Street.review_chat_id == chat_id
                    )
                )
            ).first()
            return StreetRef(*row) if row else None

    async def note_unbound(self, chat_id: int) -> bool:
        """True the first time an unbound group is seen (tell it once), False afterwards."""
        try:
            async with self.db.transaction() as session:
                if await session.get(UnboundGroup, chat_id) is not None:
                    return False
                session.add(UnboundGroup(chat_id=chat_id))
                return True
        except IntegrityError:  # another process told it at the same moment
            return False

    # --- roles ---------------------------------------------------------------------------

    async def is_admin(self, user_id: int) -> bool:
        async with self.db.read() as session:
            return await has_role(session, user_id, ("admin",))

    async def roles(self, user_id: int) -> list[RoleView]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(Staff.role, Street.name)
                .outerjoin(Street, Street.id == Staff.street_id)
                .where(Staff.telegram_user_id == user_id, Staff.active.is_(True))
                .order_by(Staff.role, Street.id)
            )
            return [RoleView(role, street) for role, street in rows]

    async def grant(
        self,
        target_user_id: int,
        target_name: str | None,
        role: str,
        street_ref: str | None,
        actor: Actor,
    ) -> None:
        """Give a role (audited). Without a name, a known staff member keeps theirs."""
        async with self.db.transaction() as session:
            await _require_admin(session, actor)
            name = display_name(target_name or "") or await _known_name(session, target_user_id)
            await self.admin._upsert_staff(session, target_user_id, name, role, street_ref, actor)

    async def revoke(self, target_user_id: int, role: str | None, actor: Actor) -> int:
        """Withdraw one role (every street's, for "street") or all roles; returns how many."""
        async with self.db.transaction() as session:
            await _require_admin(session, actor)
            rows = await self.admin.withdraw_roles(session, target_user_id, role, actor)
            # Checked after the change, inside the transaction: raising rolls it back.
            if any(s.role == "admin" for s in rows) and await _admins(session) < 1:
                raise LastAdmin()
            return len(rows)

    async def follow_migration(self, old_chat_id: int, new_chat_id: int, actor: Actor) -> bool:
        """A group upgraded to a supergroup gets a new id; its street follows it there."""
        async with self.db.transaction() as session:
            street = await session.scalar(
                select(Street).where(Street.review_chat_id == old_chat_id)
            )
            if street is None:
                return False
            await self.admin._bind(session, street, new_chat_id, actor)
            return True


def _next_minute(moment: datetime) -> datetime:
    """Rounded up: the answer names a minute, and trying in that minute must work."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


async def _require_admin(session: AsyncSession, actor: Actor) -> None:
    """Checked inside the transaction that acts: a role withdrawn a moment ago counts."""
    if not await has_role(session, actor.user_id, ("admin",)):
        raise NotAllowed()


async def _admins(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count(func.distinct(Staff.telegram_user_id))).where(
            Staff.role == "admin", Staff.active.is_(True)
        )
    )
    return int(count or 0)


async def _known_name(session: AsyncSession, user_id: int) -> str:
    name = await session.scalar(
        select(Staff.name).where(Staff.telegram_user_id == user_id).order_by(Staff.id.desc())
    )
    return name or str(user_id)


async def _check_chat_free(
    session: AsyncSession, chat_id: int, federation_chat_id: int | None
) -> None:
    """One group, one job: never the federation group, never two streets."""
    if federation_chat_id is not None and chat_id == federation_chat_id:
        raise ChatTaken("federation")
    bound = await session.scalar(select(Street.name).where(Street.review_chat_id == chat_id))
    if bound is None:
        bound = await session.scalar(
            select(UnionOrg.name).where(UnionOrg.review_chat_id == chat_id)
        )
    if bound is not None:
        raise ChatTaken("review", bound)
