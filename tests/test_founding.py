"""Founding cases (建会工作) through the service, on a real database: the stages and what
each records, moving back and pausing, the audit log, the enterprise union at the end,
and two people changing one case at once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.founding_facts import (
    Approved,
    FactError,
    Founded,
    Preparing,
    assembly,
    read_assembly,
    read_founded,
    read_preparing,
)
from bot.services.audit import Actor
from bot.services.errors import NotAllowed
from bot.services.founding import CaseChanged, CaseExists, CaseRefused, FoundingService
from bot.validation import uscc_check_char
from models import (
    Application,
    AuditEntry,
    Enterprise,
    FoundingCase,
    OutboxMessage,
    ThresholdAlert,
    UnionOrg,
)
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft

FEDERATION = Actor(901, "联合会")
OTHER = Actor(902, "联合会二")
STREET_STAFF = Actor(501, "审核员501")
TODAY = date(2026, 12, 6)


def union_uscc(body: str = "81110102MA01UN1X0") -> str:
    return body[:17] + uscc_check_char(body[:17])


PREPARING = Preparing(date(2026, 9, 1), (("张伟", "组长"), ("李娜", "副组长"), ("王强", "成员")))
ASSEMBLY = assembly(date(2026, 10, 15), ("张伟", "李娜", "王强"), "张伟", close_relatives=False)
APPROVED = Approved(date(2026, 11, 2), "西工发〔2026〕12号")
FOUNDED = Founded("北京字节跳动科技有限公司工会委员会", union_uscc(), date(2026, 11, 20),
                  "张伟 13800138000")  # fmt: skip


@pytest.fixture
async def founding(world: World) -> FoundingService:
    await world.admin.add_staff(902, "联合会二", "federation", None, Actor.cli("test"))
    return FoundingService(world.db, federation_chat_id=FEDERATION_CHAT)


async def _enterprise(world: World, members: int = 3) -> int:
    """An enterprise with a few approved members (below the threshold)."""
    for seq in range(members):
        submitted = await world.intake.submit(3000 + seq, make_draft(world, seq))
        async with world.db.read() as session:
            app_id = await session.scalar(
                select(Application.id).where(Application.number == submitted.number)
            )
        await world.review.approve(app_id, STREET_STAFF, None)
    async with world.db.read() as session:
        return await session.scalar(select(Enterprise.id))


async def _audit(world: World, action: str) -> list[AuditEntry]:
    async with world.db.read() as session:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


# ---------------------------------------------------------------------------- opening


async def test_a_case_is_opened_by_hand_once_per_enterprise(
    world: World, founding: FoundingService
) -> None:
    enterprise = await _enterprise(world)
    case = await founding.open(enterprise, FEDERATION)
    assert (case.stage, case.owner_name, case.member_count, case.paused) == (
        "following", "联合会", 3, False,
    )  # fmt: skip
    with pytest.raises(CaseExists) as caught:
        await founding.open(enterprise, OTHER)
    assert caught.value.case_id == case.id
    with pytest.raises(NotAllowed):
        await founding.open(enterprise, STREET_STAFF)  # not federation staff
    async with world.db.read() as session:
        cards = list(await session.scalars(select(OutboxMessage.kind).where(
            OutboxMessage.chat_id == FEDERATION_CHAT)))  # fmt: skip
    assert cards == ["case_card"]
    assert [e.after["enterprise_id"] for e in await _audit(world, "case.opened")] == [enterprise]


async def test_two_openings_at_once_make_one_case(world: World, founding: FoundingService) -> None:
    enterprise = await _enterprise(world)
    results = await asyncio.gather(
        founding.open(enterprise, FEDERATION), founding.open(enterprise, OTHER),
        return_exceptions=True,
    )  # fmt: skip
    opened = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CaseExists)]
    assert len(opened) == 1 and len(refused) == 1
    async with world.db.read() as session:
        assert await session.scalar(select(func.count(FoundingCase.id))) == 1


async def test_following_up_the_alert_opens_the_case_owned_by_the_presser(
    world: World, founding: FoundingService
) -> None:
    await _enterprise(world, THRESHOLD)
    async with world.db.read() as session:
        alert_id = await session.scalar(select(ThresholdAlert.id))
    case_id = await world.alerts.follow_up(alert_id, FEDERATION, FEDERATION_CHAT, 77)
    assert case_id is not None
    case = await founding.get(case_id)
    assert (case.stage, case.owner_user_id, case.member_count) == ("following", 901, THRESHOLD)
    async with world.db.read() as session:
        kinds = list(await session.scalars(select(OutboxMessage.kind).where(
            OutboxMessage.chat_id == FEDERATION_CHAT).order_by(OutboxMessage.id)))  # fmt: skip
        linked = await session.scalar(select(FoundingCase.alert_id))
    assert kinds == ["threshold_alert", "alert_followed_edit", "case_card"]
    assert linked == alert_id


# ---------------------------------------------------------------------------- the stages


async def test_a_case_goes_through_every_stage_to_the_founded_union(
    world: World, founding: FoundingService
) -> None:
    enterprise = await _enterprise(world)
    case = await founding.open(enterprise, FEDERATION)
    for facts, stage in ((PREPARING, "preparing"), (ASSEMBLY, "assembly"),
                         (APPROVED, "approved"), (FOUNDED, "founded")):  # fmt: skip
        case = await founding.advance(case.id, OTHER, facts, version=case.version)
        assert case.stage == stage
    assert case.facts["preparing"]["group"][0] == ["张伟", "组长"]
    assert case.facts["assembly"]["chair"] == "张伟"
    assert case.facts["approved"]["document"] == "西工发〔2026〕12号"
    assert case.facts["founded"]["uscc"] == FOUNDED.uscc
    assert not case.open
    async with world.db.read() as session:
        union = await session.scalar(select(UnionOrg).where(UnionOrg.kind == "enterprise"))
        stored = await session.get(Enterprise, enterprise)
    assert (union.name, union.uscc, union.enterprise_id, union.founded_on) == (
        FOUNDED.name, FOUNDED.uscc, enterprise, FOUNDED.founded_on,
    )  # fmt: skip
    assert (stored.has_union, stored.union_name) == (True, FOUNDED.name)
    # Every transition is in the audit log, with before and after; no mobile number.
    moves = [(e.before["stage"], e.after["stage"]) for e in await _audit(world, "case.advanced")]
    assert moves == [("following", "preparing"), ("preparing", "assembly"),
                     ("assembly", "approved"), ("approved", "founded")]  # fmt: skip
    founded = (await _audit(world, "case.advanced"))[-1]
    assert "13800138000" not in str(founded.after) and "8000" in founded.after["contact"]
    # A finished case moves no more.
    for attempt in (
        founding.advance(case.id, FEDERATION, FOUNDED),
        founding.back(case.id, FEDERATION, "写错了"),
        founding.pause(case.id, FEDERATION, "refused"),
    ):
        with pytest.raises(CaseRefused) as caught:
            await attempt
        assert caught.value.code == "founded"


async def test_after_founding_the_enterprise_raises_no_alert(
    world: World, founding: FoundingService
) -> None:
    enterprise = await _enterprise(world, 3)
    case = await founding.open(enterprise, FEDERATION)
    for facts in (PREPARING, ASSEMBLY, APPROVED, FOUNDED):
        case = await founding.advance(case.id, FEDERATION, facts)
    await _more_members(world, range(3, THRESHOLD + 1))
    async with world.db.read() as session:
        assert await session.scalar(select(func.count(ThresholdAlert.id))) == 0
        assert (await session.get(Enterprise, enterprise)).member_count == THRESHOLD + 1


async def _more_members(world: World, people: range) -> None:
    for seq in people:
        submitted = await world.intake.submit(3000 + seq, make_draft(world, seq))
        async with world.db.read() as session:
            app_id = await session.scalar(
                select(Application.id).where(Application.number == submitted.number)
            )
        await world.review.approve(app_id, STREET_STAFF, None)


async def test_wrong_facts_and_dates_out_of_order_change_nothing(
    world: World, founding: FoundingService
) -> None:
    case = await founding.open(await _enterprise(world), FEDERATION)
    with pytest.raises(CaseRefused) as caught:
        await founding.advance(case.id, FEDERATION, APPROVED)  # skips two stages
    assert caught.value.code == "facts"
    case = await founding.advance(case.id, FEDERATION, PREPARING)
    early = assembly(PREPARING.approved_on - timedelta(days=1), ("张伟",), "张伟", False)
    with pytest.raises(CaseRefused) as caught:
        await founding.advance(case.id, FEDERATION, early)
    assert caught.value.code == "date_order"
    assert caught.value.extra["latest"] == PREPARING.approved_on
    assert (await founding.get(case.id)).stage == "preparing"


@pytest.mark.parametrize("answer", [None, True])
async def test_the_committee_waits_for_the_article_10_answer(
    world: World, founding: FoundingService, answer: bool | None
) -> None:
    case = await founding.open(await _enterprise(world), FEDERATION)
    case = await founding.advance(case.id, FEDERATION, PREPARING)
    unanswered = assembly(ASSEMBLY.held_on, ASSEMBLY.committee, "张伟", answer)
    with pytest.raises(CaseRefused) as caught:
        await founding.advance(case.id, FEDERATION, unanswered)
    assert caught.value.code == "close_relatives"
    assert caught.value.extra["answered"] is (answer is not None)
    after = await founding.get(case.id)
    assert (after.stage, after.version, "assembly" in after.facts) == (
        "preparing", case.version, False,
    )  # fmt: skip


async def test_back_pause_and_resume(world: World, founding: FoundingService) -> None:
    case = await founding.open(await _enterprise(world), FEDERATION)
    with pytest.raises(CaseRefused) as caught:
        await founding.back(case.id, FEDERATION, "无")
    assert caught.value.code == "first_stage"
    case = await founding.advance(case.id, FEDERATION, PREPARING)
    case = await founding.advance(case.id, FEDERATION, ASSEMBLY)
    case = await founding.back(case.id, OTHER, "委员名单有误需重新选举")
    assert case.stage == "preparing" and "assembly" not in case.facts
    assert case.notes[-1]["text"].endswith("委员名单有误需重新选举")

    case = await founding.pause(case.id, FEDERATION, "refused")
    assert case.paused and case.stage == "preparing"
    with pytest.raises(CaseRefused) as caught:
        await founding.advance(case.id, FEDERATION, ASSEMBLY)
    assert caught.value.code == "paused"
    with pytest.raises(FactError):
        await founding.pause(case.id, FEDERATION, "other")  # "other" needs words
    case = await founding.resume(case.id, OTHER)
    assert (case.paused, case.stage, case.pause_reason) == (False, "preparing", None)
    with pytest.raises(CaseRefused) as caught:
        await founding.resume(case.id, OTHER)
    assert caught.value.code == "not_paused"
    case = await founding.advance(case.id, FEDERATION, ASSEMBLY)
    assert case.stage == "assembly"
    actions = [e.action for e in await _audit_all(world)]
    assert actions == ["case.opened", "case.advanced", "case.advanced", "case.back",
                       "case.paused", "case.resumed", "case.advanced"]  # fmt: skip
    back = (await _audit(world, "case.back"))[0]
    assert back.before["stage"] == "assembly" and back.before["chair"] == "张伟"


async def _audit_all(world: World) -> list[AuditEntry]:
    async with world.db.read() as session:
        return list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("case.%"))
                .order_by(AuditEntry.id)
            )
        )


async def test_the_union_uscc_must_be_a_unions_and_unused(
    world: World, founding: FoundingService
) -> None:
    company = "91110102MA01AB2C4"
    with pytest.raises(FactError) as caught:
        read_founded(f"某工会\n{company}{uscc_check_char(company)}\n2026-11-20\n张伟", TODAY)
    assert (caught.value.code, caught.value.line) == ("uscc.not_union", 2)
    wrong = union_uscc()[:-1] + ("1" if union_uscc()[-1] != "1" else "2")
    with pytest.raises(FactError) as caught:
        read_founded(f"某工会\n{wrong}\n2026-11-20\n张伟", TODAY)
    assert caught.value.code == "uscc.checksum"
    # Another union founded with the same code: refused, nothing changes.
    async with world.db.transaction() as session:
        session.add(UnionOrg(kind="enterprise", name="别的工会", uscc=FOUNDED.uscc))
    case = await founding.open(await _enterprise(world), FEDERATION)
    for facts in (PREPARING, ASSEMBLY, APPROVED):
        case = await founding.advance(case.id, FEDERATION, facts)
    with pytest.raises(CaseRefused) as refused:
        await founding.advance(case.id, FEDERATION, FOUNDED)
    assert refused.value.code == "uscc_taken"
    assert (await founding.get(case.id)).stage == "approved"


# ---------------------------------------------------------------------------- at once


async def test_two_presses_on_one_card_move_the_case_once(
    world: World, founding: FoundingService
) -> None:
    case = await founding.open(await _enterprise(world), FEDERATION)
    results = await asyncio.gather(
        founding.advance(case.id, FEDERATION, PREPARING, version=case.version),
        founding.pause(case.id, OTHER, "refused", version=case.version),
        return_exceptions=True,
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    changed = [r for r in results if isinstance(r, CaseChanged)]
    assert len(done) == 1 and len(changed) == 1, results
    now = await founding.get(case.id)
    assert now.version == case.version + 1
    assert changed[0].case.version == now.version  # told what the first one did
    assert len([e for e in await _audit_all(world) if e.action != "case.opened"]) == 1


async def test_an_old_card_changes_nothing(world: World, founding: FoundingService) -> None:
    case = await founding.open(await _enterprise(world), FEDERATION)
    await founding.note(case.id, OTHER, "已电话联系企业人事经理")
    with pytest.raises(CaseChanged):
        await founding.advance(case.id, FEDERATION, PREPARING, version=case.version)
    assert (await founding.get(case.id)).stage == "following"


async def test_changes_edit_the_sent_card_in_the_federation_group(
    world: World, founding: FoundingService
) -> None:
    case = await founding.open(await _enterprise(world), FEDERATION)
    async with world.db.transaction() as session:  # the sender delivered the card
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == "case_card")
            .values(status="sent", sent_message_id=4242)
        )
    await founding.note(case.id, Actor.cli(), "企业同意下周座谈")
    async with world.db.read() as session:
        edit = await session.scalar(select(OutboxMessage).where(
            OutboxMessage.kind == "case_card_edit"))  # fmt: skip
    assert (edit.chat_id, edit.payload) == (
        FEDERATION_CHAT, {"case_id": case.id, "message_id": 4242},
    )  # fmt: skip


# ---------------------------------------------------------------------------- typed facts


def test_typed_facts_are_read_line_by_line() -> None:
    preparing = read_preparing("日期：2026年9月1日\n张伟 组长\n李娜：副组长\n", TODAY)
    assert preparing == Preparing(date(2026, 9, 1), (("张伟", "组长"), ("李娜", "副组长")))
    held = read_assembly("2026/10/15\n主席：张伟\n委员：李娜、王强", TODAY)
    assert (held.chair, held.committee) == ("张伟", ("张伟", "李娜", "王强"))
    typed = f"工会名称：北京某某公司工会委员会\n{union_uscc()}\n20261120\n联系人：张伟 010-66001234"
    founded = read_founded(typed, TODAY)
    assert (founded.founded_on, founded.contact) == (date(2026, 11, 20), "张伟 010-66001234")


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("2026-13-01\n张伟 组长", "date.format", 1),
        ("2027-01-01\n张伟 组长", "date.future", 1),
        ("2026-09-01\n张伟", "person.role", 2),
        ("2026-09-01\n张伟 组长\n<b>x</b> 成员", "name", 3),
        ("2026-09-01\n张伟 组长\n张伟 成员", "person.twice", 3),
        ("2026-09-01", "lines.missing", None),
    ],
)
def test_bad_typed_facts_name_the_line(text: str, code: str, line: int | None) -> None:
    with pytest.raises(FactError) as caught:
        read_preparing(text, TODAY)
    assert (caught.value.code, caught.value.line) == (code, line)

