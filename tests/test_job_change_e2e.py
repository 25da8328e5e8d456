"""/transfer through the real bot: a member with a new job asks, the new workplace's street
accepts on the card, the member is told and gets a new card; another member keeps their
membership; a press by someone who does not review changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.people import Worker, WorkerData, find_button
from tests.conftest import make_resident_id
from tests.live import OUTSIDER_ID, REVIEW_GROUP, Live, live_bot

OLD = "北京字节跳动科技有限公司"
NEW = "西城区老张早点铺"


async def _member(live: Live, user_id: int, n: int) -> Worker:
    worker = live.worker(user_id, f"职工{n}")
    data = WorkerData(f"张{'一二三'[n]}", make_resident_id(830 + n), f"+861390000083{n}", OLD)
    received = await worker.apply(live.point_code, data)
    number = received["text"].split("申请编号 ")[1].split("。")[0]
    card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
    await live.staff().press(card, "通过", "已通过")
    await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == user_id, since=0)
    return worker


async def test_a_member_moves_to_a_new_job_and_another_keeps_the_membership(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path) as live:
        mover = await _member(live, 1801, 0)
        choice = await mover.say("/transfer", "发生了什么变化")
        assert OLD in choice["text"]
        await mover.press(choice, "我换了新工作", "新工作单位")
        confirm = await mover.say(NEW, "确认提交")
        mark = live.emu.mark()
        await mover.press(confirm, "确认", wait=False)
        await live.emu.wait_for(mover.user_id, "已提交会籍接转申请", since=mark)
        card = await live.emu.wait_for(REVIEW_GROUP, "会籍接转申请", since=mark)
        assert NEW in card["text"] and "尚未在企业库中登记" in card["text"]

        again = await mover.say("/transfer", "正在审核")  # one request at a time
        assert "等待结果" in again["text"]

        # Someone who does not review this street: refused, nothing changes.
        query = live.emu.press_button(
            OUTSIDER_ID, REVIEW_GROUP, card["message_id"], find_button(card, "接收")
        )
        for _ in range(200):
            if live.emu.callback_answers(query):
                break
            await asyncio.sleep(0.05)
        assert "只有" in live.emu.callback_answers(query)["text"]

        mark = live.emu.mark()
        await live.staff().press(card, "✅ 接收", wait=False)
        told = await live.emu.wait_for(mover.user_id, "会籍已转入", since=mark)
        assert NEW in told["text"]
        await live.emu.wait_for(
            lambda m: "photo" in m and m["chat"]["id"] == mover.user_id, since=mark
        )
        decided = live.emu.message(REVIEW_GROUP, card["message_id"])
        assert "已接收" in decided["text"] and not decided.get("reply_markup")

        keeper = await _member(live, 1802, 1)
        choice = await keeper.say("/transfer", "发生了什么变化")
        confirm = await keeper.press(choice, "保留会籍", "确认保留会籍")
        done = await keeper.press(confirm, "确认", "已为您保留会籍")
        assert "/transfer" in done["text"]
        status = await keeper.say("/status", "会员编号")
        assert "保留会籍" in status["text"]
        assert not live.emu.internal_errors
