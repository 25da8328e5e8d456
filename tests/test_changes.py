"""Caches of what staff change (reception points, streets, the enterprise registry): read
without a query while nothing changes, dropped by the change itself, in this process at
once and in other processes moments later, on both engines (bot/changes.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot import changes as changes_module
from bot.db import Database
from bot.services.audit import Actor
from bot.services.enterprises import EnterpriseService
from bot.services.intake import _active_points
from bot.services.registry import import_registry
from tests.conftest import World
from tests.test_cli import write_config
from tests.test_registry_import import BYTEDANCE, CHINESE, HUACHUANG, write_csv

CLI = Actor.cli("test")


def count_loads(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often the points are read from the database."""
    loads = [0]
    fetch_all = database.fetch_all

    async def counting(statement: Any, **values: Any) -> Any:
        loads[0] += statement is _active_points()
        return await fetch_all(statement, **values)

    monkeypatch.setattr(database, "fetch_all", counting)
    return loads


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.05)


async def test_points_and_streets_are_read_once_while_nothing_changes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.db.changes.watch()
    loads = count_loads(world.db, monkeypatch)
    for _ in range(100):
        point = await world.intake.point_by_code(world.point_code)
        assert point is not None and point.street_name == "德胜街道"
        assert await world.intake.point_by_code("no-such-point") is None
    assert [s.name for s in await world.intake.streets()] == ["德胜街道"]
    assert (await world.intake.street(world.street_id)).name == "德胜街道"
    assert loads[0] == 1


