"""Membership transfer through the real bot: the founded case's card starts it, the
sender's job moves the members, each is told once with a new card naming the new union,
the federation group gets the member list as an Excel file, an old card's QR says where
the membership went, and /status shows the history."""

from __future__ import annotations

import io
from pathlib import Path

import zxingcpp
from openpyxl import load_workbook
from PIL import Image

from bot.people import WorkerData
from bot.services.audit import Actor
from bot.services.founding import FoundingService
from tests.conftest import make_resident_id
from tests.live import FEDERATION_GROUP, FEDERATION_ID, REVIEW_GROUP, live_bot
from tests.test_founding import APPROVED, ASSEMBLY, FOUNDED, PREPARING

TIMEOUT = 20.0
ENTERPRISE = "北京德胜数码科技有限公司"
JOINT = "德胜街道工会联合会"


async def test_the_founded_union_receives_its_members(tmp_path: Path) -> None:
    async with live_bot(tmp_path, threshold=2) as live:
        workers = []
        for i, user_id in enumerate((1701, 1702)):
            worker = live.worker(user_id, f"职工{i}")
            data = WorkerData(
                f"张{'一二'[i]}", make_resident_id(820 + i), f"+861390000082{i}", ENTERPRISE
            )
            received = await worker.apply(live.point_code, data)
            number = received["text"].split("申请编号 ")[1].split("。")[0]
            card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
            await live.staff().press(card, "通过", "已通过")
            workers.append(worker)
        old_card = await live.emu.wait_for(
            lambda m: "photo" in m and m["chat"]["id"] == 1701, since=0, timeout=TIMEOUT
        )
        alert = await live.emu.wait_for(FEDERATION_GROUP, "建会提示", since=0, timeout=TIMEOUT)
        federation = live.staff(FEDERATION_ID)
        mark = live.emu.mark()
        await federation.press(alert, "我来跟进", "跟进人")
        case_card = await live.emu.wait_for(FEDERATION_GROUP, "建会工作 #", since=mark)

        founding = FoundingService(live.app.db, federation_chat_id=FEDERATION_GROUP)
        case = (await founding.list())[0]
        for facts in (PREPARING, ASSEMBLY, APPROVED, FOUNDED):
            case = await founding.advance(case.id, Actor(FEDERATION_ID, "区总工会李明"), facts)
        founded = await live.emu.wait_for(
            lambda m: m["message_id"] == case_card["message_id"] and "会籍接转" in m["text"],
            kinds=("edited",), timeout=TIMEOUT,
        )  # fmt: skip
        assert "2 名会员待转入" in founded["text"]

        mark = live.emu.mark()
        await federation.press(founded, "会籍接转", wait=False)
        done = await live.emu.wait_for(
            lambda m: "document" in m and m["chat"]["id"] == FEDERATION_GROUP,
            since=mark, timeout=TIMEOUT,
        )  # fmt: skip
        assert "会籍接转完成" in done["caption"] and FOUNDED.name in done["caption"]
        book = load_workbook(io.BytesIO(live.emu.file_bytes(done["document"]["file_id"])))
        rows = list(book.active.iter_rows(values_only=True))
        assert rows[0][:2] == ("会员编号", "姓名") and len(rows) == 3
        assert all("*" in str(row[5]) for row in rows[1:])  # masked in a group

        for worker in workers:
            told = await live.emu.wait_for(worker.user_id, "会籍已转入", since=mark)
            assert JOINT in told["text"] and FOUNDED.name in told["text"]
            await live.emu.wait_for(
                lambda m, uid=worker.user_id: "photo" in m and m["chat"]["id"] == uid,
                since=mark, timeout=TIMEOUT,
            )  # fmt: skip
        moved_notices = [
            m for m in live.emu.messages(1701) if "会籍已转入" in (m.get("text") or "")
        ]
        assert len(moved_notices) == 1  # told once

        # The old card (joint union on its face) says where the membership went.
        image = Image.open(io.BytesIO(live.emu.file_bytes(old_card["photo"][-1]["file_id"])))
        link = zxingcpp.read_barcodes(image)[0].text
        verifier = live.worker(2702, "保安")
        reply = await verifier.say("/start " + link.split("start=")[1], "有效会员卡")
        assert f"所属工会：{FOUNDED.name}" in reply["text"]
        assert f"由{JOINT}转入" in reply["text"]

        status = await workers[0].say("/status", "会员编号")
        assert f"所属工会：{FOUNDED.name}" in status["text"]
        assert f"会籍由{JOINT}转入{FOUNDED.name}" in status["text"]
        assert not live.emu.internal_errors
