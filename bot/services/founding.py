"""Founding cases (建会工作): the federation's work with one enterprise, from the alert (or
a decision below the threshold) to the founded enterprise union.

A case moves one stage at a time (following → preparing → assembly → approved →
founded), each recording its facts (bot/founding_facts.py); it may move back one stage
with a reason, or be paused (暂缓) with a reason and resumed where it stood. Federation
staff move cases; the owner is who answers for it (reminders go to them). Every change is
one transaction: the case row changes only if its version is still the one the actor saw
(two presses at once, or a press on an old card, act once), the audit log gets the before
and after, and the case's cards in the chats are edited through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import timefmt
from bot.changes import ENTERPRISES_TOPIC, ORG_TOPIC
from bot.db import Database, dialect_insert
from bot.founding_facts import (
    FACTS_OF,
    NOTE_MAX,
    Assembly,
    FactError,
    Founded,
    StageFacts,
    fact_date,
    short_text,
)
from bot.pii import mask_numbers
from bot.services import outbox
from bot.services.audit import Actor, record
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.outbox import CardRef
from bot.services.roles import require_federation
from bot.services.unions import enterprise_union
from models import (
    Enterprise,
    FoundingCase,
    Member,
    MembershipTransfer,
    OutboxMessage,
    UnionOrg,
)
from models.base import utcnow
from models.founding import CASE_STAGES, PAUSE_REASONS

CASES = FoundingCase.__table__
OPEN_STAGES = CASE_STAGES[:-1]


class CaseExists(DomainError):
    """The enterprise has its case already (one per enterprise)."""

    def __init__(self, case_id: int) -> None:
        super().__init__(f"the enterprise already has case {case_id}")
        self.case_id = case_id


class CaseChanged(DomainError):
    """Someone changed the case since the actor saw it: nothing was done."""

    def __init__(self, case: CaseView) -> None:
        super().__init__(f"case {case.id} changed meanwhile (now {case.stage})")
        self.case = case


class CaseRefused(DomainError):
    """The change does not fit the case as it stands. `code`: founded (a founded case
    is finished), paused, not_paused, first_stage (nothing to go back to), facts (the
    facts are not the next stage's), date_order (before the last stage's date: `extra`
    has it), close_relatives (art. 10 unanswered or answered yes), has_union (the
    enterprise has a union already), inactive (closed, moved out or merged),
    uscc_taken (another union has that USCC), reason (an unknown pause reason)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "founded": "the case is finished: the union is founded",
        "paused": "the case is paused; resume it first",
        "not_paused": "the case is not paused",
        "first_stage": "the case is at its first stage; there is nothing to go back to",
        "facts": "those facts are not the next stage's ({stage})",
        "date_order": "the date is before the previous stage's date ({latest})",
        "close_relatives": "the committee is recorded only once it is confirmed that no member "
        "is a close relative of the enterprise's main manager (Trade Union Law art. 10)",
        "has_union": "the enterprise has a union already",
        "inactive": "the enterprise is closed, moved out or merged",
        "uscc_taken": "another union has that USCC",
        "reason": "unknown pause reason",
    }

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(self.MESSAGES.get(code, code).format_map(_Known(extra)))
        self.code, self.extra = code, extra


