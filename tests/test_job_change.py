"""The member's own life (动态接转) on a real database: a new job moves the membership and
the count once the new workplace's street accepts; out of work, the membership is kept
and counts toward no enterprise; decisions are made once, whoever presses."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.services.audit import Actor
from bot.services.errors import NotAllowed
from bot.services.job_changes import JobChangeRefused, JobChangeService
from models import (
    Application,
    Enterprise,
    Member,
    MembershipEvent,
    OutboxMessage,
    ThresholdAlert,
    UnionOrg,
)
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft

REVIEWERS = (Actor(501, "审核员501"), Actor(502, "审核员502"))
OLD = "北京字节跳动科技有限公司"
NEW = "北京德胜数码科技有限公司"


@pytest.fixture
def job_changes(world: World) -> JobChangeService:
    return JobChangeService(world.db, threshold=THRESHOLD, federation_chat_id=FEDERATION_CHAT)


async def _member(world: World, seq: int, employer: str = OLD) -> int:
    """An approved member; returns their Telegram user id."""
    user_id = 5000 + seq
    submitted = await world.intake.submit(user_id, make_draft(world, seq, employer))
    async with world.db.read() as session:
        app_id = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    await world.review.approve(app_id, REVIEWERS[0], None)
    return user_id


async def _count(world: World, name: str) -> int:
    async with world.db.read() as session:
        found = await session.scalar(select(Enterprise.member_count).where(Enterprise.name == name))
        return int(found or 0)


async def test_a_new_job_moves_the_membership_and_the_count(
    world: World, job_changes: JobChangeService
) -> None:
    user = await _member(world, 1)
    await _member(world, 2, NEW)
    request = await job_changes.request(user, NEW)
    assert (request.status, request.from_enterprise, request.to_enterprise) == (
        "submitted", OLD, NEW,
    )  # fmt: skip
    with pytest.raises(JobChangeRefused) as caught:  # one open request at a time
        await job_changes.request(user, "北京第三家公司")
    assert caught.value.code == "pending"
    assert (await _count(world, OLD), await _count(world, NEW)) == (1, 1)

    with pytest.raises(NotAllowed):
        await job_changes.decide(request.id, Actor(901, "联合会"), accept=True)
    decided = await job_changes.decide(request.id, REVIEWERS[1], accept=True)
    assert decided.status == "accepted" and decided.decided_by == "审核员502"
    assert (await _count(world, OLD), await _count(world, NEW)) == (0, 2)
    async with world.db.read() as session:
        member = await session.scalar(select(Member).where(Member.telegram_user_id == user))
        event = await session.scalar(select(MembershipEvent))
        new_id = await session.scalar(select(Enterprise.id).where(Enterprise.name == NEW))
        kinds = list(await session.scalars(
            select(OutboxMessage.kind).where(OutboxMessage.chat_id == user)
            .order_by(OutboxMessage.id)
        ))  # fmt: skip
    assert member.enterprise_id == new_id and event.reason == "job_change"
    assert kinds[-3:] == ["job_change_received", "job_change_decided", "member_card"]
    with pytest.raises(JobChangeRefused) as caught:
        await job_changes.decide(request.id, REVIEWERS[0], accept=False)
    assert caught.value.code == "decided" and caught.value.extra["by"] == "审核员502"


async def test_a_declined_request_changes_nothing(
    world: World, job_changes: JobChangeService
) -> None:
    user = await _member(world, 1)
    request = await job_changes.request(user, NEW)
    decided = await job_changes.decide(request.id, REVIEWERS[0], accept=False)
    assert decided.status == "declined"
    assert await _count(world, OLD) == 1
    async with world.db.read() as session:
        assert await session.scalar(select(MembershipEvent.id)) is None
    again = await job_changes.request(user, NEW)  # and may ask again
    assert again.status == "submitted"


async def test_the_same_employer_is_not_a_change(
    world: World, job_changes: JobChangeService
) -> None:
    user = await _member(world, 1)
    with pytest.raises(JobChangeRefused) as caught:
        await job_changes.request(user, OLD)
    assert caught.value.code == "same"
    with pytest.raises(JobChangeRefused) as caught:
        await job_changes.request(9999, NEW)  # not a member
    assert caught.value.code == "not_member"


async def test_kept_membership_counts_toward_no_enterprise_and_resumes(
    world: World, job_changes: JobChangeService
) -> None:
    user = await _member(world, 1)
    await _member(world, 2)
    situation = await job_changes.keep(user)
    assert situation.kept_since is not None
    assert await _count(world, OLD) == 1  # still a member, no longer counted there
    with pytest.raises(JobChangeRefused) as caught:
        await job_changes.keep(user)
    assert caught.value.code == "kept"
    card = await world.cards.facts(situation.member_id)
    assert card is not None and card.active  # the card stays valid
    # Back to work, even at the old employer: the count comes back.
    request = await job_changes.request(user, OLD)
    assert request.kept
    await job_changes.decide(request.id, REVIEWERS[0], accept=True)
    assert await _count(world, OLD) == 2
    assert (await job_changes.situation(user)).kept_since is None


async def test_a_new_job_can_take_the_new_enterprise_over_the_threshold(
    world: World, job_changes: JobChangeService
) -> None:
    for seq in range(THRESHOLD - 1):
        await _member(world, 100 + seq, NEW)
    user = await _member(world, 1)
    request = await job_changes.request(user, NEW)
    await job_changes.decide(request.id, REVIEWERS[0], accept=True)
    async with world.db.read() as session:
        alerted = list(
            await session.scalars(
                select(Enterprise.name).join(
                    ThresholdAlert, ThresholdAlert.enterprise_id == Enterprise.id
                )
            )
        )
    assert alerted == [NEW]


async def test_a_founded_union_receives_a_new_worker_directly(
    world: World, job_changes: JobChangeService
) -> None:
    """The new employer's union was founded through the bot: the membership goes there."""
    user = await _member(world, 1)
    await _member(world, 2, NEW)
    async with world.db.transaction() as session:
        new_id = await session.scalar(select(Enterprise.id).where(Enterprise.name == NEW))
        union = UnionOrg(kind="enterprise", name="德胜数码工会", enterprise_id=new_id)
        session.add(union)
        await session.flush()
        union_id = union.id
    request = await job_changes.request(user, NEW)
    assert request.to_union == "德胜数码工会"
    await job_changes.decide(request.id, REVIEWERS[0], accept=True)
    async with world.db.read() as session:
        member = await session.scalar(select(Member).where(Member.telegram_user_id == user))
    assert member.union_org_id == union_id


async def test_two_reviewers_and_the_member_at_once(
    world: World, job_changes: JobChangeService
) -> None:
    """Accept and decline pressed at the same moment decide once; a second request sent
    at the same moment is refused by the database's one-open-request rule."""
    user = await _member(world, 1)
    request = await job_changes.request(user, NEW)
    results = await asyncio.gather(
        job_changes.decide(request.id, REVIEWERS[0], accept=True),
        job_changes.decide(request.id, REVIEWERS[1], accept=False),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["JobChangeRefused", "RequestView"]
    other = await _member(world, 2)
    outcomes = await asyncio.gather(
        job_changes.request(other, NEW), job_changes.request(other, "北京第三家公司"),
        return_exceptions=True,
    )  # fmt: skip
    assert sorted(type(r).__name__ for r in outcomes) == ["JobChangeRefused", "RequestView"]
    async with world.db.read() as session:
        events = list(await session.scalars(select(MembershipEvent.member_id)))
    assert len(events) == (1 if any(getattr(r, "status", "") == "accepted" for r in results)
                           else 0)  # fmt: skip