async def test_unwatched_every_read_goes_to_the_database(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command-line tool does not watch: it must never act on an old copy."""
    loads = count_loads(world.db, monkeypatch)
    for _ in range(3):
        assert await world.intake.point_by_code(world.point_code) is not None
    assert loads[0] == 3


async def test_a_change_in_this_process_is_seen_at_once(world: World) -> None:
    await world.db.changes.watch()
    assert await world.intake.point_by_code("NEW1") is None
    await world.admin.add_point("DS", "新点", "building", CLI, code="NEW1")
    new = await world.intake.point_by_code("NEW1")
    assert new is not None and new.name == "新点"
    await world.admin.retire_point(world.point_code, CLI)
    assert await world.intake.point_by_code(world.point_code) is None
    await world.admin.rename_street("DS", "德胜街道办事处", CLI)
    renamed = await world.intake.point_by_code("NEW1")
    assert renamed is not None and renamed.street_name == "德胜街道办事处"


async def test_a_change_rolled_back_keeps_the_copy(world: World) -> None:
    await world.db.changes.watch()
    before = world.db.changes.generation("org")
    stamps = await world.db.fetch_all(changes_module._stamps())
    assert dict(stamps)["org"] > 0  # the world's set-up changed streets and points
    with pytest.raises(RuntimeError):
        async with world.db.transaction() as session:
            Database.flag(session, "org")
            raise RuntimeError("cancelled")
    assert world.db.changes.generation("org") == before
    assert await world.db.fetch_all(changes_module._stamps()) == stamps


async def test_a_change_made_by_another_process_is_seen_moments_later(
    world: World, tmp_path: Path
) -> None:
    """The command line, a real process of its own, adds a point and retires another
    while the bot's copy is warm."""
    await world.db.changes.watch()
    assert await world.intake.point_by_code(world.point_code) is not None
    assert await world.intake.point_by_code("CLI1") is None
    config = write_config(tmp_path, database_url=world.db.url.render_as_string(False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIONBOT__")}
    for args in (
        ["points", "add", "DS", "命令行点", "--kind", "building", "--code", "CLI1"],
        ["points", "retire", world.point_code],
    ):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.cli", "--config", str(config), *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    async def seen() -> bool:
        added = await world.intake.point_by_code("CLI1")
        return added is not None and await world.intake.point_by_code(world.point_code) is None

    await eventually(seen, within=changes_module.POLL_S + 5)


def _registry(path: Path, rows: list[list[object]]) -> Path:
    return write_csv(path, CHINESE, rows, "utf-8")


async def test_the_matcher_is_rebuilt_only_when_enterprises_change(
    world: World, tmp_path: Path
) -> None:
    """Another process (here a second Database on the same rows, not watching) imports
    the registry and closes an enterprise: the bot's matcher follows without a query
    per call, and is the same object while nothing changes."""
    await world.db.changes.watch()
    service = EnterpriseService(world.db, threshold=25, federation_chat_id=None)
    first = _registry(
        tmp_path / "a.csv", [[BYTEDANCE, "北京字节跳动科技有限公司", "德胜街道", "", 100, "否"]]
    )
    other = Database(world.db.url.render_as_string(False))
    try:
        await import_registry(other, first, actor=CLI)
        await eventually(lambda: _matches(service, "北京字节跳动科技有限公司", BYTEDANCE))
        matcher = await service.matcher()
        reads = [0]
        read = world.db.read

        def counting_read() -> Any:
            reads[0] += 1
            return read()

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(world.db, "read", counting_read)
            for _ in range(50):
                assert await service.matcher() is matcher
        assert reads[0] == 0  # no fingerprint query per employer typed

        second = _registry(
            tmp_path / "b.csv", [[HUACHUANG, "北京华创信息技术有限公司", "德胜街道", "", 80, "否"]]
        )
        await import_registry(other, second, actor=CLI)
        await eventually(lambda: _matches(service, "北京华创信息技术有限公司", HUACHUANG))
        assert await service.matcher() is not matcher
    finally:
        await other.dispose()


async def _matches(service: EnterpriseService, typed: str, uscc: str) -> bool:
    match = (await service.matcher()).match(typed, street_id=None, limit=3)
    async with service.db.read() as session:
        wanted = (
            await session.execute(text("SELECT id FROM enterprise WHERE uscc = :u"), {"u": uscc})
        ).scalar()
    return wanted is not None and match.auto == wanted


async def test_while_changes_cannot_be_watched_nothing_is_cached(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch lost (PostgreSQL: the LISTEN connection killed and the server refusing
    a new one; SQLite: the poll failing): reads go to the database and see a change made
    meanwhile; once the watch is back the copy is trusted again."""
    monkeypatch.setattr(changes_module, "RETRY_S", 0.1)
    monkeypatch.setattr(changes_module, "POLL_S", 0.1)
    broken = True
    if world.db.is_sqlite:
        fetch_all = world.db.fetch_all

        async def failing(statement: Any, **values: Any) -> Any:
            if statement is changes_module._stamps() and broken:
                raise OSError("disk I/O error")
            return await fetch_all(statement, **values)

        await world.db.changes.watch()
        monkeypatch.setattr(world.db, "fetch_all", failing)
    else:
        import asyncpg

        connect = asyncpg.connect

        async def refusing(*args: Any, **kwargs: Any) -> Any:
            watching = kwargs.get("server_settings", {}).get("application_name")
            if broken and watching == "unionbot changes":
                raise OSError("connection refused")
            return await connect(*args, **kwargs)

        await world.db.changes.watch()
        monkeypatch.setattr(asyncpg, "connect", refusing)
        async with world.db.transaction() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'unionbot changes'"
                )
            )
    assert await world.intake.point_by_code(world.point_code) is not None  # maybe cached
    await eventually(lambda: _untrusted(world.db))
    other = Database(world.db.url.render_as_string(False))
    try:
        async with other.transaction() as session:  # unseen by any watch
            await session.execute(
                text("UPDATE reception_point SET name = '改过的名字' WHERE code = :c"),
                {"c": world.point_code},
            )
    finally:
        await other.dispose()
    point = await world.intake.point_by_code(world.point_code)
    assert point is not None and point.name == "改过的名字"  # read, not the old copy
    broken = False
    await eventually(lambda: _trusted(world.db))
    loads = count_loads(world.db, monkeypatch)
    for _ in range(3):
        point = await world.intake.point_by_code(world.point_code)
        assert point is not None and point.name == "改过的名字"
    assert loads[0] == 1


async def _untrusted(db: Database) -> bool:
    return db.changes.generation("org") is None


async def _trusted(db: Database) -> bool:
    return db.changes.generation("org") is not None
