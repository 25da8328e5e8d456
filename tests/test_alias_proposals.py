"""Aliases learned from staff corrections: what a worker typed is proposed as an alias
when staff change the employer on a review card or merge a provisional enterprise, and
becomes one only when federation staff accept it. Both engines; the presses that two
people can make at once are made at once."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.enterprise_cli import ACTOR
from bot.services.alias_proposals import (
    AliasProposalService,
    ProposalDecided,
    learnable,
)
from bot.services.enterprises import AliasRefused, find_or_create
from bot.services.errors import NotAllowed, NotFound
from bot.services.outbox import CardRef
from bot.services.registry import import_registry
from models import AliasProposal, Application, AuditEntry, EnterpriseAlias, OutboxMessage
from tests import engines
from tests.conftest import FEDERATION_CHAT, World, make_draft
from tests.test_aliases import (
    HEADER,
    HEMA,
    HEMA_USCC,
    LUCKIN,
    LUCKIN_USCC,
    registry_row,
    stored,
)
from tests.test_cli import write_config
from tests.test_merge import FEDERATION, STAFF, add_registered, service
from tests.test_registry_import import write_csv


async def submit_typed(
    world: World, seq: int, typed: str, *, branch: str | None = None, picked: int | None = None
) -> int:
    """An application whose worker typed `typed` (and picked `picked`, if given)."""
    draft = dataclasses.replace(
        make_draft(world, seq, typed),
        employer_typed=typed,
        employer_branch=branch,
        enterprise_id=picked,
    )
    submitted = await world.intake.submit(20_000 + seq, draft)
    async with world.db.read() as session:
        return int(
            await session.scalar(
                select(Application.id).where(Application.number == submitted.number)
            )
        )


async def proposals(world: World) -> list[tuple[int, str, str]]:
    """(enterprise, alias, status) of every proposal, oldest first."""
    async with world.db.read() as session:
        rows = await session.execute(
            select(AliasProposal.enterprise_id, AliasProposal.alias, AliasProposal.status)
            .order_by(AliasProposal.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def proposal_id(world: World, alias: str) -> int:
    async with world.db.read() as session:
        return int(
            await session.scalar(select(AliasProposal.id).where(AliasProposal.alias == alias))
        )


async def count(world: World, query: object) -> int:
    async with world.db.read() as session:
        return int(await session.scalar(query) or 0)  # type: ignore[call-overload]


def messages(kind: str) -> object:
    return select(func.count(OutboxMessage.id)).where(
        OutboxMessage.kind == kind, OutboxMessage.chat_id == FEDERATION_CHAT
    )


def audits(action: str) -> object:
    return select(func.count(AuditEntry.id)).where(AuditEntry.action == action)


async def hema(world: World) -> int:
    return await add_registered(world, HEMA, HEMA_USCC)


async def luckin(world: World) -> int:
    return await add_registered(world, LUCKIN, LUCKIN_USCC)


# ---------------------------------------------------------------------------- proposing


def test_learnable_drops_the_branch_and_refuses_numbers_and_codes() -> None:
    assert learnable("盒马鲜生望京店", "望京店") == "盒马鲜生"
    assert learnable("  Luckin   Coffee ", None) == "Luckin Coffee"
    assert learnable("望京店", "望京店") == "望京店"  # nothing before it: kept whole
    assert learnable("盒马 13800138000", None) is None
    assert learnable(HEMA_USCC, None) is None
    assert learnable("（ ）", None) is None  # nothing to compare
    assert learnable("长" * 101, None) is None
    assert learnable(None, None) is None


async def test_a_correction_proposes_what_the_worker_typed(world: World) -> None:
    target = await hema(world)
    first = await submit_typed(world, 1, "盒马鲜生望京店", branch="望京店")
    enterprises = service(world)
    await enterprises.change_employer(first, target, STAFF, CardRef(-100500, 7))

    assert await proposals(world) == [(target, "盒马鲜生", "proposed")]
    assert await count(world, messages("alias_proposal")) == 1
    assert await count(world, audits("alias.proposed")) == 1
    # Not used before federation staff accept it.
    assert (await enterprises.suggest("盒马鲜生", None)).auto is None

    # The same correction again (another worker) proposes nothing new.
    second = await submit_typed(world, 2, "盒马鲜生", branch=None)
    await enterprises.change_employer(second, target, STAFF)
    assert len(await proposals(world)) == 1
    assert await count(world, messages("alias_proposal")) == 1


async def test_nothing_is_learned_from_names_and_known_words(world: World) -> None:
    target = await hema(world)
    enterprises = service(world)
    await enterprises.add_alias(await luckin(world), "瑞幸", FEDERATION)
    cases = [
        HEMA,  # the target's own name
        "北京盒马网络科技股份有限公司",  # the same name key
        "瑞幸",  # another enterprise's alias: the words already find that one
        LUCKIN,  # another enterprise's registered name
        HEMA_USCC,  # a code
    ]
    for seq, typed in enumerate(cases, start=10):
        application = await submit_typed(world, seq, typed)
        await enterprises.change_employer(application, target, STAFF)
    assert await proposals(world) == []

    # A worker's own pick teaches nothing: only staff corrections do.
    picked = await submit_typed(world, 30, "盒马超市", picked=target)
    await world.review.approve(picked, STAFF, None)
    assert await proposals(world) == []


async def test_old_applications_learn_only_from_a_typed_provisional_name(world: World) -> None:
    """Before the typed text was kept, employer_text is what the worker typed only when it
    made a provisional enterprise; a registered name they picked is not their words."""
    target = await hema(world)
    enterprises = service(world)
    typed_one = await submit_typed(world, 1, "盒马生鲜超市")
    picked_one = await submit_typed(world, 2, LUCKIN, picked=await luckin(world))
    async with world.db.transaction() as session:
        for application_id in (typed_one, picked_one):
            (await session.get_one(Application, application_id)).employer_typed = None
    await enterprises.change_employer(typed_one, target, STAFF)
    await enterprises.change_employer(picked_one, target, STAFF)
    assert await proposals(world) == [(target, "盒马生鲜超市", "proposed")]


async def test_merging_a_provisional_enterprise_proposes_its_name(world: World) -> None:
    target = await hema(world)
    enterprises = service(world)
    async with world.db.transaction() as session:
        typed = (await find_or_create(session, "盒马超市", world.street_id)).id
        registered_twice = (await find_or_create(session, "盒马网络", world.street_id)).id
    await enterprises.merge(typed, target, FEDERATION)
    assert await proposals(world) == [(target, "盒马超市", "proposed")]

    # A registered enterprise merged as a duplicate is not a worker's word for it.
    async with world.db.transaction() as session:
        from models import Enterprise

        (await session.get_one(Enterprise, registered_twice)).provisional = False
    await enterprises.merge(registered_twice, target, FEDERATION)
    assert len(await proposals(world)) == 1


# ---------------------------------------------------------------------------- deciding


async def test_accepting_makes_an_alias_that_finds_the_enterprise(world: World) -> None:
    target = await hema(world)
    enterprises, decisions = service(world), AliasProposalService(world.db)
    await enterprises.change_employer(await submit_typed(world, 1, "盒马鲜生"), target, STAFF)
    await enterprises.change_employer(await submit_typed(world, 2, "河马先生"), target, STAFF)
    waiting, total = await decisions.pending()
    assert total == 2 and [p.alias for p in waiting] == ["盒马鲜生", "河马先生"]

    with pytest.raises(NotAllowed):  # street staff correct; federation staff decide
        await decisions.decide(waiting[0].id, True, STAFF)
    accepted = await decisions.decide(waiting[0].id, True, FEDERATION, CardRef(FEDERATION_CHAT, 5))
    refused = await decisions.decide(waiting[1].id, False, FEDERATION)
    assert (accepted.status, accepted.decided_by) == ("accepted", FEDERATION.name)
    assert refused.status == "refused"

    assert await stored(world, HEMA_USCC) == [("盒马鲜生", "learned")]
    assert (await enterprises.suggest("盒马鲜生", None)).auto == target
    assert (await enterprises.suggest("河马先生", None)).auto is None
    assert await count(world, audits("alias.accepted")) == 1
    assert await count(world, audits("alias.refused")) == 1
    assert await count(world, messages("alias_proposal_edit")) == 1
    assert (await decisions.pending())[1] == 0

    with pytest.raises(ProposalDecided) as decided:
        await decisions.decide(waiting[1].id, True, FEDERATION)
    assert (decided.value.status, decided.value.by) == ("refused", FEDERATION.name)
    with pytest.raises(NotFound):
        await decisions.decide(999_999, True, FEDERATION)

    # A refused name is remembered: the same correction does not ask again.
    await enterprises.change_employer(await submit_typed(world, 3, "河马先生"), target, STAFF)
    assert len(await proposals(world)) == 2


async def test_a_learned_alias_survives_a_registry_reimport(world: World, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "registry.csv", HEADER, [registry_row(HEMA_USCC, HEMA, "盒马", "")], "utf-8"
    )
    await import_registry(world.db, path)
    target = (await service(world).get(HEMA_USCC)).id
    await service(world).change_employer(await submit_typed(world, 1, "盒马鲜生"), target, STAFF)
    decisions = AliasProposalService(world.db)
    await decisions.decide(await proposal_id(world, "盒马鲜生"), True, FEDERATION)

    await import_registry(world.db, path)
    assert await stored(world, HEMA_USCC) == [("盒马", "registry"), ("盒马鲜生", "learned")]


async def test_an_alias_taken_meanwhile_is_refused_and_the_proposal_stays(world: World) -> None:
    target = await hema(world)
    other = await luckin(world)
    enterprises, decisions = service(world), AliasProposalService(world.db)
    await enterprises.change_employer(await submit_typed(world, 1, "盒马鲜生"), target, STAFF)
    await enterprises.add_alias(other, "盒马鲜生", FEDERATION)  # whoever was right

    with pytest.raises(AliasRefused) as refused:
        await decisions.decide(await proposal_id(world, "盒马鲜生"), True, FEDERATION)
    assert refused.value.reason == "taken" and refused.value.other == (other, LUCKIN)
    assert await proposals(world) == [(target, "盒马鲜生", "proposed")]
    await decisions.decide(await proposal_id(world, "盒马鲜生"), False, FEDERATION)

    # Staff had added it by hand before accepting: accepting keeps the one alias.
    await enterprises.change_employer(await submit_typed(world, 2, "盒马网超"), target, STAFF)
    await enterprises.add_alias(target, "盒马网超", FEDERATION)
    await decisions.decide(await proposal_id(world, "盒马网超"), True, FEDERATION)
    assert await stored(world, HEMA_USCC) == [("盒马网超", "staff")]


async def test_a_proposal_follows_its_enterprise_into_a_merge(world: World) -> None:
    target = await hema(world)
    enterprises, decisions = service(world), AliasProposalService(world.db)
    async with world.db.transaction() as session:
        provisional = (await find_or_create(session, "盒马华北区", world.street_id)).id
    await enterprises.change_employer(await submit_typed(world, 1, "盒马鲜生"), provisional, STAFF)
    await enterprises.merge(provisional, target, FEDERATION)
    proposal = await decisions.decide(await proposal_id(world, "盒马鲜生"), True, FEDERATION)
    assert proposal.enterprise_id == target
    assert await stored(world, HEMA_USCC) == [("盒马鲜生", "learned")]


# ---------------------------------------------------------------------------- at once


async def test_two_corrections_at_once_propose_once(world: World) -> None:
    target = await hema(world)
    enterprises = service(world)
    applications = [await submit_typed(world, seq, "盒马鲜生") for seq in (1, 2)]
    await asyncio.gather(*(enterprises.change_employer(a, target, STAFF) for a in applications))
    assert await proposals(world) == [(target, "盒马鲜生", "proposed")]
    assert await count(world, messages("alias_proposal")) == 1


async def test_two_staff_deciding_one_proposal_at_once(world: World) -> None:
    """One accepts while the other refuses, at the same moment: exactly one decision
    stands, the other is told who decided, and the alias exists only if it was accepted."""
    target = await hema(world)
    await service(world).change_employer(await submit_typed(world, 1, "盒马鲜生"), target, STAFF)
    proposal = await proposal_id(world, "盒马鲜生")
    decisions = AliasProposalService(world.db)
    other = dataclasses.replace(FEDERATION, user_id=902, name="联合会902")
    async with world.db.transaction() as session:
        from models import Staff

        session.add(Staff(telegram_user_id=902, name="联合会902", role="federation"))
    results = await asyncio.gather(
        decisions.decide(proposal, True, FEDERATION),
        decisions.decide(proposal, False, other),
        return_exceptions=True,
    )
    lost = [r for r in results if isinstance(r, ProposalDecided)]
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(lost) == 1 and len(won) == 1, results
    accepted = won[0].status == "accepted"
    assert await count(world, select(func.count(EnterpriseAlias.id))) == int(accepted)
    decided = await count(world, audits("alias.accepted")) + await count(
        world, audits("alias.refused")
    )
    assert decided == 1


async def test_two_enterprises_given_one_alias_at_once(world: World) -> None:
    """The alias key is unique per enterprise only (a closed enterprise's alias is free);
    the check across enterprises must still hold when two staff add it at once."""
    enterprises = service(world)
    first, second = await hema(world), await luckin(world)
    for attempt in range(3):
        alias = f"便利店{attempt}号"
        results = await asyncio.gather(
            enterprises.add_alias(first, alias, FEDERATION),
            enterprises.add_alias(second, alias, FEDERATION),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, AliasRefused)]
        assert len(refused) == 1 and refused[0].reason == "taken", results
        key = select(func.count(EnterpriseAlias.id)).where(EnterpriseAlias.alias == alias)
        assert await count(world, key) == 1


# ---------------------------------------------------------------------------- command line


async def test_the_command_line_lists_accepts_and_refuses(
    world: World, store: engines.Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    target = await hema(world)
    enterprises = service(world)
    for seq, typed in enumerate(("盒马鲜生", "河马先生"), start=1):
        await enterprises.change_employer(await submit_typed(world, seq, typed), target, STAFF)
    config = write_config(tmp_path, database_url=store.url)

    async def unionbot(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(
            main, ["--config", str(config), "enterprises", "alias", *args]
        )
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _err = await unionbot("proposals")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "2 proposals waiting, the oldest 2:"
    first, second = await proposal_id(world, "盒马鲜生"), await proposal_id(world, "河马先生")
    assert lines[1].startswith(f"  #{first}\t盒马鲜生\t→ {target} {HEMA}\t(application ")
    assert await unionbot("accept", str(first)) == (
        0, f"#{first} 盒马鲜生: accepted as an alias of {target} {HEMA}\n", ""
    )  # fmt: skip
    assert (await unionbot("refuse", str(second)))[0] == 0
    code, out, err = await unionbot("accept", str(second))
    assert (code, out) == (2, "") and "already refused by" in err
    assert (await unionbot("accept", "999999"))[2].startswith("unionbot: no alias proposal")
    assert await unionbot("proposals") == (0, "0 proposals waiting\n", "")
    assert await stored(world, HEMA_USCC) == [("盒马鲜生", "learned")]
    async with world.db.read() as session:
        actors = list(
            await session.scalars(
                select(AuditEntry.actor_name).where(
                    AuditEntry.action.in_(("alias.accepted", "alias.refused"))
                )
            )
        )
    assert actors == [ACTOR.name, ACTOR.name]
