"""Membership transfer (会籍接转) on a real database: every active member of the founded
enterprise moves to its union, each with one membership event and one notice, in batches
that resume; approvals, deletions and merges running at the same moment miss nobody and
move nobody twice (invariants 10 and 11)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseService
from bot.services.founding import FoundingService
from bot.services.job_changes import JobChangeService
from bot.services.membership import MembershipService, TransferRefused
from bot.services.privacy import PrivacyService
from bot.services.rosters import roster
from models import (
    Application,
    AuditEntry,
    Enterprise,
    Member,
    MembershipEvent,
    OutboxMessage,
    UnionOrg,
)
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft
from tests.engines import Store
from tests.test_cli import write_config
from tests.test_founding import APPROVED, ASSEMBLY, FOUNDED, PREPARING

FEDERATION = Actor(901, "联合会")
REVIEWERS = (Actor(501, "审核员501"), Actor(502, "审核员502"), Actor(503, "审核员503"))
COMPANY = "北京字节跳动科技有限公司"


@pytest.fixture
def founding(world: World) -> FoundingService:
    return FoundingService(world.db, federation_chat_id=FEDERATION_CHAT)


@pytest.fixture
def membership(world: World) -> MembershipService:
    return MembershipService(world.db, federation_chat_id=FEDERATION_CHAT)


async def _submit(world: World, seq: int, employer: str = COMPANY) -> int:
    submitted = await world.intake.submit(4000 + seq, make_draft(world, seq, employer))
    async with world.db.read() as session:
        return await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )


async def _members(world: World, people: range, employer: str = COMPANY) -> None:
    for seq in people:
        await world.review.approve(await _submit(world, seq, employer), REVIEWERS[0], None)


async def _founded(world: World, founding: FoundingService) -> int:
    """The enterprise's case, founded; the enterprise union's id."""
    async with world.db.read() as session:
        enterprise = await session.scalar(select(Enterprise.id).where(Enterprise.name == COMPANY))
    case = await founding.open(enterprise, FEDERATION)
    for facts in (PREPARING, ASSEMBLY, APPROVED, FOUNDED):
        case = await founding.advance(case.id, FEDERATION, facts)
    async with world.db.read() as session:
        return await session.scalar(select(UnionOrg.id).where(UnionOrg.kind == "enterprise"))


async def _state(world: World) -> tuple[dict[int, tuple[int, str]], Counter[int], Counter[int]]:
    """(member id → (union, status)) for the company, events per member, notices per
    member."""
    async with world.db.read() as session:
        enterprise = await session.scalar(select(Enterprise.id).where(Enterprise.name == COMPANY))
        members = {
            m.id: (m.union_org_id, m.status)
            for m in await session.scalars(select(Member).where(Member.enterprise_id == enterprise))
        }
        events = Counter(
            await session.scalars(
                select(MembershipEvent.member_id).where(
                    MembershipEvent.reason == "enterprise_union"
                )
            )
        )
        notices = Counter(
            int(payload["member_id"])
            for payload in await session.scalars(
                select(OutboxMessage.payload).where(OutboxMessage.kind == "membership_moved")
            )
        )
    return members, events, notices


async def test_every_member_moves_once_with_an_event_and_a_notice(
    world: World, founding: FoundingService, membership: MembershipService
) -> None:
    await _members(world, range(THRESHOLD + 5))
    union_id = await _founded(world, founding)
    async with world.db.read() as session:
        joint = await session.scalar(select(UnionOrg.id).where(UnionOrg.kind == "joint"))
    started = await membership.start_transfer(1, FEDERATION)
    again = await membership.start_transfer(1, FEDERATION)
    assert started.id == again.id and started.remaining == THRESHOLD + 5
    done = await membership.run(started.id)
    assert (done.status, done.moved, done.remaining) == ("done", THRESHOLD + 5, 0)
    members, events, notices = await _state(world)
    assert {union for union, _ in members.values()} == {union_id}
    assert events == Counter(dict.fromkeys(members, 1))
    assert notices == Counter(dict.fromkeys(members, 1))
    async with world.db.read() as session:
        event = await session.scalar(select(MembershipEvent).limit(1))
        cards = await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.kind == "member_card",
                OutboxMessage.created_at >= started.started_at,
            )
        )
        finished = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "membership.transferred")
        )
        report = await session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "transfer_done")
        )
    assert (event.from_union_id, event.to_union_id, event.reason, event.actor_name) == (
        joint, union_id, "enterprise_union", "联合会",
    )  # fmt: skip
    assert cards == THRESHOLD + 5  # a new card naming the new union, once each
    assert finished.after["moved"] == THRESHOLD + 5 and report == 1
    # Running it again moves and tells nobody.
    assert await membership.run_batch(started.id) == 0
    assert (await _state(world))[2] == notices


async def test_the_transfer_resumes_batch_by_batch(
    world: World, founding: FoundingService, membership: MembershipService
) -> None:
    await _members(world, range(23))
    await _founded(world, founding)
    started = await membership.start_transfer(1, FEDERATION)
    assert await membership.run_batch(started.id, size=10) == 10
    # A restart here: the transfer is still running and goes on where it stopped.
    fresh = MembershipService(world.db, federation_chat_id=FEDERATION_CHAT)
    assert await fresh.running() == [started.id]
    assert (await fresh.get(started.id)).remaining == 13
    assert await fresh.run_batch(started.id, size=10) == 10
    assert await fresh.run_batch(started.id, size=10) == 3
    assert await fresh.run_batch(started.id, size=10) == 0
    assert await fresh.running() == []
    _members_now, events, notices = await _state(world)
    assert sum(events.values()) == 23 and set(notices.values()) == {1}


async def test_new_members_after_the_founding_join_the_enterprise_union(
    world: World, founding: FoundingService, membership: MembershipService
) -> None:
    await _members(world, range(3))
    union_id = await _founded(world, founding)
    await _members(world, range(3, 5))
    members, events, _ = await _state(world)
    newest = sorted(members)[-2:]
    assert [members[m][0] for m in newest] == [union_id, union_id]
    assert not any(events[m] for m in newest)  # joined there: no move


async def test_workers_of_other_enterprises_still_join_the_joint_union(
    world: World, founding: FoundingService
) -> None:
    """An application submitted before the founding (so not yet for the new union) is
    approved into the union of its own enterprise: the founded one for its workers, the
    street's joint union for everyone else's. (SQLite once took any founded union.)"""
    await _members(world, range(3))
    ours, theirs = await _submit(world, 3), await _submit(world, 4, "北京另一家餐饮有限公司")
    union_id = await _founded(world, founding)
    for application in (ours, theirs):
        await world.review.approve(application, REVIEWERS[0], None)
    async with world.db.read() as session:
        unions = dict(
            (await session.execute(
                select(Member.application_id, UnionOrg.kind)
                .join(UnionOrg, UnionOrg.id == Member.union_org_id)
                .where(Member.application_id.in_((ours, theirs)))
            )).all()
        )  # fmt: skip
        joined = await session.scalar(select(Member.union_org_id).where(
            Member.application_id == ours))  # fmt: skip
    assert unions == {ours: "enterprise", theirs: "joint"}
    assert joined == union_id


async def test_approvals_deletions_and_a_merge_during_the_transfer(
    world: World,
    founding: FoundingService,
    membership: MembershipService,
    privacy: PrivacyService,
) -> None:
    """Invariants 10 and 11 under concurrency: the transfer in small batches while three
    reviewers approve, two members delete their data, one member's new job is accepted,
    and a provisional enterprise with its own members is merged in. Afterwards every
    active member of the enterprise is in its union, each moved member has exactly one
    event and one notice, nobody else has any, and a member who ended was moved whole or
    not at all."""
    await _members(world, range(40))
    waiting = [await _submit(world, seq) for seq in range(40, 52)]
    await _members(world, range(60, 66), employer="字节跳动德胜门店")  # provisional
    union_id = await _founded(world, founding)
    async with world.db.read() as session:
        target = await session.scalar(select(Enterprise.id).where(Enterprise.name == COMPANY))
        source = await session.scalar(
            select(Enterprise.id).where(Enterprise.name == "字节跳动德胜门店")
        )
    registry = EnterpriseService(world.db, threshold=THRESHOLD, federation_chat_id=None)
    jobs = JobChangeService(world.db, threshold=THRESHOLD, federation_chat_id=None)
    leaving = await jobs.request(4000 + 30, "北京德胜数码科技有限公司")
    started = await membership.start_transfer(1, FEDERATION)

    async def transfer() -> None:
        for _ in range(100):  # batches of 5, interleaved with the others
            if not await membership.run_batch(started.id, size=5):
                return

    async def approvals() -> None:
        for i, app_id in enumerate(waiting):
            await world.review.approve(app_id, REVIEWERS[i % 3], None)

    async def deletions() -> None:
        for seq in (3, 17):
            await privacy.delete(4000 + seq, Actor(4000 + seq, "data subject"))

    async def merge() -> None:
        await asyncio.sleep(0.01)
        await registry.merge(source, target, FEDERATION)

    async def new_job() -> None:
        await jobs.decide(leaving.id, REVIEWERS[1], accept=True)

    await asyncio.gather(transfer(), approvals(), deletions(), merge(), new_job())
    await membership.run(started.id)  # the merge reopened it if it had finished

    members, events, notices = await _state(world)
    active = {m for m, (_, status) in members.items() if status == "active"}
    assert len(active) == 40 + 12 + 6 - 2 - 1  # one left for a new job
    assert all(members[m][0] == union_id for m in active)
    assert set(events.values()) <= {1} and notices == events
    # Whoever ended their membership was moved (while still active) or not at all: the
    # union on the row and the events agree.
    ended = {m for m, (_, status) in members.items() if status == "ended"}
    assert len(ended) == 2
    assert all((members[m][0] == union_id) == (events[m] == 1) for m in ended)
    # Who joined straight into the union has no event; everyone else moved once.
    async with world.db.read() as session:
        joint = await session.scalar(select(UnionOrg.id).where(UnionOrg.kind == "joint"))
        moved = set(
            await session.scalars(
                select(MembershipEvent.member_id).where(
                    MembershipEvent.from_union_id == joint,
                    MembershipEvent.reason == "enterprise_union",
                )
            )
        )
    assert moved == set(events)
    async with world.db.read() as session:  # the one who left is in the new street's union
        leaver = await session.scalar(select(Member).where(Member.telegram_user_id == 4030))
        job_events = list(
            await session.scalars(
                select(MembershipEvent.reason).where(MembershipEvent.member_id == leaver.id)
            )
        )
    assert leaver.union_org_id == joint and job_events[-1] == "job_change"


async def test_a_merge_after_the_transfer_reopens_it(
    world: World, founding: FoundingService, membership: MembershipService
) -> None:
    await _members(world, range(5))
    await _members(world, range(10, 13), employer="字节跳动德胜门店")
    union_id = await _founded(world, founding)
    started = await membership.start_transfer(1, FEDERATION)
    await membership.run(started.id)
    async with world.db.read() as session:
        target = await session.scalar(select(Enterprise.id).where(Enterprise.name == COMPANY))
        source = await session.scalar(
            select(Enterprise.id).where(Enterprise.name == "字节跳动德胜门店")
        )
    registry = EnterpriseService(world.db, threshold=THRESHOLD, federation_chat_id=None)
    await registry.merge(source, target, FEDERATION)
    assert await membership.running() == [started.id]
    done = await membership.run(started.id)
    assert done.moved == 8
    members, events, _ = await _state(world)
    assert {union for union, _ in members.values()} == {union_id} and len(events) == 8


async def test_membership_events_cannot_be_rewritten(
    world: World, founding: FoundingService, membership: MembershipService, store: Store
) -> None:
    await _members(world, range(2))
    await _founded(world, founding)
    await membership.run((await membership.start_transfer(1, FEDERATION)).id)
    rows = store.sql("SELECT id, reason FROM membership_event ORDER BY id")
    assert len(rows) == 2
    attempts = [
        "UPDATE membership_event SET reason = 'tampered'",
        "DELETE FROM membership_event",
    ] + ([] if store.is_sqlite else ["TRUNCATE membership_event"])
    for statement in attempts:
        with pytest.raises(Exception, match="append-only"):
            store.sql(statement)
    assert store.sql("SELECT id, reason FROM membership_event ORDER BY id") == rows


async def test_cards_and_rosters_after_the_transfer(
    world: World, founding: FoundingService, membership: MembershipService
) -> None:
    await _members(world, range(3))
    union_id = await _founded(world, founding)
    await membership.run((await membership.start_transfer(1, FEDERATION)).id)
    async with world.db.read() as session:
        member_id = await session.scalar(select(Member.id).order_by(Member.id).limit(1))
    facts = await world.cards.facts(member_id)
    assert facts is not None and facts.union_name == FOUNDED.name
    assert facts.moved_from == "德胜街道工会联合会" and facts.moved_at is not None
    name, rows = await roster(world.db, world.cipher, union_id)
    assert name == FOUNDED.name and len(rows) == 3
    assert all("*" in row.resident_id and row.moved_in is not None for row in rows)
    _, full = await roster(world.db, world.cipher, union_id, full_ids=True, actor=FEDERATION)
    assert all("*" not in row.resident_id and len(row.resident_id) == 18 for row in full)
    async with world.db.read() as session:
        audited = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "roster.full_ids")
        )
    assert audited.actor_name == "联合会" and audited.after == {"members": 3}
    with pytest.raises(ValueError):
        await roster(world.db, world.cipher, union_id, full_ids=True)


async def test_only_a_founded_case_transfers(
    world: World, founding: FoundingService, membership: MembershipService
) -> None:
    await _members(world, range(2))
    async with world.db.read() as session:
        enterprise = await session.scalar(select(Enterprise.id))
    case = await founding.open(enterprise, FEDERATION)
    with pytest.raises(TransferRefused):
        await membership.start_transfer(case.id, FEDERATION)


async def test_members_a_past_bug_put_in_another_union_are_found_and_moved(
    world: World, founding: FoundingService, membership: MembershipService, store: Store,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """What SQLite approvals did before 45660ec, written by hand: a worker of another
    enterprise registered in the founded union. Members moved there by the transfer are
    where they belong."""
    await _members(world, range(3))
    union_id = await _founded(world, founding)
    transfer = await membership.start_transfer(1, FEDERATION)  # the only case
    await membership.run(transfer.id)
    await _members(world, range(3, 5), "北京另一家餐饮有限公司")
    async with world.db.transaction() as session:
        other = list(await session.scalars(
            select(Member).join(Enterprise, Enterprise.id == Member.enterprise_id)
            .where(Enterprise.name == "北京另一家餐饮有限公司").order_by(Member.id)
        ))  # fmt: skip
        other[0].union_org_id = union_id  # the bug's doing
        joint = other[1].union_org_id
        union_name = (await session.get_one(UnionOrg, union_id)).name
    config = str(write_config(tmp_path, database_url=store.url))

    def unionbot(*args: str) -> tuple[int, str]:
        code = main(["--config", config, "unions", "check", *args])
        return code, capsys.readouterr().out

    code, out = await asyncio.to_thread(unionbot)
    assert code == 1 and out.splitlines()[:2] == [
        "1 members are in another enterprise's union:",
        f"  {other[0].number} (enterprise #{other[0].enterprise_id}) in #{union_id} {union_name}",
    ]
    code, out = await asyncio.to_thread(unionbot, "--fix", "--yes")
    assert code == 0 and out.endswith(f"  {other[0].number} → union #{joint}\n1 members moved\n")
    async with world.db.read() as session:
        assert (await session.get_one(Member, other[0].id)).union_org_id == joint
        event = await session.scalar(
            select(MembershipEvent).where(MembershipEvent.member_id == other[0].id)
        )
        notices = await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.kind == "membership_moved",
                OutboxMessage.payload["member_id"].as_integer() == other[0].id,
            )
        )
    assert event is not None and (event.from_union_id, event.to_union_id, event.reason) == (
        union_id, joint, "correction"
    )  # fmt: skip
    assert notices == 1
    assert await asyncio.to_thread(unionbot) == (
        0, "every member is in their own enterprise's union or a joint union\n"
    )  # fmt: skip
