"""Activities through the bot and the emulator: a street's staff create one in the guided
dialogue, members are told (except the one who sent /notify off), a member signs up with
the announcement's button, shows the check-in QR from /activities, staff scan it at the
door, staff see who came and close it, and /status shows the activity done."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import update

from bot import timefmt
from bot.outbox_views import Gone
from bot.people import WorkerData
from bot.services.activities import ActivityDraft, ActivityService
from bot.services.audit import Actor
from models import Activity
from models.base import utcnow
from tests.conftest import make_resident_id
from tests.live import REVIEW_GROUP, STAFF_IDS, live_bot, settle


async def _member(live, user_id: int, name: str, seq: int):  # type: ignore[no-untyped-def]
    worker = live.worker(user_id, name)
    data = WorkerData(name, make_resident_id(seq), f"+86139000{user_id:05d}", "西城区老张早点铺")
    received = await worker.apply(live.point_code, data)
    number = received["text"].split("申请编号 ")[1].split("。")[0]
    card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
    await live.staff().press(card, "通过", "已通过")
    return worker


async def test_an_activity_from_creation_to_check_in(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        keen = await _member(live, 2301, "李四", 231)
        quiet = await _member(live, 2302, "赵六", 232)
        off = await quiet.say("/notify off", "已关闭")
        assert "提醒" in off["text"]
        staff = live.staff(STAFF_IDS[0])
        # The guided dialogue, with a mistake at each step that checks anything.
        await staff.say("/newactivity", "请输入活动名称")
        await staff.say("冬季健步走", "活动地点")
        await staff.say("德胜公园东门", "活动时间")
        await staff.say("明天下午", "没看懂")
        day = timefmt.local(utcnow() + timedelta(days=2)).date()
        await staff.say(f"{day} 09:00-11:00", "名额")
        await staff.say("零", "1 到 10000")
        deadline_prompt = await staff.say("2", "报名截止时间")
        audience = await staff.press(deadline_prompt, "活动开始时截止", "通知哪些会员")
        summary = await staff.press(audience, "所有会员", "请确认")  # type: ignore[arg-type]
        assert summary is not None and "冬季健步走" in summary["text"]
        mark = live.emu.mark()
        await staff.press(summary, "发布", "已发布")
        announced = await live.emu.wait_for(keen.user_id, "新的工会活动", since=mark)
        assert "/notify off" in announced["text"]
        await settle(live)
        told = [m for m in live.emu.messages(quiet.user_id) if "新的工会活动" in m.get("text", "")]
        assert told == []  # opted out: not told
        # Announcements queued before someone opts out are not sent either.
        views = live.app.sender.views
        assert (await views.render(keen.user_id, "activity_announced", {"activity_id": 1})).text
        with pytest.raises(Gone):
            await views.render(quiet.user_id, "activity_announced", {"activity_id": 1})
        joined = await keen.press(announced, "我要报名", "报名成功")
        assert joined is not None
        listing = await keen.say("/activities", "冬季健步走")
        assert "您已报名" in listing["text"] and "1/2" in listing["text"]
        mark = live.emu.mark()
        await keen.press(listing, "签到码", wait=False)
        photo = await live.emu.wait_for(
            lambda m: "签到码" in m.get("caption", "") and m["chat"]["id"] == keen.user_id,
            since=mark,
        )
        image = Image.open(io.BytesIO(live.emu.file_bytes(photo["photo"][-1]["file_id"])))
        payload = zxingcpp.read_barcodes(image)[0].text.split("start=")[1]
        assert payload.startswith("a_")
        # Too early at the door; then the activity is about to start (time moves on).
        early = await staff.say(f"/start {payload}", "还没到签到时间")
        assert early is not None
        start = utcnow() + timedelta(minutes=30)
        async with live.app.db.transaction() as session:
            await session.execute(
                update(Activity).values(starts_at=start, ends_at=start + timedelta(hours=2),
                                        signup_deadline=start)
            )  # fmt: skip
        stranger = live.worker(2309, "路人")
        await stranger.say(f"/start {payload}", "只有活动所在街道")
        await staff.say(f"/start {payload}", "签到成功")
        again = await live.staff(STAFF_IDS[1]).say(f"/start {payload}", "已于")
        assert "签到" in again["text"]
        attendance = await staff.say("/activity 1", "已签到 1")
        assert "✅" in attendance["text"] and "李四" in attendance["text"]
        assert "结束活动" not in str(attendance["reply_markup"])  # not before it ends
        async with live.app.db.transaction() as session:  # the activity is over
            over = utcnow()
            await session.execute(
                update(Activity).values(starts_at=over - timedelta(hours=2), ends_at=over)
            )
        attendance = await staff.say("/activity 1", "已签到 1")
        closed = await staff.press(attendance, "结束活动", "签到名单已确定")
        assert closed is not None and "结束活动" not in str(closed.get("reply_markup"))
        status = await keen.say("/status", "“四个一”会员服务：")
        assert "✅ 一次工会活动" in status["text"]
        assert not live.emu.internal_errors


async def test_staff_call_an_activity_off_in_the_chat(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        keen = await _member(live, 2401, "孙七", 241)
        service: ActivityService = live.app.dispatcher["activities"]
        now = utcnow()
        start = now + timedelta(days=2)
        end = start + timedelta(hours=2)
        draft = ActivityDraft("书法体验课", "职工之家", start, end, start, 10, street_ref="DS")
        activity = await service.create(draft, Actor.cli("test"), now)
        announced = await live.emu.wait_for(keen.user_id, "新的工会活动", since=0)
        await keen.press(announced, "我要报名", "报名成功")
        staff = live.staff(STAFF_IDS[0])
        card = await staff.say(f"/activity {activity}", "书法体验课", chat_id=REVIEW_GROUP)
        prompt = await staff.press(card, "取消活动", "说明取消活动")
        assert prompt is not None
        mark = live.emu.mark()
        live.emu.send_text(
            staff.user_id, "场地临时维修", REVIEW_GROUP, reply_to=prompt["message_id"]
        )
        done = await live.emu.wait_for(REVIEW_GROUP, "已取消", since=mark)
        assert "1 位会员" in done["text"]
        told = await live.emu.wait_for(keen.user_id, "已取消", since=mark)
        assert "书法体验课" in told["text"]
        assert not live.emu.internal_errors
