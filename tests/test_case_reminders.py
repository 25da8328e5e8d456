"""Founding-case reminders with a controllable clock: a case preparing too long, and a
case without progress, each reminded once per spell, to the group and to the owner; and
the reminder job running inside the bot."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.services.audit import Actor
from bot.services.founding import FoundingService
from models import Enterprise, FoundingCase, OutboxMessage
from models.base import utcnow
from tests.conftest import FEDERATION_CHAT, World
from tests.live import FEDERATION_GROUP, FEDERATION_ID, live_bot
from tests.test_founding import PREPARING

OWNER = Actor(901, "联合会")
IDLE = timedelta(days=30)
PREPARING_TOO_LONG = timedelta(days=150)


@pytest.fixture
async def founding(world: World) -> FoundingService:
    return FoundingService(world.db, federation_chat_id=FEDERATION_CHAT)


async def _case_in_preparing(world: World, founding: FoundingService) -> int:
    async with world.db.transaction() as session:
        enterprise = Enterprise(name="北京德胜数码科技有限公司", name_key="德胜数码科技",
                                provisional=False, member_count=0, status="active")  # fmt: skip
        session.add(enterprise)
        await session.flush()
        enterprise_id = enterprise.id
    case = await founding.open(enterprise_id, OWNER)
    await founding.advance(case.id, OWNER, PREPARING)
    return case.id


async def _reminders(world: World) -> list[tuple[int, str]]:
    async with world.db.read() as session:
        rows = await session.execute(
            select(OutboxMessage.chat_id, OutboxMessage.payload)
            .where(OutboxMessage.kind == "case_reminder")
            .order_by(OutboxMessage.id)
        )
        return [(chat, payload["why"]) for chat, payload in rows]


async def test_each_reminder_once_per_spell(world: World, founding: FoundingService) -> None:
    case_id = await _case_in_preparing(world, founding)
    start = utcnow()

    async def remind(after: timedelta) -> tuple[int, int]:
        sent = await founding.send_reminders(start + after, idle=IDLE, preparing=PREPARING_TOO_LONG)
        return sent.preparing, sent.idle

    assert await remind(timedelta(days=29)) == (0, 0)
    assert await remind(timedelta(days=31)) == (0, 1)  # idle: the owner and the group
    assert await remind(timedelta(days=32)) == (0, 0)
    assert await remind(timedelta(days=62)) == (0, 1)  # still idle, a month later
    assert await remind(timedelta(days=151)) == (1, 1)
    assert await remind(timedelta(days=152)) == (0, 0)
    assert await _reminders(world) == [
        (FEDERATION_CHAT, "idle"), (901, "idle"),
        (FEDERATION_CHAT, "idle"), (901, "idle"),
        (FEDERATION_CHAT, "preparing"),
        (FEDERATION_CHAT, "idle"), (901, "idle"),
    ]  # fmt: skip
    # Reminders leave the case's version alone: its cards stay valid.
    assert (await founding.get(case_id)).version == 2  # opened, then preparing


async def test_progress_and_pauses_hold_reminders_back(
    world: World, founding: FoundingService
) -> None:
    case_id = await _case_in_preparing(world, founding)
    start = utcnow()
    async with world.db.transaction() as session:  # the note is written 20 days on
        await session.execute(
            update(FoundingCase).values(
                stage_since=start - timedelta(days=20), touched_at=start - timedelta(days=20)
            )
        )
    await founding.note(case_id, OWNER, "已召开筹备组会议")
    sent = await founding.send_reminders(start + timedelta(days=25), idle=IDLE,
                                         preparing=PREPARING_TOO_LONG)  # fmt: skip
    assert (sent.preparing, sent.idle) == (0, 0)
    await founding.pause(case_id, OWNER, "too_few")
    sent = await founding.send_reminders(start + timedelta(days=400), idle=IDLE,
                                         preparing=PREPARING_TOO_LONG)  # fmt: skip
    assert (sent.preparing, sent.idle) == (0, 0)
    assert await _reminders(world) == []


async def test_two_reminder_runs_at_once_remind_once(
    world: World, founding: FoundingService
) -> None:
    await _case_in_preparing(world, founding)
    later = utcnow() + timedelta(days=200)
    results = await asyncio.gather(
        *(founding.send_reminders(later, idle=IDLE, preparing=PREPARING_TOO_LONG)
          for _ in range(3))
    )  # fmt: skip
    assert sum(r.preparing for r in results) == 1 and sum(r.idle for r in results) == 1
    assert len(await _reminders(world)) == 3  # preparing to the group; idle to both


async def test_the_bot_sends_reminders_by_itself(tmp_path: Path) -> None:
    async with live_bot(
        tmp_path, federation={"reminders_every_minutes": 0.01, "case_idle_days": 1}
    ) as live:
        # The owner has a private chat with the bot (Telegram sends nothing otherwise).
        await live.staff(FEDERATION_ID).say("/whoami", "区总工会")
        service = FoundingService(live.app.db, federation_chat_id=FEDERATION_GROUP)
        async with live.app.db.transaction() as session:
            enterprise = Enterprise(name="北京德胜数码科技有限公司", name_key="德胜数码科技",
                                    provisional=False, member_count=0, status="active")  # fmt: skip
            session.add(enterprise)
            await session.flush()
            enterprise_id = enterprise.id
        case = await service.open(enterprise_id, Actor(FEDERATION_ID, "区总工会李明"))
        async with live.app.db.transaction() as session:
            await session.execute(
                update(FoundingCase).values(touched_at=utcnow() - timedelta(days=2))
            )
        reminder = await live.emu.wait_for(FEDERATION_GROUP, "没有进展", since=0, timeout=15)
        assert f"#{case.id}" in reminder["text"] and "/case" in reminder["text"]
        private = await live.emu.wait_for(FEDERATION_ID, "没有进展", since=0, timeout=15)
        assert "区总工会李明" in private["text"]
