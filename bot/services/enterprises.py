"""Enterprises named by workers: normalising names so the same employer is counted once,
the registry (search, status, merges) and matching what a worker types."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.changes import ENTERPRISES_TOPIC
from bot.db import Database, dialect_insert
from bot.locks import lock_key
from bot.matching import Candidate, EnterpriseMatcher, Match, find_uscc, normalise
from bot.services import outbox
from bot.services.alerts import raise_threshold_alert
from bot.services.audit import Actor, record
from bot.services.errors import AlreadyDecided, DomainError, NotAllowed, NotFound
from bot.services.roles import has_role, require_federation
from bot.validation import Code, ValidationError, clean_text, validate_uscc
from models import (
    Application,
    Enterprise,
    EnterpriseAlias,
    Member,
    Street,
    ThresholdAlert,
    UnionOrg,
)
from models.base import utcnow
from models.enterprise import ENTERPRISE_STATUSES

if TYPE_CHECKING:  # review imports this module
    from bot.services.review import CardRef

# Unwatched (bot/changes.py: a command-line tool, or the watch broken), another process
# (the command-line import) may rename enterprises unseen: rebuild at least this often
# even when the cheap fingerprint did not change.
MATCHER_MAX_AGE_S = 60.0
NAME_KEY_MAX = 120
ALIAS_MAX = 100  # EnterpriseAlias.alias


def name_key(name: str) -> str:
    """A comparison key: width-folded, lower-case, without brackets, spaces, the city
    prefix and the legal-form suffix ("北京字节跳动科技有限公司" → "字节跳动科技")."""
    return normalise(name)[:NAME_KEY_MAX]


# Two spellings are one alias of an enterprise when their name keys are equal: a Latin
# alias by its lower-case words without punctuation ("Luckin Coffee", "LUCKIN COFFEE" and
# "Luckin-Coffee" → "luckincoffee"). Empty when nothing is left.
alias_key = name_key

# A cell or a message holding several other names: 盒马鲜生；盒马 / Freshippo、Hema.
ALIAS_SEPARATORS = re.compile(r"[；;/／、]")


def split_aliases(text: str) -> list[str]:
    """The names in a text of several, spaces collapsed (empty ones kept: callers refuse or
    skip them)."""
    return [" ".join(part.split()) for part in ALIAS_SEPARATORS.split(text)]


async def find_or_create(
    session: AsyncSession, name: str, street_id: int | None, *, uscc: str | None = None
) -> Enterprise:
    """The enterprise a worker named: by USCC when given, else by normalised name
    (registered before provisional, never a merged one), else a new provisional one.

    The insert is ON CONFLICT DO NOTHING against the unique keys (USCC, and the name of a
    provisional enterprise): when the first workers of a new employer submit at the same
    moment, one insert wins and the others find its row, instead of each making its own.
    """
    found = await _find(session, name_key(name), uscc)
    if found is not None:
        return found
    inserted = await session.scalar(
        dialect_insert(session)(ENTERPRISES)
        .values(
            name=name, name_key=name_key(name), uscc=uscc, street_id=street_id,
            provisional=True, member_count=0, status="active", has_union=False,
            created_at=utcnow(), updated_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(ENTERPRISES.c.id)
    )  # fmt: skip
    if inserted is not None:
        Database.flag(session, ENTERPRISES_TOPIC)
        return await session.get_one(Enterprise, inserted)
    found = await _find(session, name_key(name), uscc)
    if found is None:  # the conflicting row is invisible only if it was deleted meanwhile
        raise RuntimeError("enterprise insert conflicted with a row that is gone")
    return found


async def _find(session: AsyncSession, key: str, uscc: str | None) -> Enterprise | None:
    if uscc is not None:
        found = await session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
        if found is not None:
            return await resolve(session, found)
    found = await session.scalar(
        select(Enterprise)
        .where(Enterprise.name_key == key)
        .order_by(Enterprise.merged_into_id.is_not(None), Enterprise.provisional, Enterprise.id)
        .limit(1)
    )
    return await resolve(session, found) if found is not None else None


async def resolve(session: AsyncSession, enterprise: Enterprise) -> Enterprise:
    """A merged enterprise stands for the one it was merged into (merges never chain)."""
    if enterprise.merged_into_id is None:
        return enterprise
    return await session.get_one(Enterprise, enterprise.merged_into_id)


def offered_to_workers(enterprise: Enterprise) -> bool:
    """Registered, or provisional and confirmed by staff: only these are shown to workers
    (as buttons, or as "已识别工作单位"). A provisional name is whatever one worker typed."""
    return not enterprise.provisional or enterprise.confirmed_at is not None


async def confirm(session: AsyncSession, enterprise_id: int) -> bool:
    """Mark a provisional enterprise confirmed by staff (the caller's transaction holds
    the staff action: an approval, an employer change, a merge). True if it was not yet."""
    result = await session.execute(
        update(ENTERPRISES)
        .where(
            ENTERPRISES.c.id == enterprise_id,
            ENTERPRISES.c.provisional.is_(True),
            ENTERPRISES.c.confirmed_at.is_(None),
        )
        .values(confirmed_at=utcnow())
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        Database.flag(session, ENTERPRISES_TOPIC)  # the matcher offers it from now on
    return changed


async def lock(session: AsyncSession, enterprise_ids: Iterable[int]) -> None:
    """The one lock order for everything that changes an enterprise's members (approvals,
    merges, employer changes, deletions): the enterprise rows first, in id order, before
    any application or member row. On PostgreSQL this also makes `recount` exact: under
    READ COMMITTED its statement starts after the lock is granted, so it sees every
    change committed by whoever held the lock before. SQLite needs none of this: a write
    transaction holds the whole database (BEGIN IMMEDIATE)."""
    ids = sorted(set(enterprise_ids))
    if not ids or session.bind.dialect.name == "sqlite":
        return
    await session.execute(_lock_statement(), {"ids": ids})


@cache
def _own_union() -> Any:
    unions = UnionOrg.__table__
    in_bot = (
        select(unions.c.id)
        .where(unions.c.kind == "enterprise", unions.c.enterprise_id == ENTERPRISES.c.id)
        .scalar_subquery()
    )
    return select(
        ENTERPRISES.c.has_union, ENTERPRISES.c.union_name, ENTERPRISES.c.union_contact, in_bot
    ).where(ENTERPRISES.c.id == bindparam("enterprise_id"))


@cache
def _lock_statement() -> Any:
    table = Enterprise.__table__
    return (
        select(table.c.id)
        .where(table.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(table.c.id)
        .with_for_update()
    )


async def recount(session: AsyncSession, enterprise_id: int) -> int:
    """Invariant 2: the count is the number of distinct active members working there
    (not those keeping their membership while out of work), recomputed. The caller holds
    the enterprise's lock (see `lock`)."""
    result = await session.execute(_recount_statement(), {"enterprise_id": enterprise_id})
    return int(result.scalar_one())


