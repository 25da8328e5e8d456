"""A founding case in the federation group, through the real bot and the emulator: the
alert's follow-up opens the case card, its buttons ask for typed facts with ForceReply,
bad facts get a clear answer, the art. 10 question guards the committee, old and forged
presses change nothing, and /cases lists the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.callbacks import CaseCb
from bot.people import Person, WorkerData, find_button
from models import AuditEntry, FoundingCase
from tests.conftest import make_resident_id
from tests.live import (
    FEDERATION_GROUP,
    FEDERATION_ID,
    REVIEW_GROUP,
    Live,
    answer_of,
    live_bot,
    settle,
)

TIMEOUT = 15.0
ENTERPRISE = "北京德胜数码科技有限公司"


async def _alert(live: Live) -> dict[str, Any]:
    for i, user_id in enumerate((1601, 1602)):
        worker = live.worker(user_id, f"职工{i}")
        data = WorkerData(
            f"张{'一二'[i]}", make_resident_id(810 + i), f"+861390000081{i}", ENTERPRISE
        )
        received = await worker.apply(live.point_code, data)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
        await live.staff().press(card, "通过", "已通过")
    return await live.emu.wait_for(FEDERATION_GROUP, "建会提示", since=0, timeout=TIMEOUT)


async def _reply(live: Live, person: Person, prompt: dict[str, Any], text: str, expect: str):
    mark = live.emu.mark()
    live.emu.send_text(person.user_id, text, FEDERATION_GROUP, reply_to=prompt["message_id"])
    return await live.emu.wait_for(FEDERATION_GROUP, expect, since=mark, timeout=TIMEOUT)


async def _answer(live: Live, query: str) -> dict[str, Any]:
    answer = await answer_of(live, query, TIMEOUT)
    await settle(live)
    return answer


async def _case(live: Live) -> FoundingCase:
    async with live.app.db.read() as session:
        return await session.scalar(select(FoundingCase))


async def test_the_federation_follows_a_case_from_the_alert(tmp_path: Path) -> None:
    async with live_bot(tmp_path, threshold=2) as live:
        alert = await _alert(live)
        federation = live.staff(FEDERATION_ID)
        mark = live.emu.mark()
        await federation.press(alert, "我来跟进", "跟进人")
        card = await live.emu.wait_for(FEDERATION_GROUP, "建会工作 #", since=mark)
        assert ENTERPRISE in card["text"] and "跟进中" in card["text"]
        assert "区总工会李明" in card["text"]  # the presser owns the case

        # Bad facts are answered with the line that is wrong, and change nothing.
        prompt = await federation.press(card, "筹备组已批准", "请回复本条消息")
        wrong = await _reply(live, federation, prompt, "2099-01-01\n张伟 组长", "第 1 行")
        assert "还没到" in wrong["text"]
        wrong = await _reply(live, federation, prompt, "2026-09-01\n张伟", "第 2 行")
        assert "缺少职务" in wrong["text"]
        assert (await _case(live)).stage == "following"
        mark = live.emu.mark()
        await _reply(live, federation, prompt, "2026-09-01\n张伟 组长\n李娜 副组长", "已记录")
        card = await live.emu.wait_for(
            FEDERATION_GROUP, "筹备组：张伟（组长）", since=mark, kinds=("edited",)
        )
        assert "筹备中" in card["text"]

        # The committee waits for the art. 10 answer; "yes" records nothing.
        prompt = await federation.press(card, "会员大会已召开", "请回复本条消息")
        question = await _reply(live, federation, prompt, "2026-10-15\n张伟\n张伟、李娜", "近亲属")
        refused = await federation.press(question, "有近亲属", "不能担任")
        assert refused is not None and (await _case(live)).stage == "preparing"
        again = await live.emu.wait_for(FEDERATION_GROUP, "记录会员大会", timeout=TIMEOUT)
        question = await _reply(live, federation, again, "2026-10-15\n张伟\n张伟、李娜", "近亲属")
        mark = live.emu.mark()
        await federation.press(question, "没有", wait=False)
        card = await live.emu.wait_for(
            FEDERATION_GROUP, "主席：张伟", since=mark, kinds=("edited",), timeout=TIMEOUT
        )
        assert (await _case(live)).stage == "assembly"

        # /cases lists the work; every move is in the audit log.
        listing = await federation.say("/cases", "进行中的建会工作", FEDERATION_GROUP)
        assert ENTERPRISE in listing["text"] and "会员大会已召开" in listing["text"]
        async with live.app.db.read() as session:
            moves = list(
                await session.scalars(
                    select(AuditEntry.action)
                    .where(AuditEntry.action.like("case.%"))
                    .order_by(AuditEntry.id)
                )
            )
        assert moves == ["case.opened", "case.advanced", "case.advanced"]
        assert not live.emu.internal_errors


async def test_old_and_forged_presses_on_a_case_card_change_nothing(tmp_path: Path) -> None:
    async with live_bot(tmp_path, threshold=2) as live:
        alert = await _alert(live)
        federation = live.staff(FEDERATION_ID)
        mark = live.emu.mark()
        await federation.press(alert, "我来跟进", "跟进人")
        first = await live.emu.wait_for(FEDERATION_GROUP, "建会工作 #", since=mark)
        case = await _case(live)

        # A second card for the same case; the first is then older than the case.
        mark = live.emu.mark()
        await federation.say(f"/case {case.id}", None, FEDERATION_GROUP)
        second = await live.emu.wait_for(FEDERATION_GROUP, "建会工作 #", since=mark)
        await federation.press(second, "暂缓")  # the card's keyboard is edited
        reasons = live.emu.message(FEDERATION_GROUP, second["message_id"])
        assert "企业拒绝" in str(reasons["reply_markup"])  # the reasons, on the same card
        mark = live.emu.mark()
        await federation.press(reasons, "企业拒绝", wait=False)
        paused = await live.emu.wait_for(
            FEDERATION_GROUP, "暂缓（企业拒绝）", since=mark, kinds=("edited",), timeout=TIMEOUT
        )
        assert paused["message_id"] == second["message_id"]
        assert (await _case(live)).paused

        # The first card still shows "advance" at version 1: refused, and refreshed.
        query = live.emu.press_button(
            FEDERATION_ID, FEDERATION_GROUP, first["message_id"],
            find_button(first, "筹备组已批准"),
        )  # fmt: skip
        answer = await _answer(live, query)
        assert answer["show_alert"] and "刚刚有了变化" in answer["text"]
        refreshed = live.emu.message(FEDERATION_GROUP, first["message_id"])
        assert "暂缓" in refreshed["text"]

        # Forged data (another version, another case) on a real card: refused.
        for data in (
            CaseCb(action="resume", case=case.id, v=case.version + 5).pack(),
            CaseCb(action="resume", case=case.id + 100, v=1).pack(),
        ):
            query = live.emu.press_button(
                FEDERATION_ID, FEDERATION_GROUP, second["message_id"], data, forge=True
            )
            assert (await _answer(live, query))["show_alert"]
        assert (await _case(live)).paused

        # Workers and street staff may not touch a case, even with real buttons.
        live.emu.set_member_status(FEDERATION_GROUP, 1601, "member")
        current = live.emu.message(FEDERATION_GROUP, second["message_id"])
        query = live.emu.press_button(
            1601, FEDERATION_GROUP, current["message_id"], find_button(current, "恢复")
        )
        assert "只有区总工会" in (await _answer(live, query))["text"]
        assert (await _case(live)).paused
        assert not live.emu.internal_errors
