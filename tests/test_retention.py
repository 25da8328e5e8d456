"""The retention job: abandoned forms purged, old rejections anonymised, the loop robust."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select, update

from bot.config import RetentionSettings
from bot.fsm_storage import DatabaseStorage
from bot.retention import retention_loop
from bot.services.audit import Actor
from bot.services.privacy import ERASED_NAME, PrivacyService, RetentionResult, form_key
from models import Application, AuditEntry, FsmRecord, Member
from models.base import utcnow
from tests.conftest import FEDERATION_CHAT, THRESHOLD, World, make_draft

STAFF = Actor(501, "审核员501")


async def add_form(world: World, user_id: int, age: timedelta) -> None:
    async with world.db.transaction() as session:
        session.add(FsmRecord(key=form_key(user_id), state="Form:name", updated_at=utcnow() - age))


async def forms(world: World) -> set[str]:
    async with world.db.read() as session:
        return set(await session.scalars(select(FsmRecord.key)))


async def decided(world: World, user_id: int, seq: int, verdict: str, age: timedelta) -> str:
    """An application of `user_id`, decided `age` ago."""
    number = (await world.intake.submit(user_id, make_draft(world, seq))).number
    async with world.db.transaction() as session:
        app_id = await session.scalar(select(Application.id).where(Application.number == number))
    if verdict == "approved":
        await world.review.approve(app_id, STAFF, None)
    else:
        await world.review.reject(app_id, STAFF, "other", "身份证与本人不符", None)
    async with world.db.transaction() as session:
        await session.execute(
            update(Application).where(Application.id == app_id).values(decided_at=utcnow() - age)
        )
    return number


async def application(world: World, number: str) -> Application:
    async with world.db.read() as session:
        return await session.scalar(select(Application).where(Application.number == number))


async def test_drafts_older_than_30_days_are_purged(world: World, privacy: PrivacyService) -> None:
    await add_form(world, 1, timedelta(days=31))
    await add_form(world, 2, timedelta(days=29))
    result = await privacy.run_retention(drafts_days=30, rejected_days=180)
    assert result == RetentionResult(drafts_deleted=1, rejected_anonymised=0)
    assert await forms(world) == {form_key(2)}


async def test_rejected_older_than_180_days_are_anonymised(
    world: World, privacy: PrivacyService
) -> None:
    old = await decided(world, 11, 1, "rejected", timedelta(days=181))
    recent = await decided(world, 12, 2, "rejected", timedelta(days=179))
    member = await decided(world, 13, 3, "approved", timedelta(days=400))

    result = await privacy.run_retention(drafts_days=30, rejected_days=180)
    assert result.rejected_anonymised == 1

    erased = await application(world, old)
    assert erased.anonymised_at is not None and erased.name == ERASED_NAME
    assert erased.status == "rejected" and erased.reject_note is None
    assert erased.telegram_user_id is None
    assert world.cipher.decrypt(erased.ric_cipher, context="ric") == ""
    for kept in (recent, member):
        application_ = await application(world, kept)
        assert application_.anonymised_at is None and application_.name == "张三"
    async with world.db.read() as session:
        assert await session.scalar(select(Member.status)) == "active"

    # Idempotent: the next run finds nothing new.
    again = await privacy.run_retention(drafts_days=30, rejected_days=180)
    assert again.rejected_anonymised == 0


async def test_each_run_is_one_audit_entry_with_counts(
    world: World, privacy: PrivacyService
) -> None:
    await add_form(world, 1, timedelta(days=40))
    number = await decided(world, 11, 1, "rejected", timedelta(days=200))
    await privacy.run_retention(drafts_days=30, rejected_days=180)
    await privacy.run_retention(drafts_days=30, rejected_days=180)
    async with world.db.read() as session:
        runs = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "retention.run")
                .order_by(AuditEntry.id)
            )
        )
    assert [(r.actor_user_id, r.actor_name, r.subject_type) for r in runs] == [
        (None, "retention", "system")
    ] * 2
    assert runs[0].after["drafts_deleted"] == 1 and runs[0].after["rejected_anonymised"] == 1
    assert runs[0].after["applications"] == [number]
    assert runs[1].after["drafts_deleted"] == 0 and runs[1].after["rejected_anonymised"] == 0


async def test_configured_periods_are_used(world: World, privacy: PrivacyService) -> None:
    await add_form(world, 1, timedelta(days=3))
    await privacy.run_retention(drafts_days=7)
    assert await forms(world) == {form_key(1)}
    await privacy.run_retention(drafts_days=2)
    assert await forms(world) == set()


class FlakyService:
    """Fails on the first run, then counts runs; stands in for PrivacyService."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    async def run_retention(self, *, drafts_days: int, rejected_days: int) -> RetentionResult:
        self.calls.append((drafts_days, rejected_days))
        if len(self.calls) == 1:
            raise RuntimeError("database is locked")
        return RetentionResult(drafts_deleted=2, rejected_anonymised=1)


async def test_loop_runs_at_start_survives_errors_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.retention")
    service = FlakyService()
    settings = RetentionSettings(drafts_days=5, rejected_days=9, every_hours=0.01 / 3600)
    stop = asyncio.Event()
    task = asyncio.create_task(retention_loop(service, settings, stop))  # type: ignore[arg-type]
    for _ in range(200):
        if len(service.calls) >= 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=1)
    assert len(service.calls) >= 3 and set(service.calls) == {(5, 9)}
    assert "retention run failed: RuntimeError" in caplog.text
    assert "2 abandoned forms deleted, 1 rejected applications anonymised" in caplog.text


async def test_loop_with_the_real_service_runs_once_then_waits(
    world: World, privacy: PrivacyService
) -> None:
    await add_form(world, 1, timedelta(days=31))
    stop = asyncio.Event()
    task = asyncio.create_task(retention_loop(privacy, RetentionSettings(), stop))
    for _ in range(200):
        if not await forms(world):
            break
        await asyncio.sleep(0.01)
    assert await forms(world) == set()
    assert not task.done()  # waiting for the next day
    stop.set()
    await asyncio.wait_for(task, timeout=1)


async def test_purged_forms_leave_the_storage_cache_too(world: World) -> None:
    storage = DatabaseStorage(world.db, world.cipher, cache=True)
    privacy = PrivacyService(
        world.db,
        world.cipher,
        world.intake.hasher,
        threshold=THRESHOLD,
        federation_chat_id=FEDERATION_CHAT,
        form_cache=storage,
    )
    key = StorageKey(bot_id=1, chat_id=7, user_id=7)
    await storage.set_state(key, "Form:mobile")
    async with world.db.transaction() as session:
        await session.execute(update(FsmRecord).values(updated_at=utcnow() - timedelta(days=31)))
    await privacy.run_retention()
    assert await storage.get_state(key) is None  # not resurrected from the cache
