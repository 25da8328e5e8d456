"""Shared fixtures: a real database (a SQLite file, or a PostgreSQL database when the suite
runs on PostgreSQL; see tests/engines.py), migrated with Alembic, and real services."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.migrate import upgrade_async
from bot.pii import LookupHasher, PiiCipher, generate_key, parse_key
from bot.services.admin import AdminService
from bot.services.alerts import AlertService
from bot.services.audit import Actor
from bot.services.cards import CardService, CardSigner
from bot.services.intake import Draft, IntakeService
from bot.services.privacy import PrivacyService
from bot.services.review import ReviewService
from bot.services.tallies import TallyService
from bot.validation import ric_check_char
from models import Application
from models.base import utcnow
from tests import engines

_session_resources = contextlib.ExitStack()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not engines.on_postgres():
        return
    if not os.environ.get("UNIONBOT_TEST_PG"):
        from tests.pgcluster import throwaway_cluster

        cluster = _session_resources.enter_context(throwaway_cluster())
        os.environ["UNIONBOT_TEST_PG"] = cluster.url
    engines.prepare_template()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if engines.on_postgres() and os.environ.get("UNIONBOT_TEST_PG"):
        with contextlib.suppress(Exception):
            engines.drop_created()
            engines.drop_template()
    _session_resources.close()


def pytest_report_header() -> str:
    return f"unionbot database engine: {engines.ENGINE}"


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    # Fixtures of a wider scope (a module's running bot) were set up before this one.
    before = engines.created_count()
    yield
    if engines.on_postgres():
        engines.drop_created(before)


THRESHOLD = 25
FEDERATION_CHAT = -100900


@dataclass
class World:
    db: Database
    cipher: PiiCipher
    intake: IntakeService
    review: ReviewService
    alerts: AlertService
    admin: AdminService
    cards: CardService
    street_id: int
    point_code: str


def make_resident_id(seq: int, birth: date = date(1990, 5, 17), region: str = "110102") -> str:
    """A valid GB 11643 number; `seq` (0–999) makes it unique."""
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + ric_check_char(body)


def make_draft(world: World, seq: int, employer: str = "北京字节跳动科技有限公司") -> Draft:
    return Draft(
        street_id=world.street_id,
        point_id=None,
        consent_at=utcnow(),
        notice_version="2026-11",
        name="张三",
        resident_id=make_resident_id(seq),
        gender="male",
        birth_date=date(1990, 5, 17),
        mobile=f"+86138{seq:08d}",
        employer=employer,
        job=None,
        language="zh",
    )


async def make_members(world: World, count: int, reviewer: Actor) -> list[int]:
    """`count` approved members of the world's street; their Telegram ids (9000, 9001, …)."""
    users = []
    for seq in range(count):
        submitted = await world.intake.submit(9000 + seq, make_draft(world, seq))
        async with world.db.read() as session:
            app_id = await session.scalar(
                select(Application.id).where(Application.number == submitted.number)
            )
        await world.review.approve(app_id, reviewer, None)
        users.append(9000 + seq)
    return users


@pytest.fixture
def store(tmp_path: Path) -> engines.Store:
    return engines.new_store(tmp_path)


@pytest.fixture
async def database(store: engines.Store) -> AsyncIterator[Database]:
    await upgrade_async(store.url)
    db = Database(store.url)
    yield db
    try:  # whatever the test did, the statistics' tallies still agree with the rows
        differences = await TallyService(db).check()
    finally:
        await db.dispose()
    assert differences == [], f"the tallies drifted from the rows: {differences[:5]}"


@pytest.fixture
async def world(database: Database) -> World:
    cipher = PiiCipher({"k1": parse_key(generate_key())}, "k1")
    lookup = parse_key(generate_key())
    admin = AdminService(database)
    cli = Actor.cli("test")
    await admin.add_street("DS", "德胜街道", cli)
    await admin.set_review_chat("DS", -100500, cli)
    point_code = await admin.add_point("DS", "新街口社区", "community", cli)
    for user_id in (501, 502, 503):
        await admin.add_staff(user_id, f"审核员{user_id}", "street", "DS", cli)
    await admin.add_staff(901, "联合会", "federation", None, cli)
    street_id = (await admin.streets())[0].id
    return World(
        db=database,
        cipher=cipher,
        intake=IntakeService(database, cipher, LookupHasher(lookup)),
        review=ReviewService(database, federation_chat_id=FEDERATION_CHAT, threshold=THRESHOLD),
        alerts=AlertService(database),
        admin=admin,
        cards=CardService(database, cipher, CardSigner(lookup)),
        street_id=street_id,
        point_code=point_code,
    )


@pytest.fixture
def privacy(world: World) -> PrivacyService:
    return PrivacyService(
        world.db,
        world.cipher,
        world.intake.hasher,
        threshold=THRESHOLD,
        federation_chat_id=FEDERATION_CHAT,
    )