@cache
def _recount_statement() -> Any:
    """Built once (Core, bound parameters): every approval runs it."""
    members, enterprises = Member.__table__, Enterprise.__table__
    distinct_members = (
        select(func.count(func.distinct(members.c.ric_hash)))
        .where(members.c.enterprise_id == bindparam("enterprise_id"))
        .where(members.c.status == "active")
        .where(members.c.kept_since.is_(None))  # 保留会籍: counted toward no enterprise
        .scalar_subquery()
    )
    return (
        update(enterprises)
        .where(enterprises.c.id == bindparam("enterprise_id"))
        .values(member_count=distinct_members)
        .returning(enterprises.c.member_count)
    )


# ---------------------------------------------------------------------------- values


class MergeRefused(DomainError):
    """A merge that would lose or tangle history. `reason`: self | source_merged |
    target_merged; `into`: where the merged one went. str() is the command line's text."""

    def __init__(self, reason: str, enterprise_id: int, into: int | None = None) -> None:
        self.reason, self.enterprise_id, self.into = reason, enterprise_id, into
        texts = {
            "self": f"enterprise {enterprise_id} cannot be merged into itself",
            "source_merged": f"enterprise {enterprise_id} was already merged into {into}",
            "target_merged": f"enterprise {enterprise_id} was merged into {into}; "
            f"use {into} instead",
        }
        super().__init__(texts.get(reason, reason))


class EnterpriseNotActive(DomainError):
    """A closed or moved-out enterprise cannot take new applications."""


class AliasRefused(DomainError):
    """An alias that cannot be added or removed. `reason`: empty | too_long | duplicate |
    taken (another enterprise's alias: `other` names it) | missing. str() is the text shown."""

    def __init__(self, reason: str, alias: str, other: tuple[int, str] | None = None) -> None:
        self.reason, self.alias, self.other = reason, alias, other
        shown = alias if len(alias) <= 30 else alias[:30] + "…"
        texts = {
            "empty": "别名不能为空 / the alias is empty",
            "too_long": f"别名最多 {ALIAS_MAX} 字 / an alias has at most {ALIAS_MAX} characters",
            "duplicate": f"“{shown}”已是该企业的别名 / {shown!r} is already an alias of "
            "this enterprise",
            "missing": f"“{shown}”不是该企业的别名 / {shown!r} is not an alias of this enterprise",
        }
        if other is not None:
            texts["taken"] = (
                f"“{shown}”已是 #{other[0]} {other[1]} 的别名 / {shown!r} is already an alias "
                f"of enterprise {other[0]} {other[1]}"
            )
        super().__init__(texts.get(reason, reason))


@dataclass(frozen=True)
class AliasInfo:
    alias: str
    source: str  # registry | staff | learned
    created_at: datetime
    created_by_name: str | None


@dataclass(frozen=True)
class AlertInfo:
    id: int
    threshold: int
    member_count: int
    created_at: datetime
    followed_by: str | None


