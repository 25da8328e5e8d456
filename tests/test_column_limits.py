"""Values that do not fit their column: refused on every engine (SQLite would store them,
PostgreSQL refuses them), and the ones that come from Telegram cut where they enter."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from bot.people import Person, WorkerData
from bot.services.admin import AdminService
from bot.services.audit import NAME_MAX, Actor, display_name
from bot.services.outbox import KINDS
from models import Application, AuditEntry, OutboxMessage, ThresholdAlert
from models.base import Base, Bounded, ValueTooLong
from tests.conftest import World, make_draft, make_resident_id
from tests.engines import Store
from tests.live import FEDERATION_GROUP, REVIEW_GROUP, live_bot
from tests.test_reliability import FAST_OUTBOX

# Telegram allows 64 characters of first name and 64 of last name.
LONG_FIRST = "阿" * 64
LONG_LAST = "布" * 64
LONG_NAME = f"{LONG_FIRST} {LONG_LAST}"


def test_every_short_text_column_is_bounded() -> None:
    # A plain String(n) would let SQLite store what PostgreSQL refuses.
    unbounded = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if type(column.type).__name__ == "String" and column.type.length  # type: ignore[attr-defined]
    ]
    assert unbounded == []


def test_outbox_kinds_fit_their_column() -> None:
    limit = OutboxMessage.__table__.c.kind.type.limit  # type: ignore[attr-defined]
    assert max(len(kind) for kind in KINDS) <= limit


async def test_an_overlong_value_is_refused_on_every_engine(world: World) -> None:
    with pytest.raises(StatementError) as caught:
        async with world.db.transaction() as session:
            session.add(OutboxMessage(chat_id=1, kind="x" * 33, payload={}, status="pending"))
    assert isinstance(caught.value.orig, ValueTooLong)
    assert isinstance(Bounded(5).process_bind_param("12345", None), str)


def test_display_names_are_cut_with_an_ellipsis() -> None:
    assert display_name("王芳") == "王芳"
    assert display_name("  王   芳 ") == "王 芳"
    cut = display_name(LONG_NAME)
    assert len(cut) == NAME_MAX and cut.endswith("…") and cut.startswith(LONG_FIRST[:10])
    assert Actor(1, LONG_NAME).name == cut


async def test_staff_with_the_longest_telegram_names_decide_and_enter_applications(
    world: World,
) -> None:
    actor = Actor(501, LONG_NAME)
    submitted = await world.intake.submit(42, make_draft(world, 1))
    async with world.db.read() as session:
        application_id = await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        )
    await world.review.approve(application_id, actor, None)

    draft = make_draft(world, 2)
    draft.assisted_by = (501, LONG_NAME)
    await world.intake.submit(501, draft)
    async with world.db.read() as session:
        names = set(await session.scalars(select(AuditEntry.actor_name)))
        decided = await session.scalar(
            select(Application.decided_by_name).where(Application.id == application_id)
        )
        assisted = await session.scalar(
            select(Application.assisted_by_name).where(Application.assisted_by_name.is_not(None))
        )
    assert decided == assisted == display_name(LONG_NAME)
    assert display_name(LONG_NAME) in names


async def test_federation_staff_with_a_long_name_follow_up_an_alert(tmp_path: Path) -> None:
    async with live_bot(tmp_path, threshold=2, outbox=FAST_OUTBOX) as live:
        follower_id = 902
        live.emu.add_user(follower_id, LONG_FIRST, LONG_LAST)
        live.emu.set_member_status(FEDERATION_GROUP, follower_id, "member")
        await AdminService(live.app.db).add_staff(
            follower_id, "李明", "federation", None, Actor.cli("test")
        )
        for i, user_id in enumerate((1501, 1502)):
            worker = live.worker(user_id, f"职工{i}")
            data = WorkerData(
                f"张{'一二'[i]}", make_resident_id(800 + i), f"+861390000080{i}",
                "北京德胜数码科技有限公司",
            )  # fmt: skip
            received = await worker.apply(live.point_code, data)
            number = received["text"].split("申请编号 ")[1].split("。")[0]
            card = await live.emu.wait_for(REVIEW_GROUP, number, since=0)
            await live.staff().press(card, "通过", "已通过")
        alert = await live.emu.wait_for(FEDERATION_GROUP, "建会提示", since=0)
        follower = Person(live.emu, follower_id, LONG_NAME)
        edited = await follower.press(alert, "我来跟进", display_name(LONG_NAME)[:20])
        assert edited is not None and display_name(LONG_NAME) in edited["text"]
        async with live.app.db.read() as session:
            followed = await session.scalar(select(ThresholdAlert.followed_by_name))
        assert followed == display_name(LONG_NAME)
        assert not live.emu.internal_errors


# --- the audit log cannot be rewritten by other means either ----------------------------
async def test_audit_rows_cannot_be_replaced_or_truncated(world: World, store: Store) -> None:
    rows = store.sql("SELECT id, action FROM audit_log ORDER BY id")
    assert rows
    first_id = rows[0][0]
    attempts = (
        [
            "INSERT OR REPLACE INTO audit_log (id, at, actor_name, action, subject_type, "
            f"subject_id) VALUES ({first_id}, '2026-01-01', 'x', 'tampered', 'x', 'x')",
            "REPLACE INTO audit_log (id, at, actor_name, action, subject_type, subject_id) "
            f"VALUES ({first_id}, '2026-01-01', 'x', 'tampered', 'x', 'x')",
            "INSERT INTO audit_log (id, at, actor_name, action, subject_type, subject_id) "
            f"VALUES ({first_id}, '2026-01-01', 'x', 'tampered', 'x', 'x') "
            "ON CONFLICT (id) DO UPDATE SET action = 'tampered'",
        ]
        if store.is_sqlite
        else [
            "TRUNCATE audit_log",
            "TRUNCATE audit_log CASCADE",
            "INSERT INTO audit_log (id, at, actor_name, action, subject_type, subject_id) "
            f"VALUES ({first_id}, now(), 'x', 'tampered', 'x', 'x') "
            "ON CONFLICT (id) DO UPDATE SET action = 'tampered'",
        ]
    )
    for statement in attempts:
        with pytest.raises(Exception, match="append-only"):
            store.sql(statement)
    assert store.sql("SELECT id, action FROM audit_log ORDER BY id") == rows
