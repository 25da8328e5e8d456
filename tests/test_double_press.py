"""A button pressed twice (a double tap, or an old message pressed again) after it worked:
the person hears that it is already done, not that the button is broken; nothing happens
twice. Through the real bot and the emulator."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.people import Worker, WorkerData, find_button
from models import Application, Enterprise
from tests.conftest import make_resident_id
from tests.live import STAFF_IDS, Live, live_bot, settle

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}
TIMEOUT = 10.0
STALE = "这个按钮已失效"
REGISTERED = "北京德胜数码科技有限公司"
_workers = itertools.count(9701)
_seq = itertools.count(500)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    path: Path = tmp_path_factory.mktemp("double_press")
    async with live_bot(path, outbox=FAST_OUTBOX) as running:
        async with running.app.db.transaction() as session:
            session.add(Enterprise(name=REGISTERED, name_key="德胜数码科技", provisional=False))
        yield running
        assert not running.emu.internal_errors


async def answer_of(live: Live, query_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while (answer := live.emu.callback_answers(query_id)) is None:
        assert time.monotonic() < deadline, "the press was not answered"
        await asyncio.sleep(0.02)
    return answer


async def double_tap(live: Live, user_id: int, message: dict, label: str) -> dict[str, Any]:
    """Two taps on the same button before the bot has answered the first; the answer to
    the second, once both are processed."""
    data = find_button(message, label)
    chat = message["chat"]["id"]
    first = live.emu.press_button(user_id, chat, message["message_id"], data)
    second = live.emu.press_button(user_id, chat, message["message_id"], data)
    await answer_of(live, first)
    answer = await answer_of(live, second)
    await settle(live)
    return answer


def count(live: Live, user_id: int, text: str) -> int:
    return sum(text in (m.get("text") or "") for m in live.emu.messages(user_id))


def data_for(user_id: int) -> WorkerData:
    return WorkerData("王五", make_resident_id(next(_seq)), "13911112222", "西城早点铺")


async def test_double_tap_on_consent(live: Live) -> None:
    worker = live.worker(next(_workers))
    notice = await worker.open_form(live.point_code)
    answer = await double_tap(live, worker.user_id, notice, "同意处理")
    assert "已记录您的同意" in answer["text"] and not answer["show_alert"], answer
    assert count(live, worker.user_id, "请输入您的姓名") == 1


async def test_double_tap_on_decline(live: Live) -> None:
    worker = live.worker(next(_workers))
    notice = await worker.open_form(live.point_code)
    answer = await double_tap(live, worker.user_id, notice, "不同意")
    assert "您未同意，我们没有保存任何信息" in answer["text"] and not answer["show_alert"]


async def test_double_tap_on_submit_and_a_later_press(live: Live) -> None:
    worker = live.worker(next(_workers))
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    summary = await worker.fill(data_for(worker.user_id))
    answer = await double_tap(live, worker.user_id, summary, "提交申请")
    async with live.app.db.read() as session:
        numbers = list(
            await session.scalars(
                select(Application.number).where(Application.telegram_user_id == worker.user_id)
            )
        )
    assert len(numbers) == 1
    assert f"您已提交申请 {numbers[0]}，正在审核中" in answer["text"], answer
    assert not answer["show_alert"]

    # Much later, the old button (no longer shown, so a modified or stale client).
    query = live.emu.press_button(
        worker.user_id, worker.user_id, summary["message_id"], find_button(summary, "提交申请"),
        forge=True,
    )  # fmt: skip
    assert f"您已提交申请 {numbers[0]}" in (await answer_of(live, query))["text"]


async def test_double_taps_on_employer_and_skip(live: Live) -> None:
    worker = live.worker(next(_workers))
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    await worker.say("王五", "身份证号")
    await worker.say(make_resident_id(next(_seq)), "手机号")
    await worker.say("13911112222", "工作单位")
    job = await worker.say("西城区老张早点铺", "岗位")
    answer = await double_tap(live, worker.user_id, job, "跳过")
    assert "已跳过岗位" in answer["text"] and STALE not in answer["text"]
    summary = worker.last()
    await worker.press(summary, "工作单位", "工作单位全称")
    offer = await worker.say("德胜数码", "请选择您的工作单位")
    answer = await double_tap(live, worker.user_id, offer, REGISTERED)
    assert f"已记录工作单位：{REGISTERED}" in answer["text"] and not answer["show_alert"]


async def test_double_tap_on_the_staffs_paper_form_submit(live: Live) -> None:
    clerk = Worker(live.emu, STAFF_IDS[1], "审核员502")
    notice = await clerk.say("/assist", "代录纸质申请")
    await clerk.press(notice, "职工已同意", "职工的姓名")
    await clerk.say("赵六", "职工的 18 位身份证号")
    await clerk.say(make_resident_id(next(_seq)), "职工本人的 11 位手机号")
    await clerk.say("13800001111", "职工工作单位")
    job = await clerk.say("西城早点铺", "岗位")
    summary = await clerk.press(job, "跳过", "请核对")
    assert summary is not None
    answer = await double_tap(live, clerk.user_id, summary, "提交申请")
    async with live.app.db.read() as session:
        entered = list(
            await session.scalars(
                select(Application.number).where(Application.assisted_by_user_id == clerk.user_id)
            )
        )
    assert len(entered) == 1 and f"申请 {entered[0]} 已提交" in answer["text"], answer


async def test_double_tap_on_the_deletion_confirmation(live: Live) -> None:
    worker = live.worker(next(_workers))
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    await worker.submit(await worker.fill(data_for(worker.user_id)))
    plan = await worker.say("/delete", "删除我的信息")
    answer = await double_tap(live, worker.user_id, plan, "确认删除")
    assert "已删除" in answer["text"] and not answer["show_alert"], answer
    async with live.app.db.read() as session:
        left = await session.scalar(
            select(func.count(Application.id)).where(
                Application.telegram_user_id == worker.user_id,
                Application.anonymised_at.is_(None),
            )
        )
    assert left == 0