@dataclass(frozen=True)
class EnterpriseInfo:
    id: int
    name: str
    uscc: str | None
    street_id: int | None
    street_name: str | None
    status: str
    provisional: bool
    member_count: int
    merged_into_id: int | None
    address: str | None
    employees: int | None
    has_union: bool
    alerts: tuple[AlertInfo, ...] = ()
    union_name: str | None = None
    union_contact: str | None = None
    # False for a provisional enterprise no staff member has confirmed yet (see
    # `offered_to_workers`): staff searches show it, marked; workers are never offered it.
    confirmed: bool = True


@dataclass(frozen=True)
class OwnUnion:
    """An enterprise's own union, as far as the registry knows it (name and contact may
    be unknown): its workers join there rather than through 单体入会."""

    name: str | None
    contact: str | None
    # Founded through the bot: applications go to it here (its members are registered
    # there), rather than elsewhere.
    in_bot: bool = False


@dataclass(frozen=True)
class SearchHit:
    enterprise: EnterpriseInfo
    score: int


@dataclass(frozen=True)
class MergeResult:
    source_id: int
    target_id: int
    members_moved: int
    applications_moved: int
    source_count: int
    target_count: int
    alert_raised: bool


@dataclass(frozen=True)
class EmployerChange:
    application_number: str
    old_enterprise_id: int
    enterprise_id: int
    enterprise_name: str
    provisional: bool
    member_count: int
    confirmed: bool = False  # this change confirmed a provisional enterprise


# ---------------------------------------------------------------------------- service

ENTERPRISES = Enterprise.__table__
MEMBERS = Member.__table__
APPLICATIONS = Application.__table__
ALERTS = ThresholdAlert.__table__
ALIASES = EnterpriseAlias.__table__


