"""Signing in to the dashboard without passwords: one-time links and server-side sessions.

- `/dashboard` in a chat makes a link for that staff member: a random token of 256 bits,
  stored only as a keyed hash (the lookup key, a context of its own), valid LINK_TTL and
  usable once. A new link replaces the person's unused ones.
- Opening it turns it into a session with one conditional UPDATE (unused and not expired,
  set used): two clicks at the same moment, in one process or two, give one session.
- A session is a random id in an HttpOnly cookie; the database keeps its keyed hash, the
  person and the expiry. What the person may see is NOT kept with it: every request reads
  their current staff roles (`Viewer`), so a revoked role ends the session at the next
  request, in every bot process. Revoking a role also deletes the person's sessions
  (bot.services.admin.withdraw_roles).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.pii import LookupHasher
from bot.services.audit import Actor, record
from bot.services.errors import DomainError, NotAllowed
from models import DashboardLink, DashboardSession, Staff
from models.base import utcnow

LINK_TTL = timedelta(minutes=10)
LINK_CONTEXT = "dashboard-link"
SESSION_CONTEXT = "dashboard-session"
CSRF_CONTEXT = b"dashboard-csrf"
TOKEN_BYTES = 32  # 256 bits, for links and sessions alike
# Roles that may open the dashboard (an enterprise union's reviewers may not: their
# figures are not the federation's).
ROLES = ("street", "federation", "admin")
# Expired links and sessions are deleted this long after they expire (by the next sign-in).
KEEP_EXPIRED = timedelta(days=1)

Reason = Literal["unknown", "used", "expired", "not_staff", "revoked", "signed_out"]


class LinkRefused(DomainError):
    """A sign-in link that cannot be used: unknown, used, expired, or its person is no
    longer staff."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionEnded(DomainError):
    """No session (`unknown`), an expired one, or one whose person lost their roles."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    """Who looks, and what they may see, read from their roles now."""

    user_id: int
    name: str
    district: bool  # federation staff or an administrator: the whole district
    street_ids: tuple[int, ...]  # the streets a street's staff member works for

    @property
    def home(self) -> int | None:
        """The scope of the overview: the district (None), or the person's street."""
        return None if self.district else self.street_ids[0]

    def may_see(self, street_id: int | None) -> bool:
        """The district's figures (None) or one street's."""
        return self.district or (street_id is not None and street_id in self.street_ids)


