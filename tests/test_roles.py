"""Every button and staff command checks the role on the server, through the real bot.

Forged callback data (a modified client, `press_button(..., forge=True)`) from people
with the wrong role gets a refusal toast and changes nothing.

Decision: administrators manage set-up and roles; they do not decide applications unless
they also hold the street-staff role of that street (separation of duties: a decision is
accountable to the street union). An administrator who must decide can /grant themselves
the street role, which is audited like any other role change.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.callbacks import AlertCb, ReviewCb
from bot.services.audit import Actor
from bot.services.binding import BindingService
from bot.services.intake import IntakeService
from models import Application, AuditEntry, Street
from tests.conftest import make_draft
from tests.live import FEDERATION_ID, OUTSIDER_ID, REVIEW_GROUP, STAFF_IDS, Live, live_bot

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_ID, OTHER_STREET_ID, REMOVED_ID = 950, 601, STAFF_IDS[2]
NOT_THIS_STREET = "只有本街道总工会的审核人员可以处理这份申请。"
CLI = Actor.cli("test")
TIMEOUT = 10.0
FAST_OUTBOX = {"private_per_second": 100.0, "group_per_minute": 6000.0, "poll_interval": 0.05}

_seq = itertools.count(100)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    path: Path = tmp_path_factory.mktemp("roles")
    async with live_bot(path, outbox=FAST_OUTBOX) as running:
        admin = _binding(running).admin
        await admin.add_street("XC", "新街口街道", CLI)
        await admin.add_staff(OTHER_STREET_ID, "新街口审核员", "street", "XC", CLI)
        await admin.add_staff(ADMIN_ID, "管理员王", "admin", None, CLI)
        await admin.remove_staff(REMOVED_ID, CLI)
        for user_id, name in ((ADMIN_ID, "管理员王"), (OTHER_STREET_ID, "新街口审核员")):
            running.emu.add_user(user_id, name)
        for user_id in (ADMIN_ID, OTHER_STREET_ID, FEDERATION_ID):
            running.emu.set_member_status(REVIEW_GROUP, user_id, "member", by_user_id=STAFF_IDS[0])
        yield running
        assert not running.emu.internal_errors


def _binding(live: Live) -> BindingService:
    return live.app.dispatcher.workflow_data["binding"]


async def new_card(live: Live) -> tuple[int, dict[str, Any]]:
    """A fresh application of 德胜街道 (submitted directly) and its review card."""
    intake: IntakeService = live.app.dispatcher.workflow_data["intake"]
    async with live.app.db.read() as session:
        street_id = await session.scalar(select(Street.id).where(Street.code == "DS"))
    seq = next(_seq)
    draft = make_draft(SimpleNamespace(street_id=street_id), seq)  # type: ignore[arg-type]
    submitted = await intake.submit(6000 + seq, draft)
    card = await live.emu.wait_for(REVIEW_GROUP, submitted.number, since=0, timeout=TIMEOUT)
    async with live.app.db.read() as session:
        app_id = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    return int(app_id), card


async def press(live: Live, user_id: int, card: dict[str, Any], data: str) -> dict[str, Any]:
    """Press (forged) callback data on the card; return the bot's answer to the press."""
    query = live.emu.press_button(user_id, REVIEW_GROUP, card["message_id"], data, forge=True)
    deadline = time.monotonic() + TIMEOUT
    while (answer := live.emu.callback_answers(query)) is None:
        assert time.monotonic() < deadline, "the press was not answered"
        await asyncio.sleep(0.02)
    return answer


async def status_of(live: Live, app_id: int) -> str:
    async with live.app.db.read() as session:
        return str(await session.scalar(select(Application.status).where(Application.id == app_id)))


async def command(live: Live, user_id: int, text: str, expect: str, **where: Any) -> str:
    """Send a command (in the review group unless chat_id=None) and return the answer."""
    chat = where.get("chat_id", REVIEW_GROUP)
    mark = live.emu.mark()
    live.emu.send_text(user_id, text, chat, reply_to=where.get("reply_to"))
    answer = await live.emu.wait_for(chat or user_id, expect, since=mark, timeout=TIMEOUT)
    return str(answer["text"])


def said(live: Live, user_id: int, text: str) -> int:
    """A plain message in the review group (the bot does not see it), to reply to."""
    return int(live.emu.send_text(user_id, text, REVIEW_GROUP)["message_id"])


# --- forged review callbacks -----------------------------------------------------------

PERSONAS = {
    "federation staff": FEDERATION_ID,
    "staff of another street": OTHER_STREET_ID,
    "removed staff": REMOVED_ID,
    "administrator (not street staff)": ADMIN_ID,
    "group member without a role": OUTSIDER_ID,
}
ACTIONS = {
    "approve": {"action": "approve"},
    "reject": {"action": "reject"},
    "reason": {"action": "reason", "reason": "incomplete"},
    "typed reason": {"action": "reason", "reason": "other"},
}


