"""An enterprise union founded through the bot gets its own review group (/bind with a
code of the union) and its own reviewers: new applicants of that enterprise are told
where their application goes, their cards go to that group, only its reviewers decide,
and the new members are registered in the union directly; job changes into it are
decided there too."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.local import DEMO_TOKEN
from bot.people import WorkerData, find_button
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.services.binding import BindingService
from bot.services.errors import NotAllowed
from bot.services.founding import FoundingService
from bot.services.job_changes import JobChangeService
from models import Application, Enterprise, Member, UnionOrg
from tests.conftest import World, make_draft, make_resident_id
from tests.live import FEDERATION_GROUP, REVIEW_GROUP, STAFF_IDS, Live, answer_of, live_bot
from tests.test_founding import APPROVED, ASSEMBLY, FOUNDED, PREPARING

UNION_GROUP = -100777
UNION_ADMIN, UNION_REVIEWER = 7001, 7002
ENTERPRISE = "北京字节跳动科技有限公司"
CLI = Actor.cli("test")


async def _founded_union(live: Live) -> int:
    """The enterprise (one member) with its union founded through the bot."""
    worker = live.worker(1951, "职工")
    data = WorkerData("张一", make_resident_id(951), "+8613900009510", ENTERPRISE)
    received = await worker.apply(live.point_code, data)
    number = received["text"].split("申请编号 ")[1].split("。")[0]
    card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
    await live.staff().press(card, "通过", "已通过")
    async with live.app.db.read() as session:
        enterprise = await session.scalar(
            select(Enterprise.id).where(Enterprise.name == ENTERPRISE)
        )
    founding = FoundingService(live.app.db, federation_chat_id=FEDERATION_GROUP)
    case = await founding.open(enterprise, CLI)
    for facts in (PREPARING, ASSEMBLY, APPROVED, FOUNDED):
        case = await founding.advance(case.id, CLI, facts)
    async with live.app.db.read() as session:
        return await session.scalar(select(UnionOrg.id).where(UnionOrg.kind == "enterprise"))


async def test_the_enterprise_union_reviews_its_own_applicants(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        union_id = await _founded_union(live)
        binding: BindingService = live.app.dispatcher["binding"]
        await binding.admin.add_staff(UNION_ADMIN, "工会管理员", "admin", None, CLI)
        await binding.admin.add_union_staff(UNION_REVIEWER, "企业工会审核员", union_id, CLI)
        code, _ = await binding.create_union_code(union_id, CLI)
        live.emu.add_user(UNION_ADMIN, "工会管理员")
        live.emu.add_user(UNION_REVIEWER, "企业工会审核员")
        members = [UNION_ADMIN, UNION_REVIEWER, STAFF_IDS[0]]
        live.emu.add_group(UNION_GROUP, "字节跳动工会审核群", members, [UNION_ADMIN])
        live.emu.add_bot_to_group(DEMO_TOKEN, UNION_GROUP, UNION_ADMIN)
        reply = await live.staff(UNION_ADMIN).say(f"/bind {code}", "已绑定", chat_id=UNION_GROUP)
        assert FOUNDED.name in reply["text"]

        # A new worker of the enterprise: told where the application goes.
        worker = live.worker(1952, "王五")
        notice = await worker.open_form(live.point_code)
        await worker.consent(notice)
        await worker.say("王五", "身份证号")
        await worker.say(make_resident_id(952), "手机号")
        await worker.say("+8613900009520", "工作单位")
        told = await worker.say(ENTERPRISE, "交给")
        assert FOUNDED.name in told["text"]
        job = await live.emu.wait_for(worker.user_id, "岗位", timeout=15)
        summary = await worker.press(job, "跳过", "请核对")
        received = await worker.submit(summary)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(UNION_GROUP, number, since=0, timeout=15)
        assert f"会籍：{FOUNDED.name}" in card["text"] and "该单位已建立工会" not in card["text"]
        assert not [m for m in live.emu.messages(REVIEW_GROUP) if number in m.get("text", "")]

        # The street's reviewers no longer decide it; the union's do.
        query = live.emu.press_button(
            STAFF_IDS[0], UNION_GROUP, card["message_id"], find_button(card, "通过")
        )
        assert (await answer_of(live, query))["show_alert"]
        await live.staff(UNION_REVIEWER).press(card, "通过", "已通过")
        async with live.app.db.read() as session:
            member = await session.scalar(select(Member).where(Member.telegram_user_id == 1952))
        assert member is not None and member.union_org_id == union_id
        assert not live.emu.internal_errors


# ---------------------------------------------------------------------------- who decides


async def test_the_street_decides_for_a_union_without_its_own_group(world: World) -> None:
    """Until the enterprise union has a review group, the street's reviewers decide its
    applications on its behalf; once it has one, only its own reviewers do. Job changes
    into it follow the same rule."""
    street, union_staff = Actor(501, "审核员501"), Actor(UNION_REVIEWER, "企业工会审核员")
    async with world.db.transaction() as session:
        enterprise = Enterprise(name=ENTERPRISE, name_key="字节跳动科技", provisional=False,
                                member_count=0, status="active", has_union=True)  # fmt: skip
        session.add(enterprise)
        await session.flush()
        union = UnionOrg(kind="enterprise", name=FOUNDED.name, enterprise_id=enterprise.id)
        session.add(union)
        await session.flush()
        union_id = union.id
    admin = AdminService(world.db)
    await admin.add_union_staff(UNION_REVIEWER, "企业工会审核员", union_id, CLI)

    async def application(seq: int) -> int:
        submitted = await world.intake.submit(8000 + seq, make_draft(world, seq, ENTERPRISE))
        async with world.db.read() as session:
            found = await session.scalar(
                select(Application).where(Application.number == submitted.number)
            )
        assert found.union_org_id == union_id
        return found.id

    first = await application(1)
    await world.review.approve(first, street, None)  # no group of its own yet
    await admin.set_union_review_chat(union_id, UNION_GROUP, CLI)
    second = await application(2)
    with pytest.raises(NotAllowed):
        await world.review.approve(second, street, None)
    approval = await world.review.approve(second, union_staff, None)
    assert approval.member_number.startswith("DS-")

    jobs = JobChangeService(world.db, threshold=25, federation_chat_id=None)
    other = await world.intake.submit(8003, make_draft(world, 3, "北京德胜数码科技有限公司"))
    async with world.db.read() as session:
        other_id = await session.scalar(
            select(Application.id).where(Application.number == other.number)
        )
    await world.review.approve(other_id, street, None)
    request = await jobs.request(8003, ENTERPRISE)
    assert request.to_union == FOUNDED.name
    with pytest.raises(NotAllowed):  # a job change into it: the same rule
        await jobs.decide(request.id, street, accept=True)
    assert (await jobs.decide(request.id, union_staff, accept=True)).status == "accepted"