class DashboardAuth:
    def __init__(self, db: Database, hasher: LookupHasher, session_lifetime: timedelta) -> None:
        self.db = db
        self.hasher = hasher
        self.session_lifetime = session_lifetime

    # ------------------------------------------------------------------------ links

    async def issue_link(self, user_id: int, *, ttl: timedelta = LINK_TTL) -> str:
        """A new one-time sign-in token for a staff member (NotAllowed otherwise). A `ttl`
        in the past makes an expired link (tests)."""
        token, now = secrets.token_urlsafe(TOKEN_BYTES), utcnow()
        async with self.db.transaction() as session:
            if await viewer_of(session, user_id) is None:
                raise NotAllowed()
            # The person's unused links are replaced; old ones of everyone forgotten.
            await session.execute(
                delete(DashboardLink).where(
                    or_(
                        and_(DashboardLink.user_id == user_id, DashboardLink.used_at.is_(None)),
                        DashboardLink.expires_at < now - KEEP_EXPIRED,
                    )
                )
            )
            session.add(
                DashboardLink(
                    token_hash=self._hash(token, LINK_CONTEXT),
                    user_id=user_id,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return token

    async def check_link(self, token: str) -> Viewer:
        """Whether a link can still be used, without using it (the page that asks to
        sign in shows the name): LinkRefused otherwise."""
        now = utcnow()
        async with self.db.read() as session:
            link = await session.scalar(
                select(DashboardLink).where(
                    DashboardLink.token_hash == self._hash(token, LINK_CONTEXT)
                )
            )
            _check_usable(link, now)
            assert link is not None
            viewer = await viewer_of(session, link.user_id)
        if viewer is None:
            raise LinkRefused("not_staff")
        return viewer

    async def redeem(self, token: str) -> tuple[str, Viewer]:
        """Use a link: (the new session's id, who signed in). The link is marked used with
        one conditional UPDATE, so of two uses at once exactly one gets a session."""
        session_id, now = secrets.token_urlsafe(TOKEN_BYTES), utcnow()
        token_hash = self._hash(token, LINK_CONTEXT)
        refused: LinkRefused | None = None
        async with self.db.transaction() as session:
            used = (
                await session.execute(
                    update(DashboardLink)
                    .where(
                        DashboardLink.token_hash == token_hash,
                        DashboardLink.used_at.is_(None),
                        DashboardLink.expires_at > now,
                    )
                    .values(used_at=now)
                    .returning(DashboardLink.user_id)
                )
            ).scalar()
            viewer = await viewer_of(session, used) if used is not None else None
            if viewer is not None:
                session.add(
                    DashboardSession(
                        session_hash=self._hash(session_id, SESSION_CONTEXT),
                        user_id=viewer.user_id,
                        created_at=now,
                        expires_at=now + self.session_lifetime,
                    )
                )
                await session.execute(
                    delete(DashboardSession).where(DashboardSession.expires_at < now - KEEP_EXPIRED)
                )
                await record(
                    session, Actor(viewer.user_id, viewer.name), "dashboard.signed_in",
                    "staff", viewer.user_id,
                    after={"scope": "district" if viewer.district else list(viewer.street_ids)},
                )  # fmt: skip
            elif used is not None:
                refused = LinkRefused("not_staff")  # the link stays used
        if refused is not None:
            raise refused
        if viewer is None:
            async with self.db.read() as session:
                link = await session.scalar(
                    select(DashboardLink).where(DashboardLink.token_hash == token_hash)
                )
            _check_usable(link, now)
            raise LinkRefused("used")  # used a moment ago by the other click
        return session_id, viewer

    # ------------------------------------------------------------------------ sessions

    async def viewer(self, session_id: str) -> Viewer:
        """The person of a live session, with what their roles let them see now.
        SessionEnded otherwise; a session whose person lost their roles is deleted."""
        now = utcnow()
        session_hash = self._hash(session_id, SESSION_CONTEXT)
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(DashboardSession.user_id, DashboardSession.expires_at).where(
                        DashboardSession.session_hash == session_hash
                    )
                )
            ).first()
            if row is None:
                raise SessionEnded("unknown")
            if row.expires_at <= now:
                raise SessionEnded("expired")
            viewer = await viewer_of(session, row.user_id)
        if viewer is None:
            await self.end_sessions(row.user_id)
            raise SessionEnded("revoked")
        return viewer

    async def sign_out(self, session_id: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(DashboardSession).where(
                    DashboardSession.session_hash == self._hash(session_id, SESSION_CONTEXT)
                )
            )

    async def end_sessions(self, user_id: int) -> int:
        """Sign a person out everywhere; returns how many sessions ended."""
        async with self.db.transaction() as session:
            return await end_sessions(session, user_id)

    def csrf_token(self, session_id: str) -> str:
        """The token the session's forms carry: only who holds the session id can make it."""
        return hmac.new(
            self._hash(session_id, SESSION_CONTEXT).encode(), CSRF_CONTEXT, hashlib.sha256
        ).hexdigest()

    def csrf_ok(self, session_id: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf_token(session_id), given)

    def _hash(self, token: str, context: str) -> str:
        return self.hasher.digest(token, context=context)


async def viewer_of(session: AsyncSession, user_id: int) -> Viewer | None:
    """What `user_id` may see on the dashboard by their active roles; None for nobody."""
    rows = (
        await session.execute(
            select(Staff.role, Staff.street_id, Staff.name)
            .where(
                Staff.telegram_user_id == user_id,
                Staff.active.is_(True),
                Staff.role.in_(ROLES),
            )
            .order_by(Staff.id)
        )
    ).all()
    if not rows:
        return None
    district = any(role in ("federation", "admin") for role, _, _ in rows)
    streets = tuple(dict.fromkeys(s for role, s, _ in rows if role == "street" and s is not None))
    if not district and not streets:
        return None
    return Viewer(user_id, rows[0].name, district, streets)


async def end_sessions(session: AsyncSession, user_id: int) -> int:
    """Delete a person's dashboard sessions, in the caller's transaction."""
    result = await session.execute(
        delete(DashboardSession).where(DashboardSession.user_id == user_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _check_usable(link: DashboardLink | None, now: datetime) -> None:
    if link is None:
        raise LinkRefused("unknown")
    if link.used_at is not None:
        raise LinkRefused("used")
    if link.expires_at <= now:
        raise LinkRefused("expired")