class EnterpriseService:
    """The enterprise registry: search, matching workers' employers, status, merges."""

    def __init__(self, db: Database, *, threshold: int, federation_chat_id: int | None) -> None:
        self.db = db
        self.threshold = threshold
        self.federation_chat_id = federation_chat_id
        # Bumped by every committed change in this process; unwatched, other processes
        # are noticed through the fingerprint (the newest enterprise id) and the age.
        self.version = 0
        self._matcher: EnterpriseMatcher | None = None
        self._matcher_stamp: tuple[int, ...] | None = None
        self._matcher_built = 0.0
        self._matcher_lock = asyncio.Lock()
        db.on_commit(ENTERPRISES_TOPIC, self._changed)

    def _changed(self) -> None:
        self.version += 1

    # ------------------------------------------------------------------------ reading

    async def get(self, ref: int | str) -> EnterpriseInfo:
        """By id or USCC, with the enterprise's alerts."""
        async with self.db.read() as session:
            enterprise = await _by_ref(session, ref)
            return await _info(session, enterprise, with_alerts=True)

    async def search(self, text: str, limit: int = 10) -> list[SearchHit]:
        text = text.strip()
        if not text:
            return []
        if _looks_like_ref(text):
            try:
                return [SearchHit(await self.get(text), 100)]
            except NotFound:
                pass
        # Staff searching: unconfirmed provisional enterprises too (marked as such).
        match = (await self.matcher()).match(text, limit=limit, include_unconfirmed=True)
        async with self.db.read() as session:
            hits = []
            for candidate in match.candidates:
                enterprise = await session.get(Enterprise, candidate.id)
                if enterprise is not None:
                    hits.append(SearchHit(await _info(session, enterprise), candidate.score))
        return hits

    async def suggest(self, text: str, street_id: int | None) -> Match:
        """What the conversation offers for the employer a worker typed: `auto` when
        certain (a USCC the registry knows, or one exact registered name), else up to
        three candidates for buttons. A valid USCC unknown to the registry comes back in
        `uscc` with no candidates: create a provisional enterprise carrying it.

        Only enterprises `offered_to_workers` are ever named: an unconfirmed provisional
        one is what another worker typed. The same name or USCC still lands on it when
        the application is stored (`find_or_create`), so the count stays together."""
        uscc, _invalid = find_uscc(text)
        if uscc is not None:
            async with self.db.read() as session:
                found = await session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
                if found is not None:
                    found = await resolve(session, found)
            if found is None or not offered_to_workers(found):
                return Match(uscc=uscc)
            candidate = Candidate(found.id, found.name, 100)
            return Match(auto=found.id, candidates=(candidate,), uscc=uscc)
        return (await self.matcher()).match(text, street_id=street_id, limit=3)

    async def own_union(self, enterprise_id: int) -> OwnUnion | None:
        """The union of an enterprise that has one, else None (one cheap read: the form
        asks it once the worker's employer is known)."""
        row = await self.db.fetch_one(_own_union(), enterprise_id=enterprise_id)
        if row is None:
            return None
        has_union, name, contact, in_bot = row
        return OwnUnion(name, contact, in_bot is not None) if has_union else None

    async def matcher(self) -> EnterpriseMatcher:
        """A matcher over active, non-merged enterprises, rebuilt only when they changed:
        known without a query while changes are watched (bot/changes.py)."""
        generation = self.db.changes.generation(ENTERPRISES_TOPIC)
        known = generation is not None and self._matcher_stamp == (generation,)
        if known and self._matcher is not None:
            return self._matcher
        async with self._matcher_lock:
            generation = self.db.changes.generation(ENTERPRISES_TOPIC)  # before reading
            if generation is not None:
                stamp: tuple[int, ...] = (generation,)
                fresh = True
            else:
                async with self.db.read() as session:
                    stamp = (self.version, *await _fingerprint(session))
                fresh = time.monotonic() - self._matcher_built < MATCHER_MAX_AGE_S
            if self._matcher is not None and stamp == self._matcher_stamp and fresh:
                return self._matcher
            async with self.db.read() as session:
                rows = list(
                    await session.execute(
                        select(
                            ENTERPRISES.c.id,
                            ENTERPRISES.c.name,
                            ENTERPRISES.c.uscc,
                            ENTERPRISES.c.street_id,
                            ENTERPRISES.c.provisional,
                            ENTERPRISES.c.confirmed_at,
                        ).where(*MATCHABLE)
                    )
                )
                aliases = await _matchable_aliases(session)
            entries = [(r.id, r.name, r.uscc, r.street_id) for r in rows]
            provisional = {r.id for r in rows if r.provisional}
            unconfirmed = {r.id for r in rows if r.provisional and r.confirmed_at is None}
            # Pinyin is memoised per name, so only the first build is slow: off the loop.
            self._matcher = await asyncio.to_thread(
                partial(
                    EnterpriseMatcher,
                    entries,
                    aliases=aliases,
                    provisional=provisional,
                    unconfirmed=unconfirmed,
                )
            )
            self._matcher_stamp = stamp
            self._matcher_built = time.monotonic()
            return self._matcher

    # ------------------------------------------------------------------------ changes

    async def set_status(self, ref: int | str, status: str, actor: Actor) -> EnterpriseInfo:
        """active | closed | moved_out (剔除): the last two leave coverage, keep history."""
        if status not in ENTERPRISE_STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {ENTERPRISE_STATUSES}")
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            enterprise = await _by_ref(session, ref)
            if enterprise.merged_into_id is not None:
                raise MergeRefused("target_merged", enterprise.id, enterprise.merged_into_id)
            before = enterprise.status
            if before != status:
                await session.execute(
                    update(ENTERPRISES)
                    .where(ENTERPRISES.c.id == enterprise.id)
                    .values(status=status, updated_at=utcnow())
                )
                await record(
                    session,
                    actor,
                    "enterprise.status",
                    "enterprise",
                    enterprise.id,
                    before={"status": before},
                    after={"status": status},
                )
                Database.flag(session, ENTERPRISES_TOPIC)
                await session.refresh(enterprise)
            return await _info(session, enterprise)

    async def confirm(self, ref: int | str, actor: Actor) -> tuple[EnterpriseInfo, bool]:
        """Federation staff (or the command line) vouch for a provisional enterprise, so
        workers are offered it. (info, whether it changed); audited when it did."""
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            enterprise = await resolve(session, await _by_ref(session, ref))
            changed = await confirm(session, enterprise.id)
            if changed:
                await record(
                    session,
                    actor,
                    "enterprise.confirmed",
                    "enterprise",
                    enterprise.id,
                    after={"name": enterprise.name},
                )
                await session.refresh(enterprise)
            return await _info(session, enterprise), changed

    async def merge_preview(
        self, source: int | str, target: int | str
    ) -> tuple[EnterpriseInfo, EnterpriseInfo]:
        """What a merge would join, checked as the merge will check it (for a
        confirmation step); by id or USCC."""
        async with self.db.read() as session:
            first, second = await _by_ref(session, source), await _by_ref(session, target)
            _check_merge(first, second)
            return await _info(session, first), await _info(session, second)

    async def merge(self, source_id: int, target_id: int, actor: Actor) -> MergeResult:
        """Move the source's members and applications to the target, mark the source
        merged, recount both and re-evaluate the target's threshold alert (which the
        unique key keeps to one per enterprise, merges or not)."""
        if source_id == target_id:
            raise MergeRefused("self", source_id)
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            source, target = await _lock_pair(session, source_id, target_id)
            _check_merge(source, target)
            before = {"source_count": source.member_count, "target_count": target.member_count}
            members = await _move(session, MEMBERS, source_id, target_id)
            applications = await _move(session, APPLICATIONS, source_id, target_id)
            alert_moved = await _move_alerts(session, source_id, target_id)
            aliases_moved = await _move_aliases(session, source_id, target_id)
            now = utcnow()
            # Anything merged into the source earlier now points at the target: no chains.
            await session.execute(
                update(ENTERPRISES)
                .where(ENTERPRISES.c.merged_into_id == source_id)
                .values(merged_into_id=target_id, updated_at=now)
            )
            await session.execute(
                update(ENTERPRISES)
                .where(ENTERPRISES.c.id == source_id)
                .values(merged_into_id=target_id, updated_at=now)
            )
            if source.provisional:  # a name workers typed for what staff say is the target
                from bot.services.alias_proposals import propose  # it imports this module

                await propose(
                    session, target_id, source.name, origin="merge", origin_ref=str(source_id),
                    actor=actor, federation_chat_id=self.federation_chat_id,
                )  # fmt: skip
            source_count = await recount(session, source_id)
            target_count = await recount(session, target_id)
            # Federation staff chose the target as the real enterprise.
            target_confirmed = await confirm(session, target_id)
            # Its union founded and its members transferred: the newcomers follow them.
            from bot.services.membership import reopen_for  # membership imports this module

            transfer_reopened = await reopen_for(session, target_id)
            raised = await raise_threshold_alert(
                session, target_id, target_count, self.threshold, self.federation_chat_id
            )
            after = {
                "source_count": source_count,
                "target_count": target_count,
                "members_moved": members,
                "applications_moved": applications,
                "alert_moved": alert_moved,
                "alert_raised": raised,
                "target_confirmed": target_confirmed,
                **({"transfer_reopened": True} if transfer_reopened else {}),
                **({"aliases_moved": aliases_moved} if aliases_moved else {}),
            }
            await record(
                session,
                actor,
                "enterprise.merged",
                "enterprise",
                source_id,
                before=before | {"into": target_id},
                after=after | {"into": target_id},
            )
            Database.flag(session, ENTERPRISES_TOPIC)
        return MergeResult(
            source_id, target_id, members, applications, source_count, target_count, raised
        )

    # ------------------------------------------------------------------------ aliases

    async def aliases(self, ref: int | str) -> list[AliasInfo]:
        """An enterprise's other names (by id or USCC), oldest first."""
        async with self.db.read() as session:
            enterprise = await _by_ref(session, ref)
            return await _aliases_of(session, enterprise.id)

    async def add_alias(self, ref: int | str, alias: str, actor: Actor) -> AliasInfo:
        """Federation staff (or the command line) give an enterprise another name that
        workers use; the matchers find it by that name from then on."""
        return (await self.add_aliases(ref, [alias], actor))[0]

    async def add_aliases(
        self, ref: int | str, aliases: Sequence[str], actor: Actor
    ) -> list[AliasInfo]:
        """Several at once, all or none: one refused alias (AliasRefused) adds nothing."""
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            enterprise = await _alias_owner(session, ref)
            wanted = _clean_aliases(aliases)
            now = await store_aliases(session, enterprise.id, wanted, "staff", actor.name)
            await record(
                session,
                actor,
                "enterprise.alias_added",
                "enterprise",
                enterprise.id,
                after={"aliases": [alias for alias, _key in wanted]},
            )
        return [AliasInfo(alias, "staff", now, actor.name) for alias, _key in wanted]

    async def remove_alias(self, ref: int | str, alias: str, actor: Actor) -> AliasInfo:
        """Federation staff (or the command line) take an alias away, whichever its
        source (a registry alias comes back with the next import that lists it)."""
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            enterprise = await _by_ref(session, ref)
            text = _clean_alias(alias)
            found = (
                await session.execute(
                    select(ALIASES).where(
                        ALIASES.c.enterprise_id == enterprise.id,
                        ALIASES.c.alias_key == alias_key(text),
                    )
                )
            ).first()
            if found is None:
                raise AliasRefused("missing", text)
            await session.execute(delete(ALIASES).where(ALIASES.c.id == found.id))
            await record(
                session,
                actor,
                "enterprise.alias_removed",
                "enterprise",
                enterprise.id,
                before={"alias": found.alias, "source": found.source},
            )
            Database.flag(session, ENTERPRISES_TOPIC)
        return AliasInfo(found.alias, found.source, found.created_at, found.created_by_name)

    async def change_employer(
        self,
        application_id: int,
        enterprise_id: int,
        actor: Actor,
        card: CardRef | None = None,
    ) -> EmployerChange:
        """Staff fixing the employer of a submitted application before deciding it (the
        street's reviewers, or an administrator). The review card, when given, is
        refreshed through the outbox to show the new employer and its count."""
        async with self.db.transaction() as session:
            application = (
                await session.execute(
                    select(
                        APPLICATIONS.c.number,
                        APPLICATIONS.c.status,
                        APPLICATIONS.c.street_id,
                        APPLICATIONS.c.enterprise_id,
                        APPLICATIONS.c.submitted_at,
                        APPLICATIONS.c.decided_at,
                        APPLICATIONS.c.decided_by_name,
                        APPLICATIONS.c.employer_text,
                        APPLICATIONS.c.employer_typed,
                        APPLICATIONS.c.employer_branch,
                    ).where(APPLICATIONS.c.id == application_id)
                )
            ).first()
            if application is None:
                raise NotFound("application")
            await _require_reviewer(session, actor, application.street_id)
            if application.status != "submitted":
                raise AlreadyDecided(
                    application.status,
                    application.decided_by_name or "?",
                    application.decided_at or application.submitted_at,
                )
            target = await session.get(Enterprise, enterprise_id)
            if target is None:
                raise NotFound(f"enterprise {enterprise_id}")
            target = await resolve(session, target)
            if target.status != "active":
                raise EnterpriseNotActive(f"enterprise {target.id} is {target.status}")
            old = application.enterprise_id
            confirmed = False
            if old != target.id:
                await lock(session, (old, target.id))
                await _set_employer(session, application_id, old, target.id)
                # The reviewer picked it from a search: staff vouch for it from now on.
                confirmed = await confirm(session, target.id)
                await record(
                    session,
                    actor,
                    "application.employer_changed",
                    "application",
                    application.number,
                    before={"enterprise_id": old},
                    after={
                        "enterprise_id": target.id,
                        "enterprise": target.name,
                        "confirmed": confirmed,
                    },
                )
                await self._learn_from_change(session, application, target.id, actor)
                if card is not None:
                    await outbox.enqueue(
                        session,
                        card.chat_id,
                        "review_card_edit",
                        application_id=application_id,
                        message_id=card.message_id,
                    )
            return EmployerChange(
                application.number,
                old,
                target.id,
                target.name,
                target.provisional,
                target.member_count,
                confirmed,
            )

    async def _learn_from_change(
        self, session: AsyncSession, application: Any, target_id: int, actor: Actor
    ) -> None:
        """What the worker typed is what workers call the enterprise staff chose: a
        proposed alias. Applications from before the typed text was kept have only the
        name the form settled on, which is what they typed if it made a provisional one."""
        from bot.services.alias_proposals import propose  # it imports this module

        typed = application.employer_typed
        if typed is None:
            old = await session.get_one(Enterprise, application.enterprise_id)
            typed = application.employer_text if old.provisional else None
        await propose(
            session, target_id, typed, origin="employer_change", origin_ref=application.number,
            actor=actor, federation_chat_id=self.federation_chat_id,
            branch=application.employer_branch,
        )  # fmt: skip

    async def is_federation_staff(self, user_id: int) -> bool:
        async with self.db.read() as session:
            return await has_role(session, user_id, ("federation", "admin"))

    async def rekey(self) -> int:
        """Recompute every stored name key (after the normalisation rules changed)."""
        async with self.db.transaction() as session:
            rows = list(
                await session.execute(
                    select(ENTERPRISES.c.id, ENTERPRISES.c.name, ENTERPRISES.c.name_key)
                )
            )
            changed = [
                {"_id": r.id, "name_key": name_key(r.name)}
                for r in rows
                if name_key(r.name) != r.name_key
            ]
            if changed:
                await session.execute(
                    update(ENTERPRISES)
                    .where(ENTERPRISES.c.id == bindparam("_id"))
                    .values(name_key=bindparam("name_key")),
                    changed,
                )
                Database.flag(session, ENTERPRISES_TOPIC)
            return len(changed)


