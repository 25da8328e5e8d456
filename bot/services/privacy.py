"""Data-subject rights (/mydata, /delete) and the retention job.

Erasure anonymises rows instead of deleting them. Application and member numbers stay
valid references for the append-only audit log, the staff's review card can still be
edited to show a withdrawal, and history (per point, per enterprise, per day) keeps its
totals. What identifies the person is overwritten: the name, the resident id and mobile
(ciphertexts of the empty string replace them), the look-up hash (a random marker, so the
person can apply again and no two records can be linked), gender, birth date, the employer
as typed, job, the staff's free-text reject note, the claim code and the Telegram account.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.pii import LookupHasher, PiiCipher, PiiError
from bot.services import enterprises, outbox
from bot.services.audit import Actor, record
from bot.services.errors import DomainError
from models import (
    AnnouncementOptOut,
    Application,
    AuditEntry,
    Enterprise,
    FsmRecord,
    Member,
    OutboxMessage,
    ReceptionPoint,
    Street,
    UnionOrg,
    UserPreference,
)
from models.base import utcnow

log = logging.getLogger(__name__)

ERASED_NAME = "（已删除）"
ERASED_GENDER = "erased"
ERASED_BIRTH_DATE = date(1900, 1, 1)
ERASED_HASH_PREFIX = "erased:"
# The form fields a worker can have typed (see handlers/form.py).
FORM_FIELDS = ("name", "resident_id", "mobile", "employer", "job")
CONFIRM_TTL = timedelta(minutes=30)
RETENTION_ACTOR = Actor(user_id=None, name="retention")


class StaleConfirmation(DomainError):
    """A /delete confirmation that is forged, expired, or no longer matches the records."""


class FormCache(Protocol):
    """The FSM storage's in-process cache (bot.fsm_storage.DatabaseStorage.forget)."""

    def forget(self, dirty: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ApplicationData:
    number: str
    status: str
    channel: str
    submitted_at: datetime
    name: str
    resident_id: str
    mobile: str
    gender: str
    birth_date: date
    employer: str
    enterprise: str
    job: str | None
    street: str
    point: str | None
    consent_at: datetime
    notice_version: str
    language: str
    decided_at: datetime | None
    reject_reason: str | None
    reject_note: str | None
    employer_typed: str | None = None  # as the worker typed it, when kept
    employer_branch: str | None = None


@dataclass(frozen=True)
class MembershipData:
    number: str
    union: str
    status: str
    joined_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class FormData:
    """A half-filled application form: the fields typed so far."""

    updated_at: datetime
    fields: dict[str, str]


@dataclass(frozen=True)
class MyData:
    user_id: int
    applications: tuple[ApplicationData, ...]
    memberships: tuple[MembershipData, ...]
    language: str | None
    form: FormData | None
    audit_entries: int

    @property
    def empty(self) -> bool:
        return not (self.applications or self.memberships or self.language or self.form)


@dataclass(frozen=True)
class DeletionPlan:
    """What /delete would do now, and the token its confirmation button carries."""

    pending: tuple[str, ...]
    members: tuple[str, ...]
    other_applications: int
    has_form: bool
    has_language: bool
    token: str

    @property
    def nothing(self) -> bool:
        return not (
            self.pending
            or self.members
            or self.other_applications
            or self.has_form
            or self.has_language
        )


@dataclass(frozen=True)
class DeletionResult:
    withdrawn: tuple[str, ...]  # pending applications withdrawn
    ended: tuple[str, ...]  # member numbers whose membership ended
    anonymised: tuple[str, ...]  # every application erased (includes the withdrawn)
    form_deleted: bool
    language_deleted: bool

    @property
    def nothing(self) -> bool:
        return not (self.anonymised or self.ended or self.form_deleted or self.language_deleted)

    def counts(self) -> dict[str, Any]:
        """For the audit entry: how much, never what."""
        return {
            "withdrawn": len(self.withdrawn),
            "ended": len(self.ended),
            "anonymised": len(self.anonymised),
            "form": self.form_deleted,
            "language": self.language_deleted,
        }


@dataclass(frozen=True)
class RetentionResult:
    drafts_deleted: int
    rejected_anonymised: int


def erased_hash() -> str:
    """A random stand-in for the look-up hash: unique, so it links nothing (≤ 64 chars)."""
    return ERASED_HASH_PREFIX + secrets.token_hex(28)


def form_key(user_id: int) -> str:
    """The FSM key of the user's private chat (DefaultKeyBuilder(with_destiny=True))."""
    return f"fsm:{user_id}:{user_id}:default"


def _user_form_keys(user_id: int) -> Any:
    # Any chat (and topic) of this user: "fsm:<chat>[:<thread>]:<user>:default".
    return FsmRecord.key.like(f"fsm:%:{user_id}:default")


class PrivacyService:
    def __init__(
        self,
        db: Database,
        cipher: PiiCipher,
        hasher: LookupHasher,
        *,
        threshold: int,
        federation_chat_id: int | None,
        form_cache: FormCache | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.hasher = hasher
        self.threshold = threshold
        self.federation_chat_id = federation_chat_id
        # Deleted forms must also leave the storage's cache, or the next update resurrects them.
        self.form_cache = form_cache

    # --- /mydata ---------------------------------------------------------------------------
    async def my_data(self, user_id: int) -> MyData:
        """Everything stored about this Telegram user, their own values decrypted."""
        async with self.db.read() as session:
            applications = await self._applications_data(session, user_id)
            memberships = await self._memberships_data(session, user_id)
            preference = await session.get(UserPreference, user_id)
            form = await self._form_data(session, user_id)
            numbers = [a.number for a in applications] + [m.number for m in memberships]
            audit_entries = await _audit_count(session, user_id, numbers)
        return MyData(
            user_id,
            tuple(applications),
            tuple(memberships),
            preference.locale if preference else None,
            form,
            audit_entries,
        )

    async def _applications_data(
        self, session: AsyncSession, user_id: int
    ) -> list[ApplicationData]:
        rows = await session.execute(
            select(Application, Street.name, ReceptionPoint.name, Enterprise.name)
            .join(Street, Street.id == Application.street_id)
            .join(Enterprise, Enterprise.id == Application.enterprise_id)
            .outerjoin(ReceptionPoint, ReceptionPoint.id == Application.point_id)
            .where(Application.telegram_user_id == user_id, Application.anonymised_at.is_(None))
            .order_by(Application.id)
        )
        return [self._application_data(*row) for row in rows]

    def _application_data(
        self, a: Application, street: str, point: str | None, enterprise: str
    ) -> ApplicationData:
        return ApplicationData(
            number=a.number,
            status=a.status,
            channel=a.channel,
            submitted_at=a.submitted_at,
            name=a.name,
            resident_id=self._decrypt(a.ric_cipher, "ric"),
            mobile=self._decrypt(a.mobile_cipher, "mobile"),
            gender=a.gender,
            birth_date=a.birth_date,
            employer=a.employer_text,
            employer_typed=a.employer_typed,
            employer_branch=a.employer_branch,
            enterprise=enterprise,
            job=a.job,
            street=street,
            point=point,
            consent_at=a.consent_at,
            notice_version=a.notice_version,
            language=a.language,
            decided_at=a.decided_at,
            reject_reason=a.reject_reason,
            reject_note=a.reject_note,
        )

    def _decrypt(self, blob: bytes, context: str) -> str:
        try:
            return self.cipher.decrypt(blob, context=context)
        except PiiError:  # e.g. encrypted under a retired key that is no longer configured
            return "?"

    async def _memberships_data(self, session: AsyncSession, user_id: int) -> list[MembershipData]:
        rows = await session.execute(
            select(Member, UnionOrg.name)
            .join(UnionOrg, UnionOrg.id == Member.union_org_id)
            .where(Member.telegram_user_id == user_id)
            .order_by(Member.id)
        )
        return [
            MembershipData(m.number, union, m.status, m.joined_at, m.ended_at) for m, union in rows
        ]

    async def _form_data(self, session: AsyncSession, user_id: int) -> FormData | None:
        row = await session.get(FsmRecord, form_key(user_id))
        if row is None or not (row.state or row.data_cipher):
            return None
        data: dict[str, Any] = {}
        if row.data_cipher:
            try:
                data = json.loads(self.cipher.decrypt(row.data_cipher, context="fsm"))
            except PiiError:
                data = {}
        fields = {name: str(data[name]) for name in FORM_FIELDS if data.get(name)}
        return FormData(row.updated_at, fields)

    # --- /delete ---------------------------------------------------------------------------
    async def deletion_plan(self, user_id: int, now: datetime | None = None) -> DeletionPlan:
        """What `delete` would do, with a token that binds the confirmation to exactly this."""
        async with self.db.read() as session:
            applications = await _open_applications(session, user_id)
            members = await _linked_members(session, user_id, applications)
            has_form = await _has_form(session, user_id)
            has_language = await session.get(UserPreference, user_id) is not None
        pending = tuple(a.number for a in applications if a.status == "submitted")
        return DeletionPlan(
            pending=pending,
            members=tuple(m.number for m in members if m.status == "active"),
            other_applications=len(applications) - len(pending),
            has_form=has_form,
            has_language=has_language,
            token=self._token(user_id, _fingerprint(applications, members), now or utcnow()),
        )

    async def delete(
        self,
        user_id: int,
        actor: Actor,
        *,
        confirm: str | None = None,
        now: datetime | None = None,
    ) -> DeletionResult:
        """Withdraw pending applications, end memberships, erase the person's data.

        With `confirm` (the token of a `deletion_plan`), nothing happens unless the token
        is genuine, recent, and the records are still what the person was shown.
        """
        now = now or utcnow()
        async with self.db.transaction() as session:
            applications, members = await _lock_person(session, user_id)
            if confirm is not None and not self._token_valid(
                user_id, _fingerprint(applications, members), confirm, now
            ):
                raise StaleConfirmation()
            ended = await self._end_memberships(session, members, actor, now)
            withdrawn = await self._erase_applications(session, applications, actor, now)
            form_keys = await _delete_forms(session, user_id)
            language = await _delete_language(session, user_id)
            result = DeletionResult(
                withdrawn=withdrawn,
                ended=ended,
                anonymised=tuple(a.number for a in applications),
                form_deleted=bool(form_keys),
                language_deleted=language,
            )
            if not result.nothing:
                await record(
                    session, actor, "privacy.deleted", "person", user_id, after=result.counts()
                )
        self._forget_forms(form_keys)
        if not result.nothing:
            await self._scrub_files()
        return result

    async def _end_memberships(
        self, session: AsyncSession, members: Sequence[Member], actor: Actor, now: datetime
    ) -> tuple[str, ...]:
        ended: list[Member] = []
        for member in members:
            if member.status == "active":
                member.status, member.ended_at = "ended", now
                ended.append(member)
            member.telegram_user_id = None
            member.ric_hash = erased_hash()
        await session.flush()
        for member in ended:
            # Invariant 2: recomputed, never decremented.
            count = await enterprises.recount(session, member.enterprise_id)
            after = {
                "status": "ended",
                "reason": "data_subject_request",
                "enterprise_id": member.enterprise_id,
                "count": count,
            }
            await record(
                session, actor, "member.ended", "member", member.number,
                before={"status": "active"}, after=after,
            )  # fmt: skip
        return tuple(m.number for m in ended)

    async def _erase_applications(
        self,
        session: AsyncSession,
        applications: Sequence[Application],
        actor: Actor,
        now: datetime,
    ) -> tuple[str, ...]:
        withdrawn: list[Application] = []
        for application in applications:
            before = application.status
            if before == "submitted":
                # Closed by the applicant: decided_at records when, decided_by stays empty.
                application.status, application.decided_at = "withdrawn", now
                withdrawn.append(application)
            self._erase(application, now)
            action = "application.withdrawn" if before == "submitted" else "application.anonymised"
            await record(
                session, actor, action, "application", application.number,
                before={"status": before},
                after={"status": application.status, "anonymised": True},
            )  # fmt: skip
        await session.flush()
        for application in withdrawn:
            await _edit_review_cards(session, application.id)
        return tuple(a.number for a in withdrawn)

    def _erase(self, application: Application, now: datetime) -> None:
        application.name = ERASED_NAME
        # Valid ciphertexts of nothing: views that decrypt keep working and show nothing.
        application.ric_cipher = self.cipher.encrypt("", context="ric")
        application.mobile_cipher = self.cipher.encrypt("", context="mobile")
        application.ric_hash = erased_hash()
        application.gender = ERASED_GENDER
        application.birth_date = ERASED_BIRTH_DATE
        application.employer_text = ""
        application.employer_typed = None
        application.employer_branch = None
        application.job = None
        application.reject_note = None  # staff's free text may name the person
        application.claim_hash = None
        application.telegram_user_id = None
        application.anonymised_at = now

    # --- confirmation tokens ---------------------------------------------------------------
    def _token(self, user_id: int, fingerprint: str, now: datetime) -> str:
        issued = int(now.timestamp()) // 60
        return f"{issued:x}.{self._mac(user_id, issued, fingerprint)}"

    def _mac(self, user_id: int, issued: int, fingerprint: str) -> str:
        message = f"{user_id}|{issued}|{fingerprint}"
        return self.hasher.digest(message, context="delete-confirm")[:20]

    def _token_valid(self, user_id: int, fingerprint: str, token: str, now: datetime) -> bool:
        issued_hex, _, mac = token.partition(".")
        try:
            issued = int(issued_hex, 16)
        except ValueError:
            return False
        age = int(now.timestamp()) // 60 - issued
        if not 0 <= age <= CONFIRM_TTL.total_seconds() // 60:
            return False
        return hmac.compare_digest(mac, self._mac(user_id, issued, fingerprint))

    # --- retention -------------------------------------------------------------------------
    async def run_retention(
        self, now: datetime | None = None, *, drafts_days: int = 30, rejected_days: int = 180
    ) -> RetentionResult:
        """Delete forms untouched for `drafts_days`; anonymise applications rejected more
        than `rejected_days` ago. One audit entry per run, with the counts."""
        now = now or utcnow()
        async with self.db.transaction() as session:
            drafts = await _delete_forms_before(session, now - timedelta(days=drafts_days))
            rejected = await _rejected_before(session, now - timedelta(days=rejected_days))
            for application in rejected:
                self._erase(application, now)
            counts = {
                "drafts_deleted": len(drafts),
                "rejected_anonymised": len(rejected),
                "applications": [a.number for a in rejected],
                "drafts_days": drafts_days,
                "rejected_days": rejected_days,
            }
            await record(
                session, RETENTION_ACTOR, "retention.run", "system", "retention", after=counts
            )
        self._forget_forms(drafts)
        await self._scrub_files()  # also finishes a scrub that an erasure had to give up
        return RetentionResult(len(drafts), len(rejected))

    # --- after the commit ------------------------------------------------------------------
    def _forget_forms(self, keys: Iterable[str]) -> None:
        if self.form_cache is not None:
            self.form_cache.forget(dict.fromkeys(keys, (None, {})))

    async def _scrub_files(self) -> None:
        """Erased values must leave the files, not only the rows. Best effort, after the
        commit. SQLite keeps earlier page images in its write-ahead log until a
        checkpoint: copy the current pages back and empty the log (freed space is zeroed:
        secure_delete). PostgreSQL keeps superseded row versions in the table files, and
        VACUUM frees them without zeroing: the tables are rewritten (VACUUM FULL, a
        moment's exclusive lock; given up after a few seconds and redone by the daily
        retention run). Its write-ahead log keeps old versions until the segment is
        recycled (see docs/operations.md)."""
        try:
            async with self.db.writer.connect() as connection:
                # The raw connection: neither a checkpoint nor VACUUM runs in a transaction.
                raw = await connection.get_raw_connection()
                driver = raw.driver_connection
                if self.db.is_sqlite:
                    cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    busy = (await cursor.fetchone() or (0,))[0]
                    await cursor.close()
                    if busy:
                        log.warning("WAL checkpoint after erasure was blocked; it comes later")
                else:
                    await driver.execute(f"SET lock_timeout = '{SCRUB_LOCK_TIMEOUT}'")
                    for table in ERASED_TABLES:
                        await driver.execute(f"VACUUM FULL {table}")
        except Exception as error:
            log.warning("scrubbing the files after erasure failed: %s", type(error).__name__)


# Tables whose rows erasure rewrites or deletes.
ERASED_TABLES = ("application", "member", "fsm_state", "user_preference")
# A rewrite waits at most this long for its lock, so that it never holds up the bot.
SCRUB_LOCK_TIMEOUT = "3s"


# --- queries ------------------------------------------------------------------------------
async def _lock_person(
    session: AsyncSession, user_id: int
) -> tuple[list[Application], list[Member]]:
    """The person's applications and members, locked in the one lock order: their
    enterprises first (see enterprises.lock), then the rows themselves. A merge may move
    them to another enterprise between the look and the lock: then look again."""
    for _attempt in range(5):
        applications = await _open_applications(session, user_id)
        members = await _linked_members(session, user_id, applications)
        involved = {a.enterprise_id for a in applications} | {m.enterprise_id for m in members}
        await enterprises.lock(session, involved)
        applications = await _open_applications(session, user_id, lock=True)
        members = await _linked_members(session, user_id, applications, lock=True)
        now_involved = {a.enterprise_id for a in applications}
        now_involved |= {m.enterprise_id for m in members}
        if now_involved <= involved:
            return applications, members
    raise RuntimeError("the person's records kept moving between enterprises")


async def _open_applications(
    session: AsyncSession, user_id: int, *, lock: bool = False
) -> list[Application]:
    query = select(Application).where(
        Application.telegram_user_id == user_id, Application.anonymised_at.is_(None)
    )
    if lock:  # PostgreSQL: a concurrent decision waits (SQLite: the write lock does it)
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(await session.scalars(query.order_by(Application.id)))


async def _linked_members(
    session: AsyncSession,
    user_id: int,
    applications: Sequence[Application],
    *,
    lock: bool = False,
) -> list[Member]:
    linked = or_(
        Member.telegram_user_id == user_id,
        Member.application_id.in_([a.id for a in applications]),
    )
    query = select(Member).where(linked)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(await session.scalars(query.order_by(Member.id)))


def _fingerprint(applications: Sequence[Application], members: Sequence[Member]) -> str:
    """What a confirmation is about: a new application or a decision in between voids it."""
    parts = [f"a:{a.number}:{a.status}" for a in applications]
    parts += [f"m:{m.number}:{m.status}" for m in members]
    return ",".join(sorted(parts))


async def _has_form(session: AsyncSession, user_id: int) -> bool:
    found = await session.scalar(select(FsmRecord.key).where(_user_form_keys(user_id)).limit(1))
    return found is not None


async def _delete_forms(session: AsyncSession, user_id: int) -> list[str]:
    return list(
        await session.scalars(
            delete(FsmRecord).where(_user_form_keys(user_id)).returning(FsmRecord.key)
        )
    )


async def _delete_forms_before(session: AsyncSession, moment: datetime) -> list[str]:
    return list(
        await session.scalars(
            delete(FsmRecord).where(FsmRecord.updated_at < moment).returning(FsmRecord.key)
        )
    )


async def _rejected_before(session: AsyncSession, moment: datetime) -> list[Application]:
    return list(
        await session.scalars(
            select(Application).where(
                Application.status == "rejected",
                Application.anonymised_at.is_(None),
                Application.decided_at < moment,
            )
        )
    )


async def _delete_language(session: AsyncSession, user_id: int) -> bool:
    """The person's choices: the language, and /notify off (whoever is no longer a member
    gets no announcements anyway)."""
    await session.execute(
        delete(AnnouncementOptOut).where(AnnouncementOptOut.telegram_user_id == user_id)
    )
    deleted = await session.scalars(
        delete(UserPreference)
        .where(UserPreference.telegram_user_id == user_id)
        .returning(UserPreference.telegram_user_id)
    )
    return deleted.first() is not None


async def _edit_review_cards(session: AsyncSession, application_id: int) -> None:
    """Re-render the application's review cards already in the group (now "withdrawn");
    a card not sent yet renders the new state anyway."""
    cards = await session.execute(
        select(OutboxMessage.chat_id, OutboxMessage.sent_message_id).where(
            OutboxMessage.kind == "review_card",
            OutboxMessage.status == "sent",
            OutboxMessage.sent_message_id.is_not(None),
            OutboxMessage.payload["application_id"].as_integer() == application_id,
        )
    )
    for chat_id, message_id in cards:
        await outbox.enqueue(
            session, chat_id, "review_card_edit", application_id=application_id,
            message_id=message_id,
        )  # fmt: skip


async def _audit_count(session: AsyncSession, user_id: int, numbers: list[str]) -> int:
    about = or_(
        AuditEntry.actor_user_id == user_id,
        and_(
            AuditEntry.subject_type.in_(("application", "member")),
            AuditEntry.subject_id.in_(numbers),
        ),
    )
    return int(await session.scalar(select(func.count()).select_from(AuditEntry).where(about)) or 0)
