"""Aliases learned from people, under staff control.

When street staff correct a worker's employer on a review card, or federation staff
merge a provisional enterprise (a name some worker typed) into another, what the worker
typed is what workers call that enterprise. It becomes a proposal in the federation
group; federation staff accept it (an EnterpriseAlias the matchers use from then on) or
refuse it (kept, so that the same name is never proposed for that enterprise again).
A worker's own pick never teaches anything: workers pick wrong buttons too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database, dialect_insert
from bot.matching import find_uscc
from bot.pii import mask_numbers
from bot.services import outbox
from bot.services.audit import Actor, record
from bot.services.enterprises import (
    ALIAS_MAX,
    ENTERPRISES,
    MATCHABLE,
    AliasRefused,
    alias_key,
    alias_owners,
    resolve,
    store_aliases,
)
from bot.services.errors import DomainError, NotFound
from bot.services.roles import require_federation
from models import AliasProposal, Enterprise
from models.base import utcnow

log = logging.getLogger(__name__)

PROPOSALS = AliasProposal.__table__
PENDING_SHOWN = 10


@dataclass(frozen=True)
class ProposalView:
    id: int
    enterprise_id: int
    enterprise_name: str
    alias: str
    status: str  # proposed | accepted | refused
    origin: str  # employer_change | merge
    origin_ref: str  # the application number, or the merged enterprise's id
    proposed_at: datetime
    proposed_by: str
    decided_at: datetime | None
    decided_by: str | None


@dataclass
class ProposalDecided(DomainError):
    """Someone decided the proposal first."""

    status: str
    by: str
    at: datetime

    def __str__(self) -> str:
        return f"already {self.status} by {self.by} at {self.at:%Y-%m-%d %H:%M} UTC"


def learnable(typed: str | None, branch: str | None = None) -> str | None:
    """The name a worker's text teaches: without the branch they named after it (盒马鲜生
    of 盒马鲜生望京店), one space between words. None when nothing is left, when it is too
    long for an alias, when it is a USCC, or when it holds a long number (a phone or id
    number is never anyone's employer, and never shown to the federation as one)."""
    text = " ".join((typed or "").split())
    if branch and text.endswith(branch) and len(text) > len(branch):
        text = text[: -len(branch)].strip()
    if not text or len(text) > ALIAS_MAX or mask_numbers(text) != text:
        return None
    if any(find_uscc(text)):  # a code finds its enterprise by itself
        return None
    return text if alias_key(text) else None


async def propose(
    session: AsyncSession,
    enterprise_id: int,
    typed: str | None,
    *,
    origin: str,
    origin_ref: str,
    actor: Actor,
    federation_chat_id: int | None,
    branch: str | None = None,
) -> int | None:
    """In the transaction of a staff correction: propose what the worker typed as an alias
    of the enterprise staff chose. The new proposal's id, or None when there is nothing
    to learn: the text is the enterprise's own name, it already finds the enterprise or
    another one (an alias, or the name of an enterprise offered to workers), or it was
    proposed for this enterprise before (accepted or refused). Two corrections at once
    propose it once (the unique key, ON CONFLICT DO NOTHING)."""
    alias = learnable(typed, branch)
    if alias is None:
        return None
    key = alias_key(alias)
    target = await session.get_one(Enterprise, enterprise_id)
    if key == target.name_key or await _known(session, key):
        return None
    proposal_id = await session.scalar(
        dialect_insert(session)(PROPOSALS)
        .values(
            enterprise_id=enterprise_id, alias=alias, alias_key=key, status="proposed",
            origin=origin, origin_ref=origin_ref, proposed_at=utcnow(),
            proposed_by_name=actor.name,
        )
        .on_conflict_do_nothing()
        .returning(PROPOSALS.c.id)
    )  # fmt: skip
    if proposal_id is None:
        return None
    await record(
        session, actor, "alias.proposed", "enterprise", enterprise_id,
        after={"proposal": proposal_id, "alias": alias, "origin": origin, "ref": origin_ref},
    )  # fmt: skip
    if federation_chat_id is None:
        log.warning("alias proposal %s made but no federation chat is configured", proposal_id)
    else:
        await outbox.enqueue(session, federation_chat_id, "alias_proposal", proposal_id=proposal_id)
    return int(proposal_id)


async def _known(session: AsyncSession, key: str) -> bool:
    """Whether the key already finds an enterprise a worker can be offered: an alias of an
    active, unmerged one, or the name of one that is registered or confirmed."""
    if await alias_owners(session, [key]):
        return True
    name = select(ENTERPRISES.c.id).where(
        ENTERPRISES.c.name_key == key,
        *MATCHABLE,
        or_(ENTERPRISES.c.provisional.is_(False), ENTERPRISES.c.confirmed_at.is_not(None)),
    )
    return bool(await session.scalar(select(exists(name))))


class AliasProposalService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def pending(self, limit: int = PENDING_SHOWN) -> tuple[list[ProposalView], int]:
        """The oldest proposals waiting for a decision, and how many wait in all."""
        async with self.db.read() as session:
            waiting = PROPOSALS.c.status == "proposed"
            total = await session.scalar(select(func.count()).select_from(PROPOSALS).where(waiting))
            rows = await session.scalars(
                select(AliasProposal).where(waiting).order_by(AliasProposal.id).limit(limit)
            )
            return [await _view(session, row) for row in rows], int(total or 0)

    async def get(self, proposal_id: int) -> ProposalView:
        async with self.db.read() as session:
            return await proposal_view(session, proposal_id)

    async def check(self, proposal_id: int, actor: Actor) -> None:
        """Raise what `decide` would raise before acting (NotAllowed, NotFound,
        ProposalDecided), changing nothing: for presses that must not act."""
        async with self.db.read() as session:
            await require_federation(session, actor)
            proposal = await session.get(AliasProposal, proposal_id)
            if proposal is None:
                raise NotFound(f"no alias proposal #{proposal_id}")
            _raise_if_decided(proposal)

    async def decide(
        self,
        proposal_id: int,
        accept: bool,
        actor: Actor,
        card: outbox.CardRef | None = None,
    ) -> ProposalView:
        """Federation staff accept the proposal (the enterprise, or the one it was merged
        into since, gets the alias) or refuse it. The proposal's message, when given, is
        edited through the outbox to show the decision. The first of two decisions at once
        wins; the other gets ProposalDecided. An alias another enterprise has meanwhile is
        refused (AliasRefused "taken") and the proposal stays open."""
        async with self.db.transaction() as session:
            await require_federation(session, actor)
            proposal = await session.get(AliasProposal, proposal_id)
            if proposal is None:
                raise NotFound(f"no alias proposal #{proposal_id}")
            status = "accepted" if accept else "refused"
            now = utcnow()
            claimed = await session.execute(
                update(PROPOSALS)
                .where(PROPOSALS.c.id == proposal_id, PROPOSALS.c.status == "proposed")
                .values(
                    status=status, decided_at=now, decided_by_user_id=actor.user_id,
                    decided_by_name=actor.name,
                )
                .execution_options(synchronize_session=False)
            )  # fmt: skip
            await session.refresh(proposal)
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                _raise_if_decided(proposal)
            enterprise = await resolve(
                session, await session.get_one(Enterprise, proposal.enterprise_id)
            )
            if accept:
                try:
                    await store_aliases(
                        session, enterprise.id, [(proposal.alias, proposal.alias_key)],
                        "learned", actor.name,
                    )  # fmt: skip
                except AliasRefused as error:
                    if error.reason != "duplicate":  # staff added it by hand meanwhile
                        raise
            await record(
                session, actor, f"alias.{status}", "enterprise", enterprise.id,
                after={"proposal": proposal_id, "alias": proposal.alias},
            )  # fmt: skip
            if card is not None:
                await outbox.enqueue(
                    session, card.chat_id, "alias_proposal_edit",
                    proposal_id=proposal_id, message_id=card.message_id,
                )  # fmt: skip
            return await _view(session, proposal)


def _raise_if_decided(proposal: AliasProposal) -> None:
    if proposal.status != "proposed":
        raise ProposalDecided(
            proposal.status, proposal.decided_by_name or "?", proposal.decided_at or utcnow()
        )


async def proposal_view(session: AsyncSession, proposal_id: int) -> ProposalView:
    proposal = await session.get(AliasProposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no alias proposal #{proposal_id}")
    return await _view(session, proposal)


async def _view(session: AsyncSession, proposal: AliasProposal) -> ProposalView:
    enterprise = await resolve(session, await session.get_one(Enterprise, proposal.enterprise_id))
    return ProposalView(
        id=proposal.id,
        enterprise_id=enterprise.id,
        enterprise_name=enterprise.name,
        alias=proposal.alias,
        status=proposal.status,
        origin=proposal.origin,
        origin_ref=proposal.origin_ref,
        proposed_at=proposal.proposed_at,
        proposed_by=proposal.proposed_by_name,
        decided_at=proposal.decided_at,
        decided_by=proposal.decided_by_name,
    )
