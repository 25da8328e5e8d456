"""The offline channel: staff enter a paper application, the worker claims it later."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot.db import Database
from bot.i18n import build_i18n
from bot.people import Worker, WorkerData, buttons
from bot.views.review import ReviewCardData, review_card_text
from models import Application, AuditEntry
from tests.conftest import make_resident_id
from tests.live import FEDERATION_GROUP, REVIEW_GROUP, STAFF_IDS, Live, live_bot


async def test_staff_enter_paper_application_and_worker_claims_it(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        clerk = Worker(live.emu, STAFF_IDS[1], "审核员502")
        await clerk.say("/assist", "代录纸质申请")
        notice = live.emu.last_message(clerk.user_id)
        await clerk.press(notice, "职工已同意", "职工的姓名")
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
        # A paper application entered by staff is not an online application.
        assert "受理：德胜街道总工会 · 纸质申请，审核员502 代录" in card["text"]
        assert "线上申请" not in card["text"]

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
        await stranger.say("/assist", "只有街道总工会工作人员")


# --- who the paper flow speaks to ----------------------------------------------------------

# The clerk types a worker's paper form: the bot speaks to the clerk about the worker, never
# as the worker ("我的身份证号") or to the worker ("您的申请"), and never sends the clerk to
# the worker's /start.
AS_THE_WORKER = ("我的", "您的", "您本人", "您已", "您未", "/start")


def _everything_the_clerk_saw(live: Live, clerk_id: int, since: int) -> list[str]:
    """Texts, captions, button labels and toasts the bot showed in the clerk's chat."""
    seen: list[str] = []
    for event in live.emu.bot_events[since:]:
        if event.chat_id != clerk_id:
            continue
        message = event.message
        seen.append(message.get("text") or message.get("caption") or "")
        seen += [label for label, _ in buttons(message)]
        keyboard = (message.get("reply_markup") or {}).get("keyboard") or []
        seen += [button["text"] for row in keyboard for button in row]
    seen += [a["text"] for a in live.emu.callback_answers() if a["text"]]
    return seen


async def test_paper_flow_speaks_to_the_clerk_about_the_worker(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        clerk = Worker(live.emu, STAFF_IDS[1], "审核员502")
        start = live.emu.mark()

        # Declined: nothing kept, and the clerk is told how to start another paper form.
        notice = await clerk.say("/assist", "代录纸质申请")
        declined = await clerk.press(notice, "职工未同意", "/assist")
        assert "没有保存" in declined["text"]

        notice = await clerk.say("/assist", "代录纸质申请")
        hint = await clerk.say("你好", "职工")  # typing before the consent is recorded
        assert hint["reply_markup"]["inline_keyboard"]
        await clerk.press(notice, "职工已同意", "职工的姓名")
        live.emu.send_sticker(clerk.user_id)
        await live.emu.wait_for(clerk.user_id, "职工的姓名")
        await clerk.say("赵六", "职工的 18 位身份证号")
        await clerk.say(make_resident_id(42)[:-1] + "0", "校验位")  # a mistyped id number
        await clerk.say(make_resident_id(42), "职工本人的 11 位手机号")
        live.emu.send_sticker(clerk.user_id)
        await live.emu.wait_for(clerk.user_id, "职工本人的 11 位手机号")
        await clerk.say("13800002222", "职工工作单位")
        job = await clerk.say("北京德胜数码科技有限公司", "岗位")
        summary = await clerk.press(job, "跳过", "请核对职工的申请信息")
        assert "纸质申请" in summary["text"] and "审核员502 代录" in summary["text"]
        assert "德胜街道总工会" in summary["text"]
        cancelled = await clerk.press(summary, "取消", "已取消")
        assert "/assist" in cancelled["text"]

        # /cancel in the middle of a paper form.
        notice = await clerk.say("/assist", "代录纸质申请")
        await clerk.press(notice, "职工已同意", "职工的姓名")
        stopped = await clerk.say("/cancel", "已取消")
        assert "/assist" in stopped["text"]

        seen = _everything_the_clerk_saw(live, clerk.user_id, start)
        wrong = [text for text in seen for phrase in AS_THE_WORKER if phrase in text]
        assert not wrong, wrong


async def test_worker_flow_still_speaks_to_the_worker(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        worker = live.worker(4545, "孙七")
        notice = await worker.open_form(live.point_code)
        assert "德胜街道总工会" in notice["text"] and "德胜街道工会联合会" in notice["text"]
        await worker.press(notice, "同意处理我的身份证号", "请输入您的姓名")


CARD = ReviewCardData(
    application_id=1, number="A-1", name="赵六", masked_id="110102********0011",
    masked_mobile="138****1111", gender="male", birth_date=date(1990, 5, 17),
    employer="北京德胜数码科技有限公司", enterprise_count=3, threshold=25, provisional=False,
    street_name="德胜街道", point_name=None, submitted_at=datetime(2026, 11, 2, 2, 0, tzinfo=UTC),
    status="submitted", decided_by=None, decided_at=None, reject_reason=None, reject_note=None,
)  # fmt: skip


@pytest.mark.parametrize(
    ("channel", "point", "assisted_by", "shown", "not_shown"),
    [
        ("qr", "新街口社区", None, "受理：德胜街道总工会 · 新街口社区（扫码）", "线上申请"),
        ("online", None, None, "受理：德胜街道总工会 · 线上申请", "代录"),
        ("assisted", None, "王芳", "受理：德胜街道总工会 · 纸质申请，王芳 代录", "线上申请"),
    ],
    ids=["qr", "online", "assisted"],
)
def test_review_card_shows_the_channel(
    channel: str, point: str | None, assisted_by: str | None, shown: str, not_shown: str
) -> None:
    card = dataclasses.replace(CARD, channel=channel, point_name=point, assisted_by=assisted_by)
    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("zh"):
        text = review_card_text(card, date(2026, 11, 2))
    assert shown in text and not_shown not in text
    assert "会籍：德胜街道工会联合会" in text  # where the membership will be registered


async def test_alert_counts_paper_applications_as_paper_and_names_the_joint_union(
    tmp_path: Path,
) -> None:
    async with live_bot(tmp_path, threshold=2) as live:
        employer = "北京德胜数码科技有限公司"
        worker = live.worker(4646, "钱八")
        data = WorkerData("钱八", make_resident_id(43), "+8613800003333", employer)
        received = await worker.apply(live.point_code, data)
        first = received["text"].split("申请编号 ")[1].split("。")[0]

        clerk = Worker(live.emu, STAFF_IDS[1], "审核员502")
        notice = await clerk.say("/assist", "代录纸质申请")
        await clerk.press(notice, "职工已同意", "职工的姓名")
        await clerk.say("周九", "身份证号")
        await clerk.say(make_resident_id(44), "手机号")
        await clerk.say("13800004444", "工作单位")
        job = await clerk.say(employer, "岗位")
        summary = await clerk.press(job, "跳过", "请核对")
        submitted = await clerk.press(summary, "提交申请", "已提交")
        second = submitted["text"].split("申请编号 ")[1].split()[0]

        staff = live.staff(STAFF_IDS[0])
        for number in (first, second):
            card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
            await staff.press(card, "通过", "已通过")
        alert = await live.emu.wait_for(FEDERATION_GROUP, "建会提示", since=0)
        assert "会籍所在：德胜街道工会联合会" in alert["text"]
        assert "新街口社区（1）" in alert["text"] and "纸质申请（1）" in alert["text"]
        assert "线上申请" not in alert["text"]
