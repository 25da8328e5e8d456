"""Invariant 7: no resident id number or mobile number is stored, logged or shown to staff
in plain text. The worker may see their own data; staff see masked values."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.people import WorkerData, review_card
from models import InboxUpdate
from tests.conftest import make_resident_id
from tests.engines import Store
from tests.live import FEDERATION_GROUP, REVIEW_GROUP, Live, live_bot, settle

FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}

# Two workers of one employer, so that the threshold (2 here) sends the federation alert.
FIRST = WorkerData(
    "王小明", make_resident_id(417), "+8613812345678", "北京字节跳动科技有限公司", "工程师"
)
SECOND = WorkerData(
    "李小红", make_resident_id(538, region="110105"), "+8613987654321", "字节跳动科技有限公司"
)


def secrets_of(data: WorkerData) -> list[str]:
    """The plain forms in which the id number and the mobile could leak."""
    mobile = data.mobile.removeprefix("+86")
    spaced = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    return [data.resident_id, mobile, "+86" + mobile, spaced]


SECRETS = secrets_of(FIRST) + secrets_of(SECOND)


async def apply_and_approve(live: Live, user_id: int, data: WorkerData, *, contact: bool) -> str:
    worker = live.worker(user_id, data.name)
    notice = await worker.open_form(live.point_code)
    await worker.consent(notice)
    await worker.say(data.name, "身份证号")
    await worker.say(data.resident_id, "手机号")
    mobile = data.mobile.removeprefix("+86")
    if contact:  # the contact button sends the number without "+"
        await worker.share_contact("86" + mobile, "工作单位")
    else:  # typed with spaces, as people do
        await worker.say(f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", "工作单位")
    job_question = await worker.say(data.employer, "岗位")
    if data.job:
        summary = await worker.say(data.job, "请核对")
    else:
        summary = await worker.press(job_question, "跳过", "请核对")
    assert summary is not None

    # The worker sees their own data in full.
    assert f"身份证号：{data.resident_id}" in summary["text"]
    assert f"手机号：{mobile}" in summary["text"]

    received = await worker.submit(summary)
    number = received["text"].split("申请编号 ")[1].split("。")[0].strip()
    card = await live.emu.wait_for(REVIEW_GROUP, number)
    masked_id = data.resident_id[:6] + "*" * 8 + data.resident_id[-4:]
    assert f"身份证号：{masked_id}" in card["text"]
    assert f"手机号：{mobile[:3]}****{mobile[-4:]}" in card["text"]

    await live.staff().press(card, "通过", "已通过")
    decided = review_card(live.emu, REVIEW_GROUP, number)
    assert "已通过" in decided["text"] and masked_id in decided["text"]
    await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == user_id)
    return number


async def test_no_plain_id_or_mobile_in_database_logs_or_staff_chats(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leaks: list[str] = []  # every leak is listed, not only the first one found
    async with live_bot(tmp_path, threshold=2, outbox=FAST_OUTBOX) as live:
        await apply_and_approve(live, 1001, FIRST, contact=False)
        await apply_and_approve(live, 1002, SECOND, contact=True)
        alert = await live.emu.wait_for(FEDERATION_GROUP, "建会提示")

        worker = live.worker(1001)
        status = await worker.say("/status", "会员编号")
        assert "一张会员卡" in status["text"]
        mark = live.emu.mark()
        await worker.say("/card", "正在为您生成电子会员卡")
        await live.emu.wait_for(lambda m: "photo" in m and m["chat"]["id"] == 1001, since=mark)
        await settle(live)

        # The updates did carry the numbers (so the checks below mean something) ...
        updates = repr(live.emu.updates())
        assert FIRST.resident_id in updates and "8613987654321" in updates
        # ... but the inbox keeps no body once an update is processed.
        async with live.app.db.read() as session:
            rows = (await session.execute(select(InboxUpdate.done, InboxUpdate.body))).all()
        assert rows and all(done and body == "" for done, body in rows)

        # Staff and the federation only ever saw masked values.
        staff_texts = [
            message.get("text") or message.get("caption") or ""
            for chat in (REVIEW_GROUP, FEDERATION_GROUP)
            for message in live.emu.messages(chat)
        ]
        assert alert["text"] in staff_texts
        for secret in SECRETS:
            assert not [text for text in staff_texts if secret in text], secret

        # On disk while the bot runs: the database and its write-ahead log.
        leaks += _stored(live.store, "while running")
        assert not live.emu.internal_errors
    leaks += _stored(live.store, "after shutdown")

    assert caplog.records
    for secret in SECRETS:
        loggers = sorted({r.name for r in caplog.records if secret in _logged(r)})
        if loggers or secret in caplog.text:
            leaks.append(f"{secret} logged by {loggers}")
    assert not leaks, "\n".join(leaks)


def _stored(store: Store, when: str) -> list[str]:
    found = []
    for path in store.files():
        content = path.read_bytes()
        found += [f"{s} in {path.name} {when}" for s in SECRETS if s.encode() in content]
    return found


def _logged(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(parts)
