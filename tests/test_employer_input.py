"""What workers type as their employer, through the real bot: personal numbers are refused
at the form (worker's and staff's paper form alike) and never stored, logged or shown; a
valid USCC is still an employer; enterprises made from workers' text are offered to other
workers only once staff have confirmed them."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import func, select

from bot.people import Worker, buttons, find_button
from bot.validation import uscc_check_char
from models import Application, AuditEntry, Enterprise
from tests.conftest import make_resident_id
from tests.live import (
    FEDERATION_GROUP,
    FEDERATION_ID,
    REVIEW_GROUP,
    STAFF_IDS,
    Live,
    answer_of,
    live_bot,
    settle,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}
EMPLOYER_QUESTION = "请输入您的工作单位全称"
NOT_A_MOBILE = "工作单位一栏不能填写手机号"
NOT_AN_ID = "工作单位一栏不能填写身份证号"
NOT_DIGITS = "工作单位一栏请填写单位名称，不能只填数字"

_user_ids = itertools.count(9101)
_seq = itertools.count(300)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    path: Path = tmp_path_factory.mktemp("employer_input")
    async with live_bot(path, outbox=FAST_OUTBOX) as running:
        yield running
        assert not running.emu.internal_errors


async def at_employer_step(live: Live, *, assisted: bool = False) -> Worker:
    """A fresh worker (or street staff entering a paper form) asked for the employer."""
    user_id = STAFF_IDS[1] if assisted else next(_user_ids)
    person = Worker(live.emu, user_id, "王五") if assisted else live.worker(user_id, "王五")
    if assisted:
        notice = await person.say("/assist", "代录纸质申请")
    else:
        notice = await person.open_form(live.point_code)
    await person.press(notice, "职工已同意" if assisted else "同意处理", "姓名")
    await person.say("王五", "身份证号")
    await person.say(make_resident_id(next(_seq)), "手机号")
    await person.say("13911112222", "工作单位")
    await settle(live)
    return person


async def form_of(live: Live, user_id: int) -> tuple[str | None, dict[str, Any]]:
    key = StorageKey(bot_id=live.app.me.id, chat_id=user_id, user_id=user_id)
    context = FSMContext(live.app.dispatcher.storage, key)
    return await context.get_state(), await context.get_data()


async def enterprise_names(live: Live) -> list[str]:
    async with live.app.db.read() as session:
        return list(await session.scalars(select(Enterprise.name)))


async def application_count(live: Live) -> int:
    async with live.app.db.read() as session:
        return int(await session.scalar(select(func.count(Application.id))) or 0)


PERSONAL = {
    "the trial's mobile numbers": ("+86170123456788613800138000", NOT_A_MOBILE),
    "a mobile number": ("17012345678", NOT_A_MOBILE),
    "a mobile number with separators": ("+86 170-1234-5679", NOT_A_MOBILE),
    "a name and a mobile number": ("字节跳动 17012345670", NOT_A_MOBILE),
    "a resident id number": (make_resident_id(901), NOT_AN_ID),
    "a resident id with a wrong check digit": ("11010219900517901" + "0", NOT_AN_ID),
    "a landline": ("010-6601 2345", NOT_DIGITS),
    "mostly digits": ("12345 号", NOT_DIGITS),
}


@pytest.mark.parametrize("assisted", [False, True], ids=["worker", "paper form"])
@pytest.mark.parametrize("kind", list(PERSONAL))
async def test_personal_numbers_typed_as_the_employer_are_refused(
    live: Live, kind: str, assisted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    typed, expected = PERSONAL[kind]
    person = await at_employer_step(live, assisted=assisted)
    before = await form_of(live, person.user_id)
    enterprises, applications = await enterprise_names(live), await application_count(live)

    reply = await person.say(typed, "工作单位一栏")
    await settle(live)

    assert expected in reply["text"] and len(reply["text"]) < 80, reply["text"]
    assert await form_of(live, person.user_id) == before  # still asked for the employer
    assert await enterprise_names(live) == enterprises
    assert await application_count(live) == applications
    digits = "".join(ch for ch in typed if ch.isdigit())
    assert digits.encode() not in live.store.stored_bytes(with_log=live.store.is_sqlite)
    assert digits not in caplog.text
    # A real employer is taken afterwards: the refusal left the form as it was.
    await person.say("西城区老张早点铺", "岗位")


def uscc(body17: str) -> str:
    return body17 + uscc_check_char(body17)


async def test_a_valid_uscc_of_digits_is_still_an_employer(live: Live) -> None:
    code = uscc("91110102000012345")  # nearly all digits, unknown to the registry
    worker = await at_employer_step(live)
    await worker.say(code, "企业库中没有这个统一社会信用代码，请再输入单位名称")
    job = await worker.say("德胜早点铺", "岗位")
    summary = await worker.press(job, "跳过", "请核对")
    assert summary is not None
    received = await worker.submit(summary)
    number = received["text"].split("申请编号 ")[1].split("。")[0]
    await live.emu.wait_for(REVIEW_GROUP, number, since=0)
    async with live.app.db.read() as session:
        enterprise = await session.scalar(select(Enterprise).where(Enterprise.uscc == code))
    assert enterprise is not None and enterprise.name == "德胜早点铺"


async def test_too_long_names_the_field_and_its_limit(live: Live) -> None:
    worker = await at_employer_step(live)
    reply = await worker.say("工" * 101, "工作单位")
    assert "工作单位最多 100 个字" in reply["text"]
    job = await worker.say("鑫瑞德传媒", "岗位")
    reply = await worker.say("焊" * 61, "岗位")
    assert "岗位最多 60 个字" in reply["text"] and buttons(job)


# --- provisional enterprises are offered to workers only once staff confirmed them ------


async def submit_from_employer_step(live: Live, worker: Worker, employer: str) -> str:
    """Type the employer (no offer expected), skip the job, submit; the application number."""
    job = await worker.say(employer, "请")
    assert "岗位或职务" in job["text"], job["text"]  # neither buttons nor "已识别"
    summary = await worker.press(job, "跳过", "请核对")
    assert summary is not None
    received = await worker.submit(summary)
    return str(received["text"].split("申请编号 ")[1].split("。")[0])


async def enterprise_of(live: Live, number: str) -> Enterprise:
    async with live.app.db.read() as session:
        application = await session.scalar(select(Application).where(Application.number == number))
        assert application is not None
        return await session.get_one(Enterprise, application.enterprise_id)


async def test_unconfirmed_provisional_enterprises_are_never_offered(live: Live) -> None:
    first = await submit_from_employer_step(live, await at_employer_step(live), "瑞丰祥文化传媒")
    typed_by_one = await enterprise_of(live, first)

    # Someone else's near spelling: no button with the first worker's text.
    worker = await at_employer_step(live)
    near = await submit_from_employer_step(live, worker, "瑞丰祥传媒")
    assert "瑞丰祥文化传媒" not in str([m.get("text") for m in live.emu.messages(worker.user_id)])
    assert (await enterprise_of(live, near)).id != typed_by_one.id

    # Typed the same way: no "已识别工作单位", but counted with the first one.
    same = await submit_from_employer_step(live, await at_employer_step(live), "瑞丰祥文化传媒")
    assert (await enterprise_of(live, same)).id == typed_by_one.id
    assert typed_by_one.provisional and typed_by_one.confirmed_at is None


async def test_staff_approval_confirms_and_then_it_is_offered(live: Live) -> None:
    number = await submit_from_employer_step(live, await at_employer_step(live), "德润昌物流")
    card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
    await live.staff().press(card, "通过", "已通过")
    await settle(live)
    enterprise = await enterprise_of(live, number)
    assert enterprise.confirmed_at is not None

    worker = await at_employer_step(live)
    offer = await worker.say("德润昌", "请选择您的工作单位")
    assert buttons(offer)[0][0] == "德润昌物流"
    job = await worker.press(offer, "德润昌物流", "岗位")
    assert job is not None


async def test_staff_searches_show_unconfirmed_ones_marked_and_a_pick_confirms(
    live: Live,
) -> None:
    typed = await submit_from_employer_step(live, await at_employer_step(live), "恒远兴装饰")
    provisional = await enterprise_of(live, typed)
    other = await submit_from_employer_step(live, await at_employer_step(live), "西城早点铺子")
    card = await live.emu.wait_for(REVIEW_GROUP, other, since=0)

    staff = live.staff()
    choices = await staff.employer_choices(card, "恒远兴")
    assert [label for label, _ in buttons(choices)] == ["恒远兴装饰·临时，未确认（0）"]
    await staff.press(choices, "恒远兴装饰", "已将申请")
    await settle(live)
    async with live.app.db.read() as session:
        picked = await session.get_one(Enterprise, provisional.id)
    assert picked.confirmed_at is not None

    worker = await at_employer_step(live)
    offer = await worker.say("恒远兴", "请选择您的工作单位")
    assert "恒远兴装饰" in [label for label, _ in buttons(offer)]


async def test_federation_staff_confirm_with_a_command(live: Live) -> None:
    typed = await submit_from_employer_step(live, await at_employer_step(live), "宏泰源五金")
    enterprise = await enterprise_of(live, typed)
    federation = live.staff(FEDERATION_ID)
    found = await federation.say("/search 宏泰源", "宏泰源五金", FEDERATION_GROUP)
    assert found["text"] == f"{enterprise.id} 宏泰源五金 · 0 人 · 临时，未确认"
    live.emu.set_member_status(FEDERATION_GROUP, STAFF_IDS[0], "member", by_user_id=FEDERATION_ID)
    await live.staff(STAFF_IDS[0]).say(
        f"/confirm {enterprise.id}", "只有区总工会工作人员", FEDERATION_GROUP
    )
    reply = await federation.say(f"/confirm {enterprise.id}", "已确认", FEDERATION_GROUP)
    assert reply["text"].endswith(f"{enterprise.id} 宏泰源五金 · 0 人 · 临时")
    await federation.say(f"/confirm {enterprise.id}", "此前已确认", FEDERATION_GROUP)
    async with live.app.db.read() as session:
        audit = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "enterprise.confirmed",
                    AuditEntry.subject_id == str(enterprise.id),
                )
            )
        )
    assert [entry.actor_user_id for entry in audit] == [FEDERATION_ID]

    worker = await at_employer_step(live)
    offer = await worker.say("宏泰源", "请选择您的工作单位")
    assert "宏泰源五金" in [label for label, _ in buttons(offer)]


async def test_federation_staff_manage_aliases_with_a_command(live: Live) -> None:
    typed = await submit_from_employer_step(live, await at_employer_step(live), "翠微湖冷链")
    enterprise = await enterprise_of(live, typed)
    federation = live.staff(FEDERATION_ID)
    await federation.say(f"/confirm {enterprise.id}", "已确认", FEDERATION_GROUP)
    await federation.say("/alias", "用法", FEDERATION_GROUP)
    await federation.say(f"/alias {enterprise.id} * 翠微", "用法", FEDERATION_GROUP)
    listed = await federation.say(f"/alias {enterprise.id}", "别名", FEDERATION_GROUP)
    assert listed["text"].endswith("别名：（还没有别名）")

    # Two at once; a name with HTML's characters is shown as typed (escaped on the way).
    added = await federation.say(
        f"/alias {enterprise.id} + 翠微快运；Hongtai <Express>", "已添加", FEDERATION_GROUP
    )
    assert added["text"].endswith("别名：翠微快运、Hongtai <Express>"), added["text"]
    await federation.say(
        f"/alias {enterprise.id} + 翠微 快运", "已经是这家企业的别名", FEDERATION_GROUP
    )
    live.emu.set_member_status(FEDERATION_GROUP, STAFF_IDS[0], "member", by_user_id=FEDERATION_ID)
    await live.staff(STAFF_IDS[0]).say(
        f"/alias {enterprise.id} + 翠微", "只有区总工会工作人员", FEDERATION_GROUP
    )
    await federation.say("/alias 999999", "找不到这家企业", FEDERATION_GROUP)

    # Workers who call it by the alias find it.
    found = await live.app.dispatcher["enterprises"].suggest("翠微快运", None)
    assert found.auto == enterprise.id

    removed = await federation.say(f"/alias {enterprise.id} - 翠微快运", "已删除", FEDERATION_GROUP)
    assert removed["text"].endswith("别名：Hongtai <Express>")
    await federation.say(
        f"/alias {enterprise.id} - 翠微快运", "不是这家企业的别名", FEDERATION_GROUP
    )


async def test_a_reviewers_correction_is_proposed_and_learned(live: Live) -> None:
    """A worker types what their employer is called; the reviewer changes the employer on
    the card; the federation group is asked whether that is an alias; accepted, the next
    worker typing it is matched at once."""
    target_number = await submit_from_employer_step(
        live, await at_employer_step(live), "北京嘉禾顺达家政服务有限公司"
    )
    target = await enterprise_of(live, target_number)
    federation = live.staff(FEDERATION_ID)
    await federation.say(f"/confirm {target.id}", "已确认", FEDERATION_GROUP)

    number = await submit_from_employer_step(live, await at_employer_step(live), "祥和居家政")
    card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
    staff = live.staff()
    choices = await staff.employer_choices(card, "嘉禾顺达")
    mark = live.emu.mark()
    await staff.press(choices, "北京嘉禾顺达家政服务有限公司", "已将申请")
    proposal = await live.emu.wait_for(FEDERATION_GROUP, "别名建议", since=mark)
    assert "职工的叫法：“祥和居家政”" in proposal["text"]
    assert f"企业：{target.id} 北京嘉禾顺达家政服务有限公司" in proposal["text"]
    assert number in proposal["text"]
    await live.emu.wait_for(  # the card, edited through the outbox
        lambda m: (m["chat"]["id"], m["message_id"]) == (REVIEW_GROUP, card["message_id"])
        and "职工填写：祥和居家政" in m.get("text", ""),
        since=mark,
    )

    # Street staff are in the group too, but only federation staff decide.
    live.emu.set_member_status(FEDERATION_GROUP, STAFF_IDS[0], "member", by_user_id=FEDERATION_ID)
    pressed = live.emu.press_button(
        STAFF_IDS[0], FEDERATION_GROUP, proposal["message_id"], find_button(proposal, "采用为别名")
    )
    assert "只有区总工会工作人员" in (await answer_of(live, pressed))["text"]
    listed = await federation.say("/alias", "待处理的别名建议", FEDERATION_GROUP)
    assert "“祥和居家政” → " in listed["text"]

    decided = await federation.press(proposal, "采用为别名", "已采用为别名")
    assert decided is not None and not decided.get("reply_markup")
    again = live.emu.press_button(
        FEDERATION_ID, FEDERATION_GROUP, proposal["message_id"], find_button(proposal, "不采用"),
        forge=True,
    )  # fmt: skip
    assert "已由" in (await answer_of(live, again))["text"]
    listed = await federation.say("/alias", "用法", FEDERATION_GROUP)
    assert "祥和居家政" not in listed["text"]

    worker = await at_employer_step(live)
    await worker.say("祥和居家政", "已识别工作单位：北京嘉禾顺达家政服务有限公司")
