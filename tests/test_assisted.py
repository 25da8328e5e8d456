"""The offline channel: staff enter a paper application, the worker claims it later."""

from __future__ import annotations

import io
from pathlib import Path

import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot.db import Database
from bot.people import Worker, WorkerData
from models import Application, AuditEntry
from tests.conftest import make_resident_id
from tests.live import REVIEW_GROUP, STAFF_IDS, live_bot


async def test_staff_enter_paper_application_and_worker_claims_it(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        clerk = Worker(live.emu, STAFF_IDS[1], "审核员502")
        await clerk.say("/assist", "代录纸质申请")
        notice = live.emu.last_message(clerk.user_id)
        await clerk.press(notice, "同意处理", "职工的姓名")
        data = WorkerData("赵六", make_resident_id(41), "13800001111", "北京德胜数码科技有限公司")
        await clerk.say(data.name, "职工的 18 位身份证号")
        mobile_question = await clerk.say(data.resident_id, "职工本人的 11 位手机号")
        assert not (mobile_question.get("reply_markup") or {}).get("keyboard")  # no contact button
        await clerk.say(data.mobile, "职工工作单位")
        job = await clerk.say(data.employer, "岗位")
        summary = await clerk.press(job, "跳过", "请核对")
        await clerk.press(summary, "提交申请", "已提交")
        slip = await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == clerk.user_id)
        number = slip["caption"].split("关联申请 ")[1].split("，")[0]

        card = await live.emu.wait_for(REVIEW_GROUP, number)
        assert "代录：审核员502" in card["text"]

        image = Image.open(io.BytesIO(live.emu.file_bytes(slip["photo"][-1]["file_id"])))
        link = zxingcpp.read_barcodes(image)[0].text
        assert link.startswith("https://t.me/unionbot_demo_bot?start=c_")

        staff = live.staff(STAFF_IDS[0])
        await staff.press(card, "通过", "已通过")

        worker = live.worker(4242, "赵六")
        reply = await worker.say("/start " + link.split("start=")[1], "已关联")
        assert "会员编号" in reply["text"]
        await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == 4242)
        again = live.worker(4343, "冒充者")
        await again.say("/start " + link.split("start=")[1], "无效或已被使用")

        db = Database(live.settings.database.url)
        async with db.read() as session:
            application = await session.scalar(select(Application))
            actions = set(await session.scalars(select(AuditEntry.action)))
        await db.dispose()
        assert application.channel == "assisted" and application.telegram_user_id == 4242
        assert application.assisted_by_user_id == STAFF_IDS[1]
        assert {"application.submitted", "application.claimed"} <= actions


async def test_only_street_staff_may_assist(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        stranger = live.worker(5151, "路人")
        await stranger.say("/assist", "只有街道工会工作人员")