class _Known(dict[str, Any]):
    """Formats what is known and leaves other placeholders as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class CaseView:
    id: int
    enterprise_id: int
    enterprise: str
    uscc: str | None
    member_count: int
    stage: str
    paused: bool
    pause_reason: str | None
    pause_note: str | None
    owner_user_id: int | None
    owner_name: str | None
    facts: dict[str, Any]
    opened_at: datetime
    stage_since: datetime
    touched_at: datetime
    version: int
    # Moving the members once the union is founded: "running" | "done" | None (not
    # started), how many moved, how many active members are still elsewhere.
    transfer_status: str | None = None
    transferred: int = 0
    to_transfer: int = 0

    @property
    def open(self) -> bool:
        return self.stage != "founded"

    def days_in_stage(self, now: datetime) -> int:
        return (timefmt.local(now).date() - timefmt.local(self.stage_since).date()).days

    @property
    def notes(self) -> list[dict[str, Any]]:
        return list(self.facts.get("notes", []))


class FoundingService:
    def __init__(self, db: Database, *, federation_chat_id: int | None) -> None:
        self.db = db
        self.federation_chat_id = federation_chat_id

    # ------------------------------------------------------------------------ reading

    async def get(self, case_id: int) -> CaseView:
        async with self.db.read() as session:
            return await case_view(session, case_id)

    async def of_enterprise(self, enterprise_id: int) -> CaseView | None:
        async with self.db.read() as session:
            found = await session.scalar(
                select(FoundingCase.id).where(FoundingCase.enterprise_id == enterprise_id)
            )
            return await case_view(session, found) if found is not None else None

    async def list(self, *, include_founded: bool = False) -> list[CaseView]:
        """Open cases (paused ones too), longest in their stage first."""
        async with self.db.read() as session:
            query = select(FoundingCase.id).order_by(FoundingCase.stage_since, FoundingCase.id)
            if not include_founded:
                query = query.where(FoundingCase.stage != "founded")
            return [await case_view(session, case_id) for case_id in await session.scalars(query)]

    async def check_staff(self, actor: Actor) -> None:
        async with self.db.read() as session:
            await require_federation(session, actor)

    # ------------------------------------------------------------------------ changes

    async def open(
        self, enterprise_id: int, actor: Actor, *, chat_id: int | None = None
    ) -> CaseView:
        """Federation staff open a case by hand (工会法 art. 11 allows founding below the
        threshold); the opener owns it. The card goes to `chat_id`, or the federation
        group."""
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            case_id, created = await open_case(session, enterprise_id, actor)
            if not created:
                raise CaseExists(case_id)
            await self._post_card(session, case_id, chat_id)
            return await case_view(session, case_id)

    async def post_card(self, case_id: int, actor: Actor, chat_id: int) -> CaseView:
        """A fresh card for the case in `chat_id` (the old one scrolled away)."""
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            view = await case_view(session, case_id)
            await outbox.enqueue(session, chat_id, "case_card", case_id=case_id)
            return view

    async def advance(
        self,
        case_id: int,
        actor: Actor,
        facts: StageFacts,
        *,
        version: int | None = None,
        card: CardRef | None = None,
    ) -> CaseView:
        async with self.db.transaction() as session:
            case = await _for_change(session, case_id, actor, version)
            if case.paused:
                raise CaseRefused("paused")
            if case.stage == "founded":
                raise CaseRefused("founded")
            target = CASE_STAGES[CASE_STAGES.index(case.stage) + 1]
            if not isinstance(facts, FACTS_OF[target]):
                raise CaseRefused("facts", stage=target)
            _check_date_order(case, facts)
            if isinstance(facts, Assembly) and facts.close_relatives is not False:
                raise CaseRefused("close_relatives", answered=facts.close_relatives is not None)
            if isinstance(facts, Founded):
                await _found(session, case, facts)
            now = utcnow()
            recorded = dict(case.facts)
            recorded[target] = facts.record()
            await _store(
                session, case, stage=target, facts=recorded, stage_since=now, touched_at=now,
                reminded_stage_at=None, reminded_idle_at=None,
            )  # fmt: skip
            await record(
                session, actor, "case.advanced", "founding_case", case.id,
                before={"stage": case.stage}, after={"stage": target, **_audited(facts)},
            )  # fmt: skip
            return await self._changed(session, case.id, card)

    async def back(
        self,
        case_id: int,
        actor: Actor,
        reason: str,
        *,
        version: int | None = None,
        card: CardRef | None = None,
    ) -> CaseView:
        """One stage back, with a reason; the facts of the stage left are dropped (they
        are in the audit log) and recorded again when the case moves forward."""
        reason = short_text(reason, NOTE_MAX, code="reason")
        async with self.db.transaction() as session:
            case = await _for_change(session, case_id, actor, version)
            if case.paused:
                raise CaseRefused("paused")
            if case.stage == "founded":
                raise CaseRefused("founded")
            if case.stage == "following":
                raise CaseRefused("first_stage")
            target = CASE_STAGES[CASE_STAGES.index(case.stage) - 1]
            now = utcnow()
            recorded = {k: v for k, v in case.facts.items() if k != case.stage}
            recorded["notes"] = _with_note(case.facts, actor, f"⬅ {reason}", now)
            await _store(
                session, case, stage=target, facts=recorded, stage_since=now, touched_at=now,
                reminded_stage_at=None, reminded_idle_at=None,
            )  # fmt: skip
            await record(
                session, actor, "case.back", "founding_case", case.id,
                before={"stage": case.stage, **_masked(case.facts.get(case.stage, {}))},
                after={"stage": target, "reason": mask_numbers(reason)},
            )  # fmt: skip
            return await self._changed(session, case.id, card)

    async def pause(
        self,
        case_id: int,
        actor: Actor,
        reason: str,
        note: str | None = None,
        *,
        version: int | None = None,
        card: CardRef | None = None,
    ) -> CaseView:
        if reason not in PAUSE_REASONS:
            raise CaseRefused("reason")
        if note is not None:
            note = short_text(note, NOTE_MAX, code="note")
        elif reason == "other":
            raise FactError("note.empty")
        async with self.db.transaction() as session:
            case = await _for_change(session, case_id, actor, version)
            if case.stage == "founded":
                raise CaseRefused("founded")
            if case.paused:
                raise CaseRefused("paused")
            now = utcnow()
            await _store(
                session, case, paused=True, pause_reason=reason, pause_note=note,
                touched_at=now, reminded_idle_at=None,
            )  # fmt: skip
            await record(
                session, actor, "case.paused", "founding_case", case.id,
                before={"stage": case.stage, "paused": False},
                after={"stage": case.stage, "paused": True, "reason": reason,
                       "note": mask_numbers(note) if note else None},
            )  # fmt: skip
            return await self._changed(session, case.id, card)

    async def resume(
        self, case_id: int, actor: Actor, *, version: int | None = None, card: CardRef | None = None
    ) -> CaseView:
        async with self.db.transaction() as session:
            case = await _for_change(session, case_id, actor, version)
            if not case.paused:
                raise CaseRefused("not_paused")
            now = utcnow()
            await _store(
                session, case, paused=False, pause_reason=None, pause_note=None,
                touched_at=now, stage_since=now, reminded_stage_at=None, reminded_idle_at=None,
            )  # fmt: skip
            await record(
                session, actor, "case.resumed", "founding_case", case.id,
                before={"stage": case.stage, "paused": True, "reason": case.pause_reason},
                after={"stage": case.stage, "paused": False},
            )  # fmt: skip
            return await self._changed(session, case.id, card)

    async def note(
        self, case_id: int, actor: Actor, text: str, *, card: CardRef | None = None
    ) -> CaseView:
        """A note on the work (contacts made, what the enterprise said). Not conditional
        on the version: notes do not conflict."""
        text = short_text(text, NOTE_MAX, code="note")
        async with self.db.transaction() as session:
            case = await _for_change(session, case_id, actor, None)
            now = utcnow()
            recorded = dict(case.facts)
            recorded["notes"] = _with_note(case.facts, actor, text, now)
            await _store(session, case, facts=recorded, touched_at=now, reminded_idle_at=None)
            await record(
                session, actor, "case.noted", "founding_case", case.id,
                after={"stage": case.stage, "note": mask_numbers(text)},
            )  # fmt: skip
            return await self._changed(session, case.id, card)

    async def take_over(
        self, case_id: int, actor: Actor, *, version: int | None = None, card: CardRef | None = None
    ) -> CaseView:
        """The presser becomes the case's owner."""
        if actor.user_id is None:
            raise NotAllowed()
        async with self.db.transaction() as session:
            case = await _for_change(session, case_id, actor, version)
            if case.owner_user_id == actor.user_id:
                return await case_view(session, case.id)
            await _store(
                session, case, owner_user_id=actor.user_id, owner_name=actor.name,
                touched_at=utcnow(),
            )  # fmt: skip
            await record(
                session, actor, "case.owner", "founding_case", case.id,
                before={"owner": case.owner_name}, after={"owner": actor.name},
            )  # fmt: skip
            return await self._changed(session, case.id, card)

    # ------------------------------------------------------------------------ reminders

    async def send_reminders(
        self, now: datetime, *, idle: timedelta, preparing: timedelta
    ) -> Reminded:
        """Remind about open, unpaused cases: one preparing for `preparing` (once per
        spell in that stage), one without any change for `idle` (again after each further
        `idle`). Idle reminders go to the owner in private and to the federation group;
        the preparing reminder to the group. Each reminder is claimed by a conditional
        UPDATE, so it is sent once even if two processes run this at once. Reminders do
        not change the case's version: cards stay valid."""
        reminded = Reminded()
        async with self.db.read() as session:
            due = list(
                await session.execute(
                    select(CASES.c.id, CASES.c.stage, CASES.c.owner_user_id).where(
                        CASES.c.stage != "founded",
                        CASES.c.paused.is_(False),
                        or_(
                            and_(
                                CASES.c.stage == "preparing",
                                CASES.c.stage_since <= now - preparing,
                                CASES.c.reminded_stage_at.is_(None),
                            ),
                            and_(
                                CASES.c.touched_at <= now - idle,
                                or_(
                                    CASES.c.reminded_idle_at.is_(None),
                                    CASES.c.reminded_idle_at <= now - idle,
                                ),
                            ),
                        ),
                    )
                )
            )
        for case_id, stage, owner in due:
            async with self.db.transaction() as session:
                if stage == "preparing" and await _claim(
                    session, case_id, CASES.c.reminded_stage_at, now,
                    CASES.c.stage == "preparing", CASES.c.stage_since <= now - preparing,
                    CASES.c.reminded_stage_at.is_(None),
                ):  # fmt: skip
                    await self._remind(session, case_id, "preparing", None)
                    reminded.preparing += 1
                if await _claim(
                    session, case_id, CASES.c.reminded_idle_at, now,
                    CASES.c.touched_at <= now - idle,
                    or_(CASES.c.reminded_idle_at.is_(None), CASES.c.reminded_idle_at <= now - idle),
                ):  # fmt: skip
                    await self._remind(session, case_id, "idle", owner)
                    reminded.idle += 1
        return reminded

    async def _remind(
        self, session: AsyncSession, case_id: int, why: str, owner: int | None
    ) -> None:
        messages = []
        if self.federation_chat_id is not None:
            messages.append((self.federation_chat_id, "case_reminder", {"case_id": case_id,
                                                                        "why": why}))  # fmt: skip
        if owner is not None:
            messages.append((owner, "case_reminder", {"case_id": case_id, "why": why}))
        if messages:
            await outbox.enqueue_many(session, messages)

    # ------------------------------------------------------------------------ cards

    async def _post_card(self, session: AsyncSession, case_id: int, chat_id: int | None) -> None:
        chat = chat_id if chat_id is not None else self.federation_chat_id
        if chat is not None:
            await outbox.enqueue(session, chat, "case_card", case_id=case_id)

    async def _changed(
        self, session: AsyncSession, case_id: int, card: CardRef | None
    ) -> CaseView:
        """After a change: its cards are edited, and the case as it is now."""
        await refresh_cards(session, case_id, card, self.federation_chat_id)
        return await case_view(session, case_id)


