"""The domain operations on a real SQLite file: intake, review, counts and alerts."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.services.audit import Actor
from bot.services.errors import AlreadyDecided, AlreadyMember, NotAllowed, OpenApplicationExists
from models import Application, AuditEntry, Enterprise, Member, OutboxMessage, ThresholdAlert
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft

STAFF = Actor(501, "审核员501")
OTHER_STAFF = Actor(502, "审核员502")


async def _application_id(world: World, number: str) -> int:
    async with world.db.read() as session:
        return await session.scalar(select(Application.id).where(Application.number == number))


async def _count(world: World, query) -> int:
    async with world.db.read() as session:
        return int(await session.scalar(query) or 0)


async def test_submit_encrypts_personal_data_and_queues_the_review_card(world: World) -> None:
    draft = make_draft(world, 1)
    submitted = await world.intake.submit(42, draft)
    assert submitted.number.startswith("SQ")
    async with world.db.read() as session:
        application = await session.scalar(select(Application))
        kinds = list(await session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))
    assert draft.resident_id.encode() not in application.ric_cipher
    assert world.cipher.decrypt(application.ric_cipher, context="ric") == draft.resident_id
    assert world.cipher.decrypt(application.mobile_cipher, context="mobile") == draft.mobile
    assert kinds == ["application_received", "review_card"]


async def test_one_open_application_per_person(world: World) -> None:
    first = await world.intake.submit(42, make_draft(world, 1))
    with pytest.raises(OpenApplicationExists) as caught:
        await world.intake.submit(43, make_draft(world, 1))
    assert caught.value.number == first.number


async def test_rejected_worker_may_apply_again_and_member_may_not(world: World) -> None:
    first = await world.intake.submit(42, make_draft(world, 1))
    await world.review.reject(
        await _application_id(world, first.number), STAFF, "incomplete", None, None
    )
    second = await world.intake.submit(42, make_draft(world, 1))
    await world.review.approve(await _application_id(world, second.number), STAFF, None)
    with pytest.raises(AlreadyMember):
        await world.intake.submit(42, make_draft(world, 1))


async def test_decided_at_most_once(world: World) -> None:
    submitted = await world.intake.submit(42, make_draft(world, 1))
    app_id = await _application_id(world, submitted.number)
    await world.review.approve(app_id, STAFF, None)
    with pytest.raises(AlreadyDecided) as caught:
        await world.review.approve(app_id, OTHER_STAFF, None)
    assert caught.value.decided_by == STAFF.name
    with pytest.raises(AlreadyDecided):
        await world.review.reject(app_id, OTHER_STAFF, "duplicate", None, None)
    assert await _count(world, select(func.count(Member.id))) == 1


async def test_only_the_streets_staff_may_decide(world: World) -> None:
    submitted = await world.intake.submit(42, make_draft(world, 1))
    app_id = await _application_id(world, submitted.number)
    for outsider in (Actor(999, "路人"), Actor(901, "联合会"), Actor(None, "cli")):
        with pytest.raises(NotAllowed):
            await world.review.approve(app_id, outsider, None)
    async with world.db.read() as session:
        assert (await session.get(Application, app_id)).status == "submitted"


async def test_threshold_alert_once_and_counts_match(world: World) -> None:
    ids = []
    for seq in range(THRESHOLD + 2):
        employer = "北京字节跳动科技有限公司" if seq % 2 else "字节跳动科技"
        submitted = await world.intake.submit(1000 + seq, make_draft(world, seq, employer))
        ids.append(await _application_id(world, submitted.number))
    results = [await world.review.approve(app_id, STAFF, None) for app_id in ids]

    assert [r.alert_raised for r in results].count(True) == 1
    assert results[THRESHOLD - 1].alert_raised
    assert results[-1].enterprise_count == THRESHOLD + 2
    async with world.db.read() as session:
        enterprise = await session.scalar(select(Enterprise))
        members = await session.scalar(
            select(func.count(func.distinct(Member.ric_hash))).where(Member.status == "active")
        )
        alerts = await session.scalar(select(func.count(ThresholdAlert.id)))
        to_federation = await session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.chat_id == FEDERATION_CHAT)
        )
        numbers = set(await session.scalars(select(Member.number)))
    assert enterprise.member_count == members == THRESHOLD + 2
    assert alerts == 1 and to_federation == 1
    assert len(numbers) == THRESHOLD + 2 and all(n.startswith("DS-") for n in numbers)


async def test_concurrent_approvals_decide_once(world: World) -> None:
    ids = []
    for seq in range(30):
        submitted = await world.intake.submit(2000 + seq, make_draft(world, seq))
        ids.append(await _application_id(world, submitted.number))
    actors = [STAFF, OTHER_STAFF, Actor(503, "审核员503")]

    async def press(app_id: int, actor: Actor) -> str:
        try:
            await world.review.approve(app_id, actor, None)
            return "approved"
        except AlreadyDecided:
            return "refused"

    outcomes = await asyncio.gather(*(press(i, a) for i in ids for a in actors))
    assert outcomes.count("approved") == 30
    assert await _count(world, select(func.count(Member.id))) == 30
    assert await _count(world, select(func.count(ThresholdAlert.id))) == 1


async def test_every_decision_is_audited(world: World) -> None:
    a = await world.intake.submit(42, make_draft(world, 1))
    b = await world.intake.submit(43, make_draft(world, 2))
    await world.review.approve(await _application_id(world, a.number), STAFF, None)
    await world.review.reject(
        await _application_id(world, b.number), OTHER_STAFF, "other", "单位不在本辖区", None
    )
    async with world.db.read() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("application.%ed"))
                .where(AuditEntry.action != "application.submitted")
            )
        )
    decided = {(r.action, r.actor_user_id, r.subject_id) for r in rows}
    assert ("application.approved", 501, a.number) in decided
    assert ("application.rejected", 502, b.number) in decided


async def test_federation_follow_up_is_recorded_once(world: World) -> None:
    from bot.services.errors import AlreadyFollowed

    for seq in range(THRESHOLD):
        submitted = await world.intake.submit(3000 + seq, make_draft(world, seq))
        await world.review.approve(await _application_id(world, submitted.number), STAFF, None)
    async with world.db.read() as session:
        alert_id = await session.scalar(select(ThresholdAlert.id))
    with pytest.raises(NotAllowed):
        await world.alerts.follow_up(alert_id, STAFF, FEDERATION_CHAT, 1)
    await world.alerts.follow_up(alert_id, Actor(901, "联合会"), FEDERATION_CHAT, 1)
    with pytest.raises(AlreadyFollowed):
        await world.alerts.follow_up(alert_id, Actor(901, "联合会"), FEDERATION_CHAT, 1)


async def test_card_tokens_verify_and_forgeries_fail(world: World) -> None:
    submitted = await world.intake.submit(42, make_draft(world, 1))
    approval = await world.review.approve(
        await _application_id(world, submitted.number), STAFF, None
    )
    async with world.db.read() as session:
        member_id = await session.scalar(select(Member.id))
    token = world.cards.signer.token(member_id)
    assert len("v_" + token) <= 64
    facts = await world.cards.verify(token)
    assert facts is not None and facts.member_number == approval.member_number
    assert facts.masked_id.startswith("110102") and "*" in facts.masked_id
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert await world.cards.verify(forged) is None
    ident, mac = token.split("_", 1)
    assert ident == "1"
    assert await world.cards.verify("2_" + mac) is None  # another member, same signature


async def test_renaming_a_street_renames_its_joint_union(world: World) -> None:
    """Every text derives the union names from the street's name (bot/union_names.py); the
    stored joint union, which the member card shows, must follow a rename."""
    submitted = await world.intake.submit(42, make_draft(world, 1))
    await world.review.approve(await _application_id(world, submitted.number), STAFF, None)
    await world.admin.rename_street("DS", "德胜街道办事处", Actor.cli("test"))
    member_id = await _count(world, select(Member.id))
    facts = await world.cards.facts(member_id)
    assert facts is not None and facts.union_name == "德胜街道办事处工会联合会"
