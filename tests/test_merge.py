"""Merging enterprises (counts and the exactly-once alert), status changes, fixing the
employer of an application, and the service's matching of what a worker types."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.people import find_button
from bot.services.audit import Actor
from bot.services.enterprises import (
    EnterpriseNotActive,
    EnterpriseService,
    MergeRefused,
    find_or_create,
    name_key,
)
from bot.services.errors import AlreadyDecided, NotAllowed, NotFound
from bot.services.review import CardRef
from bot.validation import uscc_check_char
from models import Application, AuditEntry, Enterprise, Member, OutboxMessage, ThresholdAlert
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft
from tests.live import FEDERATION_GROUP, FEDERATION_ID, OUTSIDER_ID, answer_of, live_bot

STAFF = Actor(501, "审核员501")
FEDERATION = Actor(901, "联合会")
CLI = Actor.cli("test")
REGISTERED = "北京字节跳动科技有限公司"
USCC = "91110108MA01B2C3D" + uscc_check_char("91110108MA01B2C3D")


async def submit_one(world: World, seq: int, employer: str) -> int:
    submitted = await world.intake.submit(10_000 + seq, make_draft(world, seq, employer))
    async with world.db.read() as session:
        return await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )


async def approve_one(world: World, seq: int, employer: str) -> int:
    application_id = await submit_one(world, seq, employer)
    await world.review.approve(application_id, STAFF, None)
    return application_id


async def approve_many(world: World, first: int, count: int, employer: str) -> None:
    for seq in range(first, first + count):
        await approve_one(world, seq, employer)


def service(world: World) -> EnterpriseService:
    return EnterpriseService(world.db, threshold=THRESHOLD, federation_chat_id=FEDERATION_CHAT)


async def add_registered(world: World, name: str, code: str) -> int:
    """A registry enterprise of the world's street; its id."""
    async with world.db.transaction() as session:
        enterprise = Enterprise(
            name=name,
            name_key=name_key(name),
            uscc=code,
            street_id=world.street_id,
            provisional=False,
        )
        session.add(enterprise)
        await session.flush()
        return enterprise.id


async def registered(world: World) -> int:
    return await add_registered(world, REGISTERED, USCC)


async def enterprise_id(world: World, name: str) -> int:
    async with world.db.read() as session:
        return await session.scalar(select(Enterprise.id).where(Enterprise.name == name))


async def scalar(world: World, query: object) -> int:
    async with world.db.read() as session:
        return int(await session.scalar(query) or 0)  # type: ignore[call-overload]


def alerts_for(enterprise: int) -> object:
    return select(func.count(ThresholdAlert.id)).where(ThresholdAlert.enterprise_id == enterprise)


ALERT_MESSAGES = select(func.count(OutboxMessage.id)).where(
    OutboxMessage.kind == "threshold_alert", OutboxMessage.chat_id == FEDERATION_CHAT
)


async def test_merge_moves_members_recounts_and_alerts_once(world: World) -> None:
    target = await registered(world)
    await approve_many(world, 0, 12, REGISTERED)
    await approve_many(world, 100, 15, "字节跳动")  # a provisional enterprise
    source = await enterprise_id(world, "字节跳动")
    assert source != target
    assert await scalar(world, ALERT_MESSAGES) == 0

    result = await service(world).merge(source, target, FEDERATION)

    assert (result.members_moved, result.applications_moved) == (15, 15)
    assert (result.source_count, result.target_count, result.alert_raised) == (0, 27, True)
    async with world.db.read() as session:
        merged = await session.get_one(Enterprise, source)
        kept = await session.get_one(Enterprise, target)
        active = await session.scalar(
            select(func.count(Member.id)).where(
                Member.enterprise_id == target, Member.status == "active"
            )
        )
    assert (merged.merged_into_id, merged.member_count, merged.status) == (target, 0, "active")
    assert (kept.member_count, active) == (27, 27)
    assert await scalar(world, alerts_for(target)) == 1
    assert await scalar(world, ALERT_MESSAGES) == 1

    # Later approvals naming the merged spelling count at the target; no second alert.
    await approve_one(world, 200, "字节跳动")
    assert await scalar(world, alerts_for(target)) == 1
    assert await scalar(world, ALERT_MESSAGES) == 1
    async with world.db.read() as session:
        assert (await session.get_one(Enterprise, target)).member_count == 28

    async with world.db.read() as session:
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "enterprise.merged")
        )
    assert audit is not None
    assert (audit.actor_user_id, audit.subject_id) == (901, str(source))
    assert audit.before == {"source_count": 15, "target_count": 12, "into": target}
    assert audit.after["source_count"] == 0 and audit.after["target_count"] == 27
    assert audit.after["alert_raised"] is True