# ---------------------------------------------------------------------------- helpers

# The enterprises the matcher includes: an alias or a name of one of these finds it.
MATCHABLE = (ENTERPRISES.c.status == "active", ENTERPRISES.c.merged_into_id.is_(None))


async def _fingerprint(session: AsyncSession) -> tuple[int, int]:
    """Changes when enterprises or aliases are added by another process (an import or an
    alias from the command line). Two index look-ups in one statement, unwatched only:
    it runs on every employer a worker types. Changes made in this process bump
    `version`; other processes' status changes, merges and removed aliases are picked up
    when the matcher is older than MATCHER_MAX_AGE_S."""
    newest = (
        await session.execute(
            select(
                select(func.max(ENTERPRISES.c.id)).scalar_subquery(),
                select(func.max(ALIASES.c.id)).scalar_subquery(),
            )
        )
    ).one()
    return int(newest[0] or 0), int(newest[1] or 0)


def _looks_like_ref(text: str) -> bool:
    return (text.isdigit() and len(text) < 18) or len(text) == 18


async def _by_ref(session: AsyncSession, ref: int | str) -> Enterprise:
    text = str(ref).strip()
    enterprise: Enterprise | None = None
    if text.isdigit() and len(text) < 18:
        enterprise = await session.get(Enterprise, int(text))
    else:
        try:
            uscc = validate_uscc(text)
        except ValidationError:
            raise NotFound(f"no enterprise with id or USCC {text!r}") from None
        enterprise = await session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
    if enterprise is None:
        raise NotFound(f"no enterprise with id or USCC {text!r}")
    return enterprise


