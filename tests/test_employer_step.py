"""Workers name their employer: registry matches offered as buttons, a USCC picks directly,
an unknown employer becomes a provisional enterprise shown to staff as such."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.people import Worker, buttons, find_button
from bot.services.registry import import_registry
from bot.validation import uscc_check_char
from models import Application, Enterprise
from tests.conftest import make_resident_id
from tests.live import OUTSIDER_ID, REVIEW_GROUP, Live, live_bot

BYTEDANCE = "北京字节跳动科技有限公司"


def uscc(body17: str) -> str:
    return body17 + uscc_check_char(body17)


REGISTRY = [
    (uscc("91110108MA01XK3E0"), BYTEDANCE),
    (uscc("91110102MA01AB2C3"), "北京字节云图文化传媒有限公司"),
    (uscc("91110102MA01AB2C4"), "北京德胜数码科技有限公司"),
]


async def load_registry(live: Live, tmp_path: Path) -> None:
    rows = ["统一社会信用代码,企业名称,所属街道"] + [f"{u},{n},德胜街道" for u, n in REGISTRY]
    path = tmp_path / "registry.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    db = Database(live.settings.database.url)
    summary = await import_registry(db, path)
    await db.dispose()
    assert summary.added == len(REGISTRY)


async def to_employer_step(live: Live, user_id: int) -> Worker:
    worker = live.worker(user_id, "王五")
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    await worker.say("王五", "身份证号")
    await worker.say(make_resident_id(user_id % 1000), "手机号")
    await worker.say(f"+86139{user_id:08d}", "工作单位")
    return worker


async def enterprise_of(live: Live) -> Enterprise:
    db = Database(live.settings.database.url)
    async with db.read() as session:
        application = await session.scalar(select(Application))
        enterprise = await session.get(Enterprise, application.enterprise_id)
    await db.dispose()
    return enterprise


async def test_abbreviation_offers_buttons_and_the_pick_is_used(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        await load_registry(live, tmp_path)
        worker = await to_employer_step(live, 8101)
        offer = await worker.say("字节跳动", "请选择您的工作单位")
        labels = [label for label, _ in buttons(offer)]
        assert BYTEDANCE in labels and labels[-1] == "以上都不是"
        job = await worker.press(offer, BYTEDANCE, "岗位")
        summary = await worker.press(job, "跳过", "请核对")
        assert BYTEDANCE in summary["text"]
        received = await worker.submit(summary)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        assert BYTEDANCE in card["text"] and "尚未在企业库中登记" not in card["text"]
        enterprise = await enterprise_of(live)
        assert enterprise.name == BYTEDANCE and not enterprise.provisional


async def test_uscc_picks_directly_and_a_wrong_check_character_is_explained(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path) as live:
        await load_registry(live, tmp_path)
        worker = await to_employer_step(live, 8102)
        code = REGISTRY[2][0]
        wrong = code[:-1] + ("1" if code[-1] != "1" else "2")
        await worker.say(wrong, "校验位不正确")
        reply = await worker.say(code.lower(), "已识别工作单位")
        assert "北京德胜数码科技有限公司" in reply["text"]


@pytest.mark.parametrize("typed", ["字节跳动", "西城区老张早点铺"])
async def test_unregistered_employer_becomes_provisional(tmp_path: Path, typed: str) -> None:
    async with live_bot(tmp_path) as live:
        await load_registry(live, tmp_path)
        worker = await to_employer_step(live, 8103)
        reply = await worker.say(typed, "请")
        if "请选择您的工作单位" in reply["text"]:  # near misses are offered first
            reply = await worker.press(reply, "以上都不是", "岗位")
        assert "岗位或职务" in reply["text"]
        summary = await worker.press(reply, "跳过", "请核对")
        received = await worker.submit(summary)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        assert "尚未在企业库中登记" in card["text"]
        enterprise = await enterprise_of(live)
        assert enterprise.provisional and enterprise.name == typed


@pytest.mark.parametrize("forged", ["f:employer:999999", "f:employer:abc", "f:employer:"])
async def test_forged_employer_pick_changes_nothing(tmp_path: Path, forged: str) -> None:
    async with live_bot(tmp_path) as live:
        await load_registry(live, tmp_path)
        worker = await to_employer_step(live, 8104)
        offer = await worker.say("字节跳动", "请选择您的工作单位")
        offered = dict(buttons(offer))
        assert find_button(offer, BYTEDANCE) in offered.values()
        query = live.emu.press_button(
            worker.user_id, worker.user_id, offer["message_id"], forged, forge=True
        )
        await _answered(live, query)
        assert live.emu.callback_answers(query)["show_alert"]
        # Still at the employer step: a real pick works afterwards.
        await worker.press(offer, BYTEDANCE, "岗位")


async def _answered(live: Live, query_id: str) -> None:
    for _ in range(100):
        if live.emu.callback_answers(query_id):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the forged press was not answered")


async def test_staff_fix_the_employer_on_the_review_card(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        await load_registry(live, tmp_path)
        worker = await to_employer_step(live, 8105)
        job = await worker.say("西城区老张早点铺", "岗位")
        summary = await worker.press(job, "跳过", "请核对")
        received = await worker.submit(summary)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        assert "尚未在企业库中登记" in card["text"]

        query = live.emu.press_button(
            OUTSIDER_ID, REVIEW_GROUP, card["message_id"], find_button(card, "更改单位")
        )
        await _answered(live, query)
        assert "只有本街道" in live.emu.callback_answers(query)["text"]

        staff = live.staff()
        mark = live.emu.mark()
        choices = await staff.employer_choices(card, "德胜数码")
        await staff.press(choices, "北京德胜数码科技有限公司", "已将申请")
        edited = await live.emu.wait_for(
            lambda m: (m["chat"]["id"], m["message_id"]) == (REVIEW_GROUP, card["message_id"])
            and "德胜数码" in m.get("text", ""),
            since=mark,
        )
        assert "尚未在企业库中登记" not in edited["text"]
        assert find_button(edited, "通过")  # still waiting for a decision
        enterprise = await enterprise_of(live)
        assert enterprise.name == "北京德胜数码科技有限公司" and not enterprise.provisional
