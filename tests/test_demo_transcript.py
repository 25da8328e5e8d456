"""The demo's printed and written transcript shows id and mobile numbers masked, as staff
see them; the emulator's own records keep everything (the tests read them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.demo import publish_transcript
from bot.people import WorkerData
from bot.pii import mask_mobile, mask_numbers, mask_resident_id
from tests.conftest import make_resident_id
from tests.live import live_bot, settle

FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}


async def test_demo_transcript_masks_ids_and_mobiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resident_id = make_resident_id(77)
    wrong_check = resident_id[:-1] + ("0" if resident_id[-1] != "0" else "1")
    data = WorkerData("李磊", resident_id, "+8613910007919", "西城早点铺")
    async with live_bot(tmp_path, outbox=FAST_OUTBOX) as live:
        worker = live.worker(8801, "李磊")
        notice = await worker.open_form(live.point_code)
        await worker.consent(notice)
        await worker.say(data.name, "身份证号")
        await worker.say(wrong_check, "校验位")  # a typo is somebody's number too
        summary = await worker.fill(data)  # shares the contact: "[contact 李磊 86139…]"
        await worker.submit(summary)
        await worker.say("我的手机 139-1000-7919，身份证 " + resident_id, "没有听懂")
        await settle(live)

        out = tmp_path / "transcript.txt"
        publish_transcript(live.emu, out)
        printed, written = capsys.readouterr().out, out.read_text(encoding="utf-8")

        # The records are complete, so the checks below are about the transcript only.
        raw = live.emu.transcript_text()
        for secret in (resident_id, wrong_check, "8613910007919", "13910007919"):
            assert secret in raw
        assert any(resident_id in event.body for event in live.emu.transcript)

    for shown in (printed, written):
        for secret in (resident_id, wrong_check, "13910007919", "1391000", "1000-7919"):
            assert secret not in shown, secret
        assert mask_resident_id(resident_id) in shown  # 110102********xxxx
        assert mask_resident_id(wrong_check) in shown
        assert mask_mobile("13910007919") == "139****7919" and "139****7919" in shown
        assert "同意处理" in shown and "李磊" in shown  # the rest is as it was
    assert written in printed


def test_mask_numbers_in_free_text() -> None:
    cases = {
        "身份证号：11010519491231002X（男）": "身份证号：110105********002X（男）",
        "11010519491231002x": "110105********002X",
        "110105 19491231 002X": "110105********002X",
        "[contact 李磊 8613910007919]": "[contact 李磊 139****7919]",
        "手机号：+86 139-1000-7919。": "手机号：139****7919。",
        "+86170123456788613800138000": "+**********************8000",
        "110102900517001": "***********7001",  # a first-generation 15-digit id
    }
    for text, masked in cases.items():
        assert mask_numbers(text) == masked, text
    for text in ("SQ20261202-0001", "DS-2026-00001", "00:17:05", "91110108MA01XK3E0X", "12345"):
        assert mask_numbers(text) == text