async def _info(
    session: AsyncSession, enterprise: Enterprise, *, with_alerts: bool = False
) -> EnterpriseInfo:
    street = None
    if enterprise.street_id is not None:
        street = await session.scalar(select(Street.name).where(Street.id == enterprise.street_id))
    alerts: tuple[AlertInfo, ...] = ()
    if with_alerts:
        rows = await session.scalars(
            select(ThresholdAlert)
            .where(ThresholdAlert.enterprise_id == enterprise.id)
            .order_by(ThresholdAlert.id)
        )
        alerts = tuple(
            AlertInfo(a.id, a.threshold, a.member_count, a.created_at, a.followed_by_name)
            for a in rows
        )
    return EnterpriseInfo(
        id=enterprise.id,
        name=enterprise.name,
        uscc=enterprise.uscc,
        street_id=enterprise.street_id,
        street_name=street,
        status=enterprise.status,
        provisional=enterprise.provisional,
        member_count=enterprise.member_count,
        merged_into_id=enterprise.merged_into_id,
        address=enterprise.address,
        employees=enterprise.employees,
        has_union=enterprise.has_union,
        alerts=alerts,
        union_name=enterprise.union_name,
        union_contact=enterprise.union_contact,
        confirmed=offered_to_workers(enterprise),
    )