async def test_merging_again_or_into_itself_is_refused(world: World) -> None:
    target = await registered(world)
    await approve_many(world, 0, 2, "字节跳动")
    source = await enterprise_id(world, "字节跳动")
    enterprises = service(world)
    with pytest.raises(MergeRefused) as itself:
        await enterprises.merge(target, target, CLI)
    assert itself.value.reason == "self"

    await enterprises.merge(source, target, CLI)
    with pytest.raises(MergeRefused) as again:
        await enterprises.merge(source, target, CLI)
    assert again.value.reason == "source_merged"
    with pytest.raises(MergeRefused) as into_merged:
        await enterprises.merge(target, source, CLI)
    assert into_merged.value.reason == "target_merged"
    with pytest.raises(MergeRefused):
        await enterprises.merge_preview(str(source), str(target))
    with pytest.raises(NotFound):
        await enterprises.merge(source, 9999, CLI)
    assert (
        await scalar(
            world, select(func.count(AuditEntry.id)).where(AuditEntry.action == "enterprise.merged")
        )
        == 1
    )


async def test_only_federation_staff_merge(world: World) -> None:
    target = await registered(world)
    await approve_many(world, 0, 1, "字节跳动")
    source = await enterprise_id(world, "字节跳动")
    for outsider in (STAFF, Actor(999, "路人")):
        with pytest.raises(NotAllowed):
            await service(world).merge(source, target, outsider)
    async with world.db.read() as session:
        assert (await session.get_one(Enterprise, source)).merged_into_id is None


async def test_a_target_that_had_its_alert_gets_no_second_one(world: World) -> None:
    target = await registered(world)
    await approve_many(world, 0, THRESHOLD, REGISTERED)
    assert await scalar(world, alerts_for(target)) == 1
    await approve_many(world, 100, 3, "字节跳动")
    source = await enterprise_id(world, "字节跳动")

    result = await service(world).merge(source, target, CLI)

    assert (result.target_count, result.alert_raised) == (THRESHOLD + 3, False)
    assert await scalar(world, alerts_for(target)) == 1
    assert await scalar(world, ALERT_MESSAGES) == 1


async def test_a_source_that_had_its_alert_passes_it_on(world: World) -> None:
    target = await registered(world)
    await approve_many(world, 0, 2, REGISTERED)
    await approve_many(world, 100, THRESHOLD, "字节跳动")
    source = await enterprise_id(world, "字节跳动")
    assert await scalar(world, alerts_for(source)) == 1

    result = await service(world).merge(source, target, CLI)

    # The federation already heard about these workers: no second alert for the employer.
    assert (result.target_count, result.alert_raised) == (THRESHOLD + 2, False)
    assert await scalar(world, alerts_for(target)) == 1
    assert await scalar(world, alerts_for(source)) == 0
    assert await scalar(world, ALERT_MESSAGES) == 1


async def test_earlier_merges_are_repointed_so_merges_never_chain(world: World) -> None:
    target = await registered(world)
    await approve_many(world, 0, 1, "字节跳动")
    await approve_many(world, 10, 1, "字节跳动公司总部")
    first, second = (
        await enterprise_id(world, "字节跳动"),
        await enterprise_id(world, "字节跳动公司总部"),
    )
    enterprises = service(world)
    await enterprises.merge(first, second, CLI)
    await enterprises.merge(second, target, CLI)
    async with world.db.read() as session:
        assert (await session.get_one(Enterprise, first)).merged_into_id == target
        assert (await session.get_one(Enterprise, target)).member_count == 2


async def test_status_changes_are_audited_and_leave_matching(world: World) -> None:
    target = await registered(world)
    enterprises = service(world)
    assert (await enterprises.suggest(REGISTERED, world.street_id)).auto == target

    closed = await enterprises.set_status(USCC, "closed", FEDERATION)
    assert closed.status == "closed"
    assert (await enterprises.suggest(REGISTERED, world.street_id)).candidates == ()
    await enterprises.set_status(str(target), "moved_out", CLI)
    await enterprises.set_status(target, "active", CLI)
    assert (await enterprises.suggest(REGISTERED, world.street_id)).auto == target

    with pytest.raises(NotAllowed):
        await enterprises.set_status(target, "closed", STAFF)
    with pytest.raises(ValueError, match="unknown status"):
        await enterprises.set_status(target, "gone", CLI)
    with pytest.raises(NotFound):
        await enterprises.get("91110108MA01B2C3X")
    async with world.db.read() as session:
        changes = list(
            await session.execute(
                select(AuditEntry.before, AuditEntry.after)
                .where(AuditEntry.action == "enterprise.status")
                .order_by(AuditEntry.id)
            )
        )
    assert [(b["status"], a["status"]) for b, a in changes] == [
        ("active", "closed"),
        ("closed", "moved_out"),
        ("moved_out", "active"),
    ]