@pytest.mark.parametrize("persona", list(PERSONAS))
async def test_forged_review_callbacks_are_refused(live: Live, persona: str) -> None:
    app_id, card = await new_card(live)
    for fields in ACTIONS.values():
        data = ReviewCb(app=app_id, **fields).pack()
        answer = await press(live, PERSONAS[persona], card, data)
        assert answer["text"] == NOT_THIS_STREET and answer["show_alert"], data
    assert await status_of(live, app_id) == "submitted"
    assert live.emu.message(REVIEW_GROUP, card["message_id"]) == card  # not edited
    # The same press by the street's own staff goes through: the refusal was the role.
    approved = await press(live, STAFF_IDS[0], card, ReviewCb(action="approve", app=app_id).pack())
    assert "已通过" in approved["text"]
    assert await status_of(live, app_id) == "approved"


async def test_forged_callback_for_another_streets_application(live: Live) -> None:
    """Data naming an application of another street, pressed on this street's card."""
    _, card = await new_card(live)
    intake: IntakeService = live.app.dispatcher.workflow_data["intake"]
    async with live.app.db.read() as session:
        xc = await session.scalar(select(Street.id).where(Street.code == "XC"))
    draft = make_draft(SimpleNamespace(street_id=xc), next(_seq))  # type: ignore[arg-type]
    submitted = await intake.submit(6999, draft)
    async with live.app.db.read() as session:
        other = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    answer = await press(live, STAFF_IDS[0], card, ReviewCb(action="approve", app=other).pack())
    assert answer["text"] == NOT_THIS_STREET
    assert await status_of(live, int(other)) == "submitted"


async def test_forged_alert_follow_up_from_street_staff_is_refused(live: Live) -> None:
    _, card = await new_card(live)
    answer = await press(live, STAFF_IDS[0], card, AlertCb(action="follow", alert=1).pack())
    assert answer["text"] == "只有区总工会工作人员可以认领跟进。"


# --- roles managed in chat ---------------------------------------------------------------


async def test_grant_by_non_admins_is_refused(live: Live) -> None:
    target = said(live, OUTSIDER_ID, "我也想审核")
    for user_id in (STAFF_IDS[0], FEDERATION_ID):
        text = await command(live, user_id, "/grant street", "只有管理员", reply_to=target)
        assert "/grant" not in text
    await command(live, FEDERATION_ID, "/grant 777 admin", "只有管理员", chat_id=None)
    await command(live, STAFF_IDS[0], "/revoke", "只有管理员", reply_to=said(live, 502, "hi"))
    assert await _binding(live).roles(OUTSIDER_ID) == []
    assert [r.role for r in await _binding(live).roles(502)] == ["street"]


async def test_grant_then_revoke_takes_effect_immediately(live: Live) -> None:
    newcomer = 778
    live.emu.add_user(newcomer, "新同事<b>")
    live.emu.set_member_status(REVIEW_GROUP, newcomer, "member", by_user_id=STAFF_IDS[0])
    target = said(live, newcomer, "请给我审核权限")

    text = await command(live, ADMIN_ID, "/grant street", "已授予", reply_to=target)
    assert "新同事&lt;b&gt;" not in text and "新同事<b>" in text  # escaped on the wire
    assert "德胜街道" in text  # the review group's street, when none is named
    app_id, card = await new_card(live)
    answer = await press(live, newcomer, card, ReviewCb(action="approve", app=app_id).pack())
    assert "已通过" in answer["text"]
    assert "德胜街道" in await command(live, newcomer, "/whoami", "角色")

    await command(live, ADMIN_ID, "/revoke", "已撤销", reply_to=target)
    app_id, card = await new_card(live)
    answer = await press(live, newcomer, card, ReviewCb(action="approve", app=app_id).pack())
    assert answer["text"] == NOT_THIS_STREET
    assert await status_of(live, app_id) == "submitted"
    assert "没有工作人员角色" in await command(live, newcomer, "/whoami", "用户 ID")

    async with live.app.db.read() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.subject_type == "staff", AuditEntry.subject_id == str(newcomer)
                )
            )
        )
    assert [(r.action, r.actor_user_id) for r in rows] == [
        ("staff.added", ADMIN_ID),
        ("staff.removed", ADMIN_ID),
    ]


async def test_admin_commands_in_private_chat(live: Live) -> None:
    private = {"chat_id": None}
    usage = await command(live, ADMIN_ID, "/grant", "用法", **private)
    assert "/grant street" in usage
    await command(live, ADMIN_ID, "/grant 779 street 不存在", "找不到这个街道", **private)
    text = await command(live, ADMIN_ID, "/grant 779 federation 张三", "已授予", **private)
    assert "张三" in text and "区总工会工作人员" in text
    await command(live, ADMIN_ID, "/revoke 950 admin", "最后一位管理员", **private)
    await command(live, ADMIN_ID, "/revoke 779", "已撤销", **private)
    await command(live, ADMIN_ID, "/revoke 779", "没有可撤销的角色", **private)
    assert "管理员" in await command(live, ADMIN_ID, "/whoami", "角色", **private)