async def _require_reviewer(session: AsyncSession, actor: Actor, street_id: int) -> None:
    if actor.user_id is None or await has_role(session, actor.user_id, ("admin",)):
        return
    if not await has_role(session, actor.user_id, ("street",), street_id=street_id):
        raise NotAllowed()


async def _lock_pair(
    session: AsyncSession, source_id: int, target_id: int
) -> tuple[Enterprise, Enterprise]:
    await lock(session, (source_id, target_id))
    found = {
        e.id: e
        for e in await session.scalars(
            select(Enterprise)
            .where(Enterprise.id.in_((source_id, target_id)))
            .execution_options(populate_existing=True)
        )
    }
    for wanted in (source_id, target_id):
        if wanted not in found:
            raise NotFound(f"no enterprise with id {wanted}")
    return found[source_id], found[target_id]


def _check_merge(source: Enterprise, target: Enterprise) -> None:
    if source.id == target.id:
        raise MergeRefused("self", source.id)
    if source.merged_into_id is not None:
        raise MergeRefused("source_merged", source.id, source.merged_into_id)
    if target.merged_into_id is not None:
        raise MergeRefused("target_merged", target.id, target.merged_into_id)


async def _move(session: AsyncSession, table: object, source_id: int, target_id: int) -> int:
    result = await session.execute(
        update(table)  # type: ignore[arg-type]
        .where(table.c.enterprise_id == source_id)  # type: ignore[attr-defined]
        .values(enterprise_id=target_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _move_alerts(session: AsyncSession, source_id: int, target_id: int) -> bool:
    """The federation was already told about the source's members: its alert becomes the
    target's when the target has none for that threshold, so the merged enterprise does
    not alert a second time. If both had one, the source keeps its own (history)."""
    return bool(await _move_unless_taken(session, ALERTS, "threshold", source_id, target_id))


async def _move_aliases(session: AsyncSession, source_id: int, target_id: int) -> int:
    """The source's other names become the target's, except those it already has (those
    stay with the merged source, which no matcher includes)."""
    return await _move_unless_taken(session, ALIASES, "alias_key", source_id, target_id)


async def _move_unless_taken(
    session: AsyncSession, table: Any, key: str, source_id: int, target_id: int
) -> int:
    """The source's rows of `table` become the target's, except those whose `key` the
    target already has a row for; how many moved."""
    column = table.c[key]
    taken = select(column).where(table.c.enterprise_id == target_id)
    result = await session.execute(
        update(table)
        .where(table.c.enterprise_id == source_id, column.not_in(taken))
        .values(enterprise_id=target_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _matchable_aliases(session: AsyncSession) -> dict[int, list[str]]:
    """The aliases of the enterprises the matcher includes: one query per rebuild."""
    rows = await session.execute(
        select(ALIASES.c.enterprise_id, ALIASES.c.alias)
        .join(ENTERPRISES, ENTERPRISES.c.id == ALIASES.c.enterprise_id)
        .where(*MATCHABLE)
        .order_by(ALIASES.c.id)
    )
    found: dict[int, list[str]] = {}
    for enterprise_id, alias in rows:
        found.setdefault(enterprise_id, []).append(alias)
    return found


async def _aliases_of(session: AsyncSession, enterprise_id: int) -> list[AliasInfo]:
    rows = await session.execute(
        select(ALIASES.c.alias, ALIASES.c.source, ALIASES.c.created_at, ALIASES.c.created_by_name)
        .where(ALIASES.c.enterprise_id == enterprise_id)
        .order_by(ALIASES.c.id)
    )
    return [AliasInfo(*row) for row in rows]


async def _alias_owner(session: AsyncSession, ref: int | str) -> Enterprise:
    """The enterprise to give an alias: a merged one is refused (it is matched as the
    one it was merged into, so the alias belongs there)."""
    enterprise = await _by_ref(session, ref)
    if enterprise.merged_into_id is not None:
        raise MergeRefused("target_merged", enterprise.id, enterprise.merged_into_id)
    return enterprise


def _clean_alias(raw: str) -> str:
    """The alias as stored: NFKC, one space between words; refused when empty (nothing
    to compare left, e.g. "有限公司") or longer than the column."""
    try:
        text = clean_text(raw, ALIAS_MAX)
    except ValidationError as error:
        reason = "too_long" if error.code == Code.TEXT_TOO_LONG else "empty"
        raise AliasRefused(reason, raw.strip()) from None
    if not alias_key(text):
        raise AliasRefused("empty", text)
    return text


def _clean_aliases(raw: Sequence[str]) -> list[tuple[str, str]]:
    """(alias, key) for each; the same alias twice in one request is refused."""
    wanted: dict[str, str] = {}
    for alias in map(_clean_alias, raw):
        key = alias_key(alias)
        if key in wanted:
            raise AliasRefused("duplicate", alias)
        wanted[key] = alias
    if not wanted:
        raise AliasRefused("empty", "")
    return [(alias, key) for key, alias in wanted.items()]


async def store_aliases(
    session: AsyncSession,
    enterprise_id: int,
    wanted: Sequence[tuple[str, str]],
    source: str,
    by_name: str,
) -> datetime:
    """Give the enterprise these (alias, key) pairs, all or none (AliasRefused), and have
    the matchers rebuild with them once the transaction commits; when.

    On PostgreSQL the keys are locked for the transaction first, so that two staff giving
    one alias to two enterprises at the same moment cannot both pass the check below (the
    unique key is per enterprise: an alias of a closed enterprise is free for another).
    SQLite runs one write transaction at a time."""
    if session.bind.dialect.name == "postgresql":
        for key in sorted({key for _alias, key in wanted}):
            await session.execute(select(func.pg_advisory_xact_lock(lock_key(f"alias:{key}"))))
    await _check_free(session, enterprise_id, wanted)
    now = utcnow()
    rows = [
        {
            "enterprise_id": enterprise_id,
            "alias": alias,
            "alias_key": key,
            "source": source,
            "created_at": now,
            "created_by_name": by_name,
        }
        for alias, key in wanted
    ]
    try:  # a backstop: the lock above already makes the second of two a duplicate
        async with session.begin_nested():
            await session.execute(insert(ALIASES), rows)
    except IntegrityError:
        raise AliasRefused("duplicate", wanted[0][0]) from None
    Database.flag(session, ENTERPRISES_TOPIC)  # the matchers rebuild with them
    return now


async def _check_free(
    session: AsyncSession, enterprise_id: int, wanted: Sequence[tuple[str, str]]
) -> None:
    """Refuse an alias the enterprise has already, or that another active, unmerged
    enterprise has (the matcher could not tell them apart by it)."""
    by_key = {key: alias for alias, key in wanted}
    owners = await alias_owners(session, by_key, include=enterprise_id)
    for key, (owner_id, _name) in owners.items():
        if owner_id == enterprise_id:
            raise AliasRefused("duplicate", by_key[key])
    for key, (owner_id, owner_name) in owners.items():
        raise AliasRefused("taken", by_key[key], (owner_id, owner_name))


async def alias_owners(
    session: AsyncSession, keys: Iterable[str], *, include: int | None = None
) -> dict[str, tuple[int, str]]:
    """key → (id, name) of the enterprise that has it as an alias, for the keys some
    enterprise has: the active, unmerged ones (those the matcher includes), and `include`
    whatever its state, which is named first when it has the key too."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    holders = and_(*MATCHABLE)
    if include is not None:
        holders = or_(ENTERPRISES.c.id == include, holders)
    rows = await session.execute(
        select(ALIASES.c.alias_key, ENTERPRISES.c.id, ENTERPRISES.c.name)
        .join(ENTERPRISES, ENTERPRISES.c.id == ALIASES.c.enterprise_id)
        .where(ALIASES.c.alias_key.in_(wanted), holders)
        .order_by(ENTERPRISES.c.id != (include or 0), ALIASES.c.id)
    )
    found: dict[str, tuple[int, str]] = {}
    for key, owner_id, owner_name in rows:
        found.setdefault(key, (owner_id, owner_name))
    return found


async def _set_employer(
    session: AsyncSession, application_id: int, old_id: int, enterprise_id: int
) -> None:
    result = await session.execute(
        update(APPLICATIONS)
        .where(
            APPLICATIONS.c.id == application_id,
            APPLICATIONS.c.status == "submitted",
            APPLICATIONS.c.enterprise_id == old_id,  # not moved by a merge meanwhile
        )
        .values(enterprise_id=enterprise_id)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("application")