async def test_suggest_uses_a_typed_uscc_and_sees_new_provisional_ones(world: World) -> None:
    target = await registered(world)
    enterprises = service(world)
    by_code = await enterprises.suggest(f"信用代码 {USCC}", world.street_id)
    assert (by_code.auto, by_code.uscc) == (target, USCC)
    assert (await enterprises.suggest("zjtd", world.street_id)).candidates[0].id == target

    await approve_one(world, 1, "鑫瑞德传媒")  # created after the matcher was built
    suggestion = await enterprises.suggest("鑫瑞德传媒", world.street_id)
    assert suggestion.auto == await enterprise_id(world, "鑫瑞德传媒")

    hits = await enterprises.search("字节跳动")
    assert hits[0].enterprise.id == target and hits[0].enterprise.uscc == USCC
    assert (await enterprises.get(target)).alerts == ()


async def test_find_or_create_follows_a_merge(world: World) -> None:
    target = await registered(world)
    await approve_many(world, 0, 1, "字节跳动")
    await service(world).merge(await enterprise_id(world, "字节跳动"), target, CLI)
    async with world.db.transaction() as session:
        assert (await find_or_create(session, "字节跳动", world.street_id)).id == target
        by_code = await find_or_create(session, "whatever", world.street_id, uscc=USCC)
        assert by_code.id == target


async def test_staff_change_the_employer_of_a_submitted_application(world: World) -> None:
    target = await registered(world)
    application = await submit_one(world, 1, "字节跳动")
    enterprises = service(world)
    with pytest.raises(NotAllowed):
        await enterprises.change_employer(application, target, FEDERATION)

    change = await enterprises.change_employer(application, target, STAFF, CardRef(-100500, 77))
    assert (change.enterprise_id, change.enterprise_name) == (target, REGISTERED)
    async with world.db.read() as session:
        assert (await session.get_one(Application, application)).enterprise_id == target
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "application.employer_changed")
        )
        edits = await session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "review_card_edit")
        )
    assert audit is not None and audit.after["enterprise_id"] == target
    assert audit.before["enterprise_id"] == change.old_enterprise_id
    assert edits == 1

    await world.review.approve(application, STAFF, None)
    async with world.db.read() as session:
        assert (await session.get_one(Enterprise, target)).member_count == 1
    with pytest.raises(AlreadyDecided):
        await enterprises.change_employer(application, change.old_enterprise_id, STAFF)


async def test_change_employer_refuses_closed_enterprises(world: World) -> None:
    target = await registered(world)
    application = await submit_one(world, 1, "别的公司")
    enterprises = service(world)
    await enterprises.set_status(target, "closed", CLI)
    with pytest.raises(EnterpriseNotActive):
        await enterprises.change_employer(application, target, STAFF)
    with pytest.raises(NotFound):
        await enterprises.change_employer(application, 9999, STAFF)


# --- the federation group, through the real bot and the emulator -------------------------


async def test_search_and_merge_in_the_federation_group(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        async with live.app.db.transaction() as session:
            target = Enterprise(name=REGISTERED, name_key="字节跳动科技", provisional=False)
            source = Enterprise(name="<b>字节跳动</b>", name_key="b字节跳动b")
            session.add_all([target, source])
            await session.flush()
            target_id, source_id = target.id, source.id
        live.emu.set_member_status(FEDERATION_GROUP, OUTSIDER_ID, "member", by_user_id=901)
        staff, outsider = live.staff(FEDERATION_ID), live.staff(OUTSIDER_ID)

        found = await staff.say("/search 字节跳动", "字节跳动", FEDERATION_GROUP)
        assert found["text"].splitlines() == [
            f"{target_id} {REGISTERED} · 0 人",
            f"{source_id} <b>字节跳动</b> · 0 人 · 临时，未确认",  # escaped: shown, not bold
        ]
        assert {e["type"] for e in found["entities"]} == {"code"}
        await outsider.say("/search 字节跳动", "只有区总工会工作人员", FEDERATION_GROUP)
        await outsider.say(f"/merge {source_id} {target_id}", "只有区总工会", FEDERATION_GROUP)
        await staff.say(f"/merge {target_id} {target_id}", "自己", FEDERATION_GROUP)

        confirm = await staff.say(f"/merge {source_id} {target_id}", "并入", FEDERATION_GROUP)
        data = find_button(confirm, "确认合并")
        forged = live.emu.press_button(
            OUTSIDER_ID, FEDERATION_GROUP, confirm["message_id"], data, forge=True
        )
        assert "只有区总工会" in (await answer_of(live, forged))["text"]
        async with live.app.db.read() as session:
            assert (await session.get_one(Enterprise, source_id)).merged_into_id is None

        await staff.press(confirm, "确认合并", "已合并")
        async with live.app.db.read() as session:
            assert (await session.get_one(Enterprise, source_id)).merged_into_id == target_id
        again = live.emu.press_button(
            FEDERATION_ID, FEDERATION_GROUP, confirm["message_id"], data, forge=True
        )
        assert "已并入" in (await answer_of(live, again))["text"]
        assert not live.emu.internal_errors
