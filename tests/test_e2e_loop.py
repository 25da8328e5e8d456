"""The whole loop through the real bot, over HTTP, against the emulator."""

from __future__ import annotations

import io
from pathlib import Path

import zxingcpp
from PIL import Image

from bot.people import WorkerData, review_card
from tests.conftest import make_resident_id
from tests.glyphs import EXT_B, ext_b_face
from tests.live import FEDERATION_GROUP, REVIEW_GROUP, live_bot


async def test_apply_approve_card_and_verify(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = live.worker(1001, "王小明")
        data = WorkerData(
            "王小明", make_resident_id(7), "+8613812345678", "北京字节跳动科技有限公司"
        )
        received = await worker.apply(live.point_code, data)
        number = received["text"].split("申请编号 ")[1].split("。")[0]

        card = await live.emu.wait_for(REVIEW_GROUP, number)
        assert "110102********" in card["text"] and "138****5678" in card["text"]
        assert data.resident_id not in card["text"] and "13812345678" not in card["text"]
        assert "新街口社区" in card["text"] and "0/25" in card["text"]

        staff = live.staff()
        await staff.press(card, "通过", "已通过")
        decided = review_card(live.emu, REVIEW_GROUP, number)
        assert "已通过" in decided["text"] and "审核员501" in decided["text"]
        assert not decided.get("reply_markup")

        approved = await live.emu.wait_for(1001, "恭喜")
        assert "DS-" in approved["text"]
        photo = await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == 1001)
        biggest = photo["photo"][-1]
        image = Image.open(io.BytesIO(live.emu.file_bytes(biggest["file_id"])))
        assert abs(image.width / image.height - 1000 / 630) < 0.02
        decoded = zxingcpp.read_barcodes(image)
        assert decoded, "no QR code found on the member card"
        link = decoded[0].text
        assert link.startswith("https://t.me/unionbot_demo_bot?start=v_")

        verifier = live.worker(2002, "保安")
        reply = await verifier.say("/start " + link.split("start=")[1], "有效会员卡")
        assert "DS-" in reply["text"] and data.resident_id not in reply["text"]
        token = link.split("start=")[1]
        forged = token[:-1] + ("x" if token[-1] != "x" else "y")
        await verifier.say("/start " + forged, "无法验证")

        status = await worker.say("/status", "会员编号")
        assert "一张会员卡" in status["text"]
        assert not live.emu.internal_errors
        assert FEDERATION_GROUP not in {m["chat"]["id"] for m in live.emu.messages(REVIEW_GROUP)}


async def test_worker_with_a_rare_character_in_the_name_gets_the_card(tmp_path: Path) -> None:
    # 𠀀 (CJK Extension B) is not in the main font: the card is drawn with the fallback
    # font the name check asked, instead of failing in the outbox until it is dropped.
    async with live_bot(tmp_path) as live:
        ext_b_face(live.app.dispatcher["fonts"])
        worker = live.worker(1003, "龙")
        data = WorkerData(f"龙{EXT_B}", make_resident_id(9), "+8613812345679", "北京德胜数码")
        received = await worker.apply(live.point_code, data)
        number = received["text"].split("申请编号 ")[1].split("。")[0]
        card = await live.emu.wait_for(REVIEW_GROUP, number)
        assert f"龙{EXT_B}" in card["text"]
        await live.staff().press(card, "通过", "已通过")

        await live.emu.wait_for(1003, "恭喜")
        photo = await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == 1003)
        image = Image.open(io.BytesIO(live.emu.file_bytes(photo["photo"][-1]["file_id"])))
        decoded = zxingcpp.read_barcodes(image)
        assert decoded and decoded[0].text.startswith("https://t.me/unionbot_demo_bot?start=v_")
        assert not live.emu.internal_errors
