"""What two people (or two processes) can do at the same moment, on both engines.

Each "process" here is its own Database (its own connection pool and, on SQLite, its own
write queue), so the transactions really overlap on PostgreSQL and really contend for the
file on SQLite. These are the faults that a first run on PostgreSQL found.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select

from bot.db import Database
from bot.services import review as review_module
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseService
from bot.services.intake import IntakeService
from bot.services.privacy import PrivacyService
from bot.services.review import ReviewService
from models import Application, Enterprise, Member, ThresholdAlert, UnionOrg
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft
from tests.engines import Store

STAFF = Actor(501, "审核员501")
FEDERATION = Actor(901, "联合会")
PROCESSES = 4


class Process:
    """The services one bot process would have, on its own Database."""

    def __init__(self, world: World, url: str) -> None:
        self.db = Database(url)
        self.intake = IntakeService(self.db, world.cipher, world.intake.hasher)
        self.review = ReviewService(
            self.db, federation_chat_id=FEDERATION_CHAT, threshold=THRESHOLD
        )
        self.enterprises = EnterpriseService(
            self.db, threshold=THRESHOLD, federation_chat_id=FEDERATION_CHAT
        )
        self.privacy = PrivacyService(
            self.db,
            world.cipher,
            world.intake.hasher,
            threshold=THRESHOLD,
            federation_chat_id=FEDERATION_CHAT,
        )


@pytest.fixture
async def processes(world: World, store: Store) -> AsyncIterator[list[Process]]:
    made = [Process(world, store.url) for _ in range(PROCESSES)]
    yield made
    for process in made:
        await process.db.dispose()


async def app_id(world: World, number: str) -> int:
    async with world.db.read() as session:
        return int(await session.scalar(select(Application.id).where(Application.number == number)))


async def count(world: World, query: object) -> int:
    async with world.db.read() as session:
        return int(await session.scalar(query) or 0)  # type: ignore[call-overload]


async def real_count(world: World, enterprise_id: int) -> tuple[int, int]:
    """(stored member_count, distinct active members counted now)."""
    async with world.db.read() as session:
        stored = await session.scalar(
            select(Enterprise.member_count).where(Enterprise.id == enterprise_id)
        )
        actual = await session.scalar(
            select(func.count(func.distinct(Member.ric_hash))).where(
                Member.enterprise_id == enterprise_id, Member.status == "active"
            )
        )
    return int(stored or 0), int(actual or 0)


# --- numbers ------------------------------------------------------------------------------
async def test_twenty_simultaneous_first_submissions_of_a_day_all_get_numbers(
    world: World, processes: list[Process]
) -> None:
    drafts = [make_draft(world, seq) for seq in range(20)]
    results = await asyncio.gather(
        *(
            processes[i % PROCESSES].intake.submit(3000 + i, draft)
            for i, draft in enumerate(drafts)
        ),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], f"{len(failures)} of 20 first submissions failed: {failures[:3]}"
    numbers = sorted(r.number for r in results)  # type: ignore[union-attr]
    assert [n[-4:] for n in numbers] == [f"{i:04d}" for i in range(1, 21)]


async def test_simultaneous_first_approvals_of_a_year_get_distinct_member_numbers(
    world: World, processes: list[Process]
) -> None:
    ids = [
        await app_id(world, (await world.intake.submit(3100 + i, make_draft(world, i))).number)
        for i in range(12)
    ]
    staff = [Actor(501, "审核员501"), Actor(502, "审核员502"), Actor(503, "审核员503")]
    approvals = await asyncio.gather(
        *(
            processes[i % PROCESSES].review.approve(application, staff[i % 3], None)
            for i, application in enumerate(ids)
        ),
        return_exceptions=True,
    )
    failures = [a for a in approvals if isinstance(a, BaseException)]
    assert failures == []
    numbers = sorted(a.member_number for a in approvals)  # type: ignore[union-attr]
    assert [n[-5:] for n in numbers] == [f"{i:05d}" for i in range(1, 13)]


# --- the street's joint union -------------------------------------------------------------
async def test_a_rolled_back_first_approval_does_not_break_the_next_ones(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A street from before joint unions were made with the street: the first approval
    # makes it, and that approval fails after making it (and rolls back).
    async with world.db.transaction() as session:
        await session.execute(delete(UnionOrg))
    first, second = [
        await app_id(world, (await world.intake.submit(3200 + i, make_draft(world, i))).number)
        for i in range(2)
    ]
    real_alert = review_module.raise_threshold_alert

    async def fail_once(*args: object, **kwargs: object) -> bool:
        monkeypatch.setattr(review_module, "raise_threshold_alert", real_alert)
        raise RuntimeError("the process lost its database connection")

    monkeypatch.setattr(review_module, "raise_threshold_alert", fail_once)
    with pytest.raises(RuntimeError):
        await world.review.approve(first, STAFF, None)
    assert await count(world, select(func.count(UnionOrg.id))) == 0  # rolled back

    await world.review.approve(second, STAFF, None)  # the same ReviewService (its memo)
    await world.review.approve(first, STAFF, None)
    async with world.db.read() as session:
        unions = list(await session.scalars(select(UnionOrg.id)))
        used = set(await session.scalars(select(Member.union_org_id)))
    assert len(unions) == 1 and used == set(unions)


async def test_simultaneous_first_approvals_make_one_joint_union(
    world: World, processes: list[Process]
) -> None:
    async with world.db.transaction() as session:
        await session.execute(delete(UnionOrg))
    ids = [
        await app_id(world, (await world.intake.submit(3300 + i, make_draft(world, i))).number)
        for i in range(PROCESSES * 2)
    ]
    await asyncio.gather(
        *(
            processes[i % PROCESSES].review.approve(application, STAFF, None)
            for i, application in enumerate(ids)
        )
    )
    assert await count(world, select(func.count(UnionOrg.id))) == 1
    assert await count(world, select(func.count(func.distinct(Member.union_org_id)))) == 1


async def test_a_new_street_has_its_joint_union(world: World) -> None:
    await world.admin.add_street("XC", "新街口街道", Actor.cli("test"))
    async with world.db.read() as session:
        names = list(
            await session.scalars(
                select(UnionOrg.name).where(UnionOrg.kind == "joint").order_by(UnionOrg.id)
            )
        )
    assert names == ["德胜街道工会联合会", "新街口街道工会联合会"]


# --- one enterprise per employer ----------------------------------------------------------
async def test_simultaneous_first_workers_of_a_new_employer_share_one_enterprise(
    world: World, processes: list[Process]
) -> None:
    employer = "北京新雨科技有限公司"
    drafts = [make_draft(world, seq, employer) for seq in range(THRESHOLD)]
    results = await asyncio.gather(
        *(
            processes[i % PROCESSES].intake.submit(3400 + i, draft)
            for i, draft in enumerate(drafts)
        ),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    async with world.db.read() as session:
        enterprises = list(await session.scalars(select(Enterprise.id)))
        used = set(await session.scalars(select(Application.enterprise_id)))
    assert len(enterprises) == 1, f"{len(enterprises)} enterprises for one employer"
    assert used == set(enterprises)

    for result in results:
        await world.review.approve(await app_id(world, result.number), STAFF, None)  # type: ignore[union-attr]
    assert await real_count(world, enterprises[0]) == (THRESHOLD, THRESHOLD)
    assert await count(world, select(func.count(ThresholdAlert.id))) == 1


# --- counts, deletions and merges ---------------------------------------------------------
async def test_counts_stay_exact_when_approvals_race_deletions(
    world: World, processes: list[Process]
) -> None:
    employer = "北京德胜数码科技有限公司"
    seq = 0

    async def submit(user_id: int) -> int:
        nonlocal seq
        seq += 1
        submitted = await world.intake.submit(user_id, make_draft(world, seq, employer))
        return await app_id(world, submitted.number)

    for round_ in range(4):
        members = [3500 + round_ * 100 + i for i in range(6)]
        for user_id in members:
            await world.review.approve(await submit(user_id), STAFF, None)
        pending = [await submit(3550 + round_ * 100 + i) for i in range(6)]
        enterprise = await count(world, select(Enterprise.id))

        async def delete_member(i: int, user_id: int) -> object:
            return await processes[i % PROCESSES].privacy.delete(user_id, Actor(user_id, "本人"))

        async def approve(i: int, application: int) -> object:
            return await processes[(i + 1) % PROCESSES].review.approve(application, STAFF, None)

        work = [delete_member(i, u) for i, u in enumerate(members)]
        work += [approve(i, a) for i, a in enumerate(pending)]
        results = await asyncio.gather(*work, return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        stored, actual = await real_count(world, enterprise)
        assert stored == actual, f"round {round_}: count {stored}, {actual} members are real"
        assert actual == 6 * (round_ + 1)


def pause_once(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> tuple:
    """Make the next call of module.name stop until `gate` is set; `inside` tells that a
    transaction got there (holding whatever it holds at that point)."""
    real = getattr(module, name)
    inside, gate = asyncio.Event(), asyncio.Event()

    async def paused(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(module, name, real)
        inside.set()
        await gate.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, name, paused)
    return inside, gate


async def test_a_deletion_waiting_for_an_approval_counts_its_new_member(
    world: World, processes: list[Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    employer = "北京德胜数码科技有限公司"
    leaving = await app_id(
        world, (await world.intake.submit(3801, make_draft(world, 1, employer))).number
    )
    await world.review.approve(leaving, STAFF, None)
    joining = await app_id(
        world, (await world.intake.submit(3802, make_draft(world, 2, employer))).number
    )
    enterprise = await count(world, select(Enterprise.id))

    # The approval stops after its recount, before its commit ...
    inside, gate = pause_once(monkeypatch, review_module, "raise_threshold_alert")
    approval = asyncio.create_task(processes[0].review.approve(joining, STAFF, None))
    await asyncio.wait_for(inside.wait(), 10)
    # ... while the first member deletes their data: its recount must wait and see both.
    deletion = asyncio.create_task(processes[1].privacy.delete(3801, Actor(3801, "本人")))
    await asyncio.sleep(0.3)
    gate.set()
    await asyncio.gather(approval, deletion)
    assert await real_count(world, enterprise) == (1, 1)


async def test_a_merge_waiting_for_an_approval_does_not_deadlock(
    world: World, processes: list[Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.services import sequences

    target = await _registered(world, "北京字节跳动科技有限公司", "字节跳动科技")
    application = await app_id(
        world, (await world.intake.submit(3901, make_draft(world, 1, "字节分部"))).number
    )
    source = await count(world, select(Enterprise.id).where(Enterprise.name == "字节分部"))

    # The approval has decided (it holds the application) and is about to count ...
    inside, gate = pause_once(monkeypatch, sequences, "next_member_number")
    approval = asyncio.create_task(processes[0].review.approve(application, STAFF, None))
    await asyncio.wait_for(inside.wait(), 10)
    # ... when the federation merges its enterprise into the registered one.
    merge = asyncio.create_task(processes[1].enterprises.merge(source, target, FEDERATION))
    await asyncio.sleep(0.3)
    gate.set()
    results = await asyncio.gather(approval, merge, return_exceptions=True)
    assert [repr(r) for r in results if isinstance(r, BaseException)] == []
    assert await real_count(world, target) == (1, 1)


async def test_merges_during_approvals_never_deadlock_and_count_right(
    world: World, processes: list[Process]
) -> None:
    target = await _registered(world, "北京字节跳动科技有限公司", "字节跳动科技")
    sources = []
    applications = []
    for k in range(4):
        employer = f"字节分部{k}号"
        for seq in range(5):
            number = (await world.intake.submit(
                3700 + k * 10 + seq, make_draft(world, k * 10 + seq, employer)
            )).number  # fmt: skip
            applications.append(await app_id(world, number))
        sources.append(await count(world, select(Enterprise.id).where(Enterprise.name == employer)))

    async def approve(i: int, application: int) -> object:
        return await processes[i % PROCESSES].review.approve(application, STAFF, None)

    async def merge(i: int, source: int) -> object:
        await asyncio.sleep(0.001 * i)
        return await processes[(i + 2) % PROCESSES].enterprises.merge(source, target, FEDERATION)

    work = [approve(i, a) for i, a in enumerate(applications)]
    work += [merge(i, s) for i, s in enumerate(sources)]
    results = await asyncio.gather(*work, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    assert errors == [], errors
    assert await real_count(world, target) == (20, 20)
    for source in sources:
        assert await real_count(world, source) == (0, 0)
    assert await count(world, select(func.count(ThresholdAlert.id))) == 0  # 20 < 25


async def _registered(world: World, name: str, key: str) -> int:
    async with world.db.transaction() as session:
        enterprise = Enterprise(name=name, name_key=key, street_id=world.street_id,
                                provisional=False)  # fmt: skip
        session.add(enterprise)
        await session.flush()
        return enterprise.id