@dataclass
class Reminded:
    preparing: int = 0
    idle: int = 0


# ---------------------------------------------------------------------------- helpers


async def refresh_cards(
    session: AsyncSession, case_id: int, card: CardRef | None, federation_chat_id: int | None
) -> None:
    """Edit the card that was pressed and the newest card in the federation group (a
    card not sent yet shows the case as it is when it goes out)."""
    targets = {(card.chat_id, card.message_id)} if card is not None else set()
    if federation_chat_id is not None:
        newest = await session.scalar(
            select(OutboxMessage.sent_message_id)
            .where(
                OutboxMessage.chat_id == federation_chat_id,
                OutboxMessage.kind == "case_card",
                OutboxMessage.payload["case_id"].as_integer() == case_id,
                OutboxMessage.sent_message_id.is_not(None),
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        if newest is not None:
            targets.add((federation_chat_id, newest))
    if targets:
        await outbox.enqueue_many(
            session,
            [
                (chat, "case_card_edit", {"case_id": case_id, "message_id": message})
                for chat, message in sorted(targets)
            ],
        )


async def _claim(
    session: AsyncSession, case_id: int, column: Any, now: datetime, *still_due: Any
) -> bool:
    """Mark a reminder sent, if it is still due (nobody touched the case or sent it)."""
    result = await session.execute(
        update(CASES)
        .where(CASES.c.id == case_id, CASES.c.paused.is_(False), *still_due)
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def open_case(
    session: AsyncSession,
    enterprise_id: int,
    owner: Actor,
    *,
    alert_id: int | None = None,
) -> tuple[int, bool]:
    """(the enterprise's case, whether it was opened now), in the caller's transaction:
    the alert's follow-up and the federation's own decision both come here, and the
    unique key keeps one case per enterprise when they race."""
    enterprise = await session.get(Enterprise, enterprise_id)
    if enterprise is None:
        raise NotFound("enterprise")
    if enterprise.merged_into_id is not None or enterprise.status != "active":
        raise CaseRefused("inactive", into=enterprise.merged_into_id)
    existing = await session.scalar(
        select(FoundingCase.id).where(FoundingCase.enterprise_id == enterprise_id)
    )
    if existing is not None:
        return existing, False
    if enterprise.has_union:
        raise CaseRefused("has_union")
    now = utcnow()
    inserted = await session.scalar(
        dialect_insert(session)(CASES)
        .values(
            enterprise_id=enterprise_id, stage="following", paused=False,
            owner_user_id=owner.user_id, owner_name=owner.name if owner.user_id else None,
            alert_id=alert_id, facts={}, opened_at=now, stage_since=now, touched_at=now,
            version=1,
        )
        .on_conflict_do_nothing()
        .returning(CASES.c.id)
    )  # fmt: skip
    if inserted is None:
        existing = await session.scalar(
            select(FoundingCase.id).where(FoundingCase.enterprise_id == enterprise_id)
        )
        return existing, False
    await record(
        session, owner, "case.opened", "founding_case", inserted,
        after={"enterprise_id": enterprise_id, "alert_id": alert_id,
               "members": enterprise.member_count},
    )  # fmt: skip
    return inserted, True


async def _for_change(
    session: AsyncSession, case_id: int, actor: Actor, version: int | None
) -> FoundingCase:
    await require_federation(session, actor)
    case = await session.get(FoundingCase, case_id)
    if case is None:
        raise NotFound("case")
    if version is not None and case.version != version:
        raise CaseChanged(await case_view(session, case_id))
    return case


async def _store(session: AsyncSession, case: FoundingCase, **values: Any) -> None:
    """Write only if the case is still at the version read: of two changes at once, the
    second changes nothing and is told what the first did."""
    result = await session.execute(
        update(CASES)
        .where(CASES.c.id == case.id, CASES.c.version == case.version)
        .values(version=case.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CaseChanged(await case_view(session, case.id))


def _check_date_order(case: FoundingCase, facts: StageFacts) -> None:
    """A stage's date is not before the date of the stage before it."""
    latest: date | None = None
    for stage in CASE_STAGES[1:]:
        recorded = case.facts.get(stage)
        if recorded and recorded.get("date"):
            latest = max(latest or date.min, date.fromisoformat(recorded["date"]))
    if latest is not None and fact_date(facts) < latest:
        raise CaseRefused("date_order", latest=latest)


async def _found(session: AsyncSession, case: FoundingCase, facts: Founded) -> None:
    """The enterprise union exists: a union organisation of the bot, and the enterprise
    has a union from now on (no founding alert, workers are sent there)."""
    taken = await session.scalar(select(UnionOrg.id).where(UnionOrg.uscc == facts.uscc))
    if taken is not None:
        raise CaseRefused("uscc_taken")
    enterprise = await session.get_one(Enterprise, case.enterprise_id)
    session.add(
        UnionOrg(
            kind="enterprise",
            name=facts.name,
            street_id=enterprise.street_id,
            enterprise_id=enterprise.id,
            uscc=facts.uscc,
            founded_on=facts.founded_on,
            contact=facts.contact,
        )
    )
    try:
        await session.flush()
    except IntegrityError:  # taken by a union founded at this moment: all is rolled back
        raise CaseRefused("uscc_taken") from None
    await session.execute(
        update(Enterprise.__table__)
        .where(Enterprise.__table__.c.id == enterprise.id)
        .values(
            has_union=True, union_name=facts.name, union_contact=facts.contact,
            updated_at=utcnow(),
        )
    )  # fmt: skip
    Database.flag(session, ENTERPRISES_TOPIC)
    Database.flag(session, ORG_TOPIC)


def _with_note(
    facts: dict[str, Any], actor: Actor, text: str, now: datetime
) -> list[dict[str, Any]]:
    return [*facts.get("notes", []), {"at": now.isoformat(), "by": actor.name, "text": text}]


def _audited(facts: StageFacts) -> dict[str, Any]:
    return _masked(facts.record())


def _masked(recorded: dict[str, Any]) -> dict[str, Any]:
    """The audit log never holds a mobile number: a contact's is masked."""
    return {k: mask_numbers(v) if isinstance(v, str) else v for k, v in recorded.items()}


async def case_view(session: AsyncSession, case_id: int) -> CaseView:
    row = (
        await session.execute(
            select(FoundingCase, Enterprise)
            .join(Enterprise, Enterprise.id == FoundingCase.enterprise_id)
            .where(FoundingCase.id == case_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound("case")
    case, enterprise = row
    transfer = await _transfer_progress(session, case.id, enterprise.id)
    return CaseView(
        id=case.id,
        enterprise_id=enterprise.id,
        enterprise=enterprise.name,
        uscc=enterprise.uscc,
        member_count=enterprise.member_count,
        stage=case.stage,
        paused=case.paused,
        pause_reason=case.pause_reason,
        pause_note=case.pause_note,
        owner_user_id=case.owner_user_id,
        owner_name=case.owner_name,
        facts=dict(case.facts or {}),
        opened_at=case.opened_at,
        stage_since=case.stage_since,
        touched_at=case.touched_at,
        version=case.version,
        **transfer,
    )


async def _transfer_progress(
    session: AsyncSession, case_id: int, enterprise_id: int
) -> dict[str, Any]:
    union_id = await enterprise_union(session, enterprise_id)
    if union_id is None:
        return {}
    transfer = (
        await session.execute(
            select(MembershipTransfer.status, MembershipTransfer.moved).where(
                MembershipTransfer.to_union_id == union_id
            )
        )
    ).first()
    elsewhere = await session.scalar(
        select(func.count(Member.id)).where(
            Member.enterprise_id == enterprise_id,
            Member.status == "active",
            Member.kept_since.is_(None),
            Member.union_org_id != union_id,
        )
    )
    return {
        "transfer_status": transfer.status if transfer else None,
        "transferred": transfer.moved if transfer else 0,
        "to_transfer": int(elsewhere or 0),
    }


def overdue(case: CaseView, now: datetime, *, idle: timedelta, preparing: timedelta) -> bool:
    """Either reminder is due (for the case list's marker)."""
    if not case.open or case.paused:
        return False
    late = case.stage == "preparing" and now - case.stage_since >= preparing
    return late or now - case.touched_at >= idle
