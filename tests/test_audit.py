"""Invariant 8: every decision and change is in the audit log, and the log is append-only.
Also `unionbot audit`: filters, the table, and the CSV export for Excel."""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from bot import audit_cli
from bot.audit_filters import AuditFilter, parse_moment
from bot.cli import main
from bot.pii import generate_key
from bot.services.alerts import AlertService
from bot.services.audit import Actor, record
from bot.services.review import ReviewService
from bot.timefmt import BEIJING
from models import Application, AuditEntry, ThresholdAlert
from models.base import utcnow
from tests.conftest import World, make_draft
from tests.engines import Store, new_store

STAFF = Actor(501, "审核员501")
CLI = Actor.cli("test")


async def entries(world: World) -> list[AuditEntry]:
    async with world.db.read() as session:
        return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def app_id(world: World, number: str) -> int:
    async with world.db.read() as session:
        found = await session.scalar(select(Application.id).where(Application.number == number))
    return int(found)


# --- append-only --------------------------------------------------------------------------
async def test_database_refuses_update_and_delete_through_sqlalchemy(world: World) -> None:
    before = [(e.id, e.action, e.after) for e in await entries(world)]
    assert before
    statements = [
        update(AuditEntry).values(action="tampered"),
        update(AuditEntry).where(AuditEntry.id == before[0][0]).values(after=None),
        delete(AuditEntry),
        delete(AuditEntry).where(AuditEntry.id == before[-1][0]),
    ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with world.db.transaction() as session:
                await session.execute(statement)
    with pytest.raises(DBAPIError, match="append-only"):  # the ORM's unit of work, too
        async with world.db.transaction() as session:
            entry = await session.get_one(AuditEntry, before[0][0])
            entry.actor_name = "someone else"
    assert [(e.id, e.action, e.after) for e in await entries(world)] == before

    async with world.db.transaction() as session:  # adding stays possible
        await record(session, CLI, "test.appended", "test", 1)
    assert len(await entries(world)) == len(before) + 1


async def test_database_refuses_update_and_delete_through_a_plain_connection(
    world: World, store: Store
) -> None:
    count = len(await entries(world))
    for sql in (
        "UPDATE audit_log SET action = 'tampered'",
        "UPDATE audit_log SET before = NULL, after = NULL WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ):
        with pytest.raises(Exception, match="append-only"):
            store.sql(sql)
    assert len(await entries(world)) == count


# --- every change leaves an entry ----------------------------------------------------------
async def test_decisions_and_role_changes_are_recorded_without_personal_data(
    world: World,
) -> None:
    drafts = [make_draft(world, seq) for seq in (1, 2, 3)]
    numbers = [(await world.intake.submit(100 + i, d)).number for i, d in enumerate(drafts)]
    review = ReviewService(world.db, federation_chat_id=-100900, threshold=1)
    await review.approve(await app_id(world, numbers[0]), STAFF, None)
    await review.reject(await app_id(world, numbers[1]), STAFF, "other", "材料缺页", None)
    await world.admin.add_staff(504, "新审核员", "street", "DS", CLI)
    await world.admin.remove_staff(504, CLI)
    await world.admin.set_review_chat("DS", -100600, CLI)
    await world.admin.retire_point(world.point_code, CLI)
    async with world.db.read() as session:
        alert_id = await session.scalar(select(ThresholdAlert.id))
    await AlertService(world.db).follow_up(alert_id, Actor(901, "联合会"), -100900, 5)

    found = {(e.action, e.subject_id): e for e in await entries(world)}
    expected = {
        ("application.submitted", numbers[2]): (100 + 2, "applicant"),
        ("application.approved", numbers[0]): (501, "审核员501"),
        ("application.rejected", numbers[1]): (501, "审核员501"),
        ("staff.added", "504"): (None, "test"),
        ("staff.removed", "504"): (None, "test"),
        ("street.review_chat", "DS"): (None, "test"),
        ("point.retired", world.point_code): (None, "test"),
        ("alert.followed", str(alert_id)): (901, "联合会"),
    }
    for key, actor in expected.items():
        assert key in found, key
        assert (found[key].actor_user_id, found[key].actor_name) == actor
    approved = found[("application.approved", numbers[0])]
    assert approved.before == {"status": "submitted"} and approved.after["status"] == "approved"
    assert found[("street.review_chat", "DS")].after == {"chat": -100600}

    dumped = json.dumps(
        [[e.actor_name, e.subject_id, e.before, e.after] for e in found.values()],
        ensure_ascii=False,
    )
    for draft in drafts:
        for secret in (draft.resident_id, draft.mobile, draft.mobile[3:], draft.name):
            assert secret not in dumped


# --- filters, table, CSV -------------------------------------------------------------------
async def sample(world: World) -> list[str]:
    numbers = [(await world.intake.submit(100 + i, make_draft(world, i))).number for i in (1, 2)]
    await world.review.approve(await app_id(world, numbers[0]), STAFF, None)
    await world.review.reject(
        await app_id(world, numbers[1]), Actor(502, "审核员502"), "other", None, None
    )
    return numbers


async def test_filters_by_actor_action_subject_and_period(world: World) -> None:
    numbers = await sample(world)
    find = audit_cli.find

    by_actor = await find(world.db, AuditFilter(actor=501))
    assert [e.action for e in by_actor] == ["application.approved"]
    assert {e.actor_user_id for e in await find(world.db, AuditFilter(cli_actor=True))} == {None}

    decisions = await find(world.db, AuditFilter(action="application."))
    assert [e.action for e in decisions] == [
        "application.submitted",
        "application.submitted",
        "application.approved",
        "application.rejected",
    ]
    assert await find(world.db, AuditFilter(action="application_")) == []  # no LIKE wildcard

    subject = await find(world.db, AuditFilter(subject_type="application", subject_id=numbers[1]))
    assert [e.action for e in subject] == ["application.submitted", "application.rejected"]
    assert len(await find(world.db, AuditFilter(subject_type="staff"))) == 4

    today = utcnow().astimezone(BEIJING).strftime("%Y-%m-%d")
    yesterday = (utcnow().astimezone(BEIJING) - timedelta(days=1)).strftime("%Y-%m-%d")

    async def ids(filters: AuditFilter, newest: bool = False) -> list[int]:
        return [e.id for e in await find(world.db, filters, newest=newest)]

    everything = await ids(AuditFilter())
    assert await ids(AuditFilter(since=parse_moment(today))) == everything
    assert await ids(AuditFilter(until=parse_moment(today))) == everything
    assert await ids(AuditFilter(until=parse_moment(yesterday))) == []
    assert await ids(AuditFilter(limit=2), newest=True) == everything[-2:]


def test_moments_are_beijing_time_and_cover_what_was_given() -> None:
    day = parse_moment("2026-11-24")
    assert day.start == datetime(2026, 11, 24, tzinfo=BEIJING) and day.span == timedelta(days=1)
    assert day.start.astimezone(UTC) == datetime(2026, 11, 23, 16, tzinfo=UTC)
    minute = parse_moment("2026-11-24 09:30")
    assert minute.end - minute.start == timedelta(minutes=1)
    assert parse_moment("2026-11-24T09:30:15").span == timedelta(seconds=1)
    for bad in ("24.11.2026", "2026-13-01", "yesterday"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_moment(bad)


async def test_table_is_readable_in_beijing_time(world: World) -> None:
    await sample(world)
    shown = await audit_cli.find(world.db, AuditFilter(actor=501))
    text = audit_cli.table(shown)
    header, rule, row = text.splitlines()
    assert "时间（北京）" in header and set(rule) <= {"-", " "}
    assert audit_cli.beijing(shown[0].at) in row
    assert "审核员501 (501)" in row and "application.approved" in row
    assert '{"status":"submitted"} → {"status":"approved"' in row
    # Columns line up in terminal cells even with Chinese text.
    assert audit_cli.width(header.split("操作人")[0]) == audit_cli.width(row.split("审核员")[0])


async def test_csv_export_round_trips_and_is_itself_audited(world: World, tmp_path: Path) -> None:
    await sample(world)
    # A Telegram display name is chosen by its owner: here, an Excel formula.
    async with world.db.transaction() as session:
        await record(session, Actor(505, '=HYPERLINK("http://x")'), "test.named", "x", 1)
    path = tmp_path / "export" / "audit.csv"
    exporter = Actor.cli("cli:tester")

    rows = await audit_cli.export(world.db, AuditFilter(), path, exporter)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    with path.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.DictReader(handle))
    stored = await entries(world)
    exported, export_entry = stored[:-1], stored[-1]
    assert rows == len(read) == len(exported)
    for line, entry in zip(read, exported, strict=True):
        assert int(line["id"]) == entry.id
        assert datetime.fromisoformat(line["at_utc"]) == entry.at
        assert line["time_beijing"] == audit_cli.beijing(entry.at)
        assert line["actor_user_id"] == (
            "" if entry.actor_user_id is None else str(entry.actor_user_id)
        )
        assert line["actor_name"].removeprefix("'") == entry.actor_name
        assert (line["action"], line["subject_type"], line["subject_id"]) == (
            entry.action,
            entry.subject_type,
            entry.subject_id,
        )
        assert (json.loads(line["before"]) if line["before"] else None) == entry.before
        assert (json.loads(line["after"]) if line["after"] else None) == entry.after
    formula = next(line for line in read if "HYPERLINK" in line["actor_name"])
    assert formula["actor_name"].startswith("'=")  # shown as text, not run, by Excel

    assert export_entry.action == "audit.exported" and export_entry.actor_name == "cli:tester"
    assert export_entry.after == {"rows": rows, "file": "audit.csv", "filters": {}}


# --- the command line ------------------------------------------------------------------------
@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config.toml with fresh keys and SQLite in tmp_path; no environment overrides."""
    for name in list(os.environ):
        if name.startswith("UNIONBOT__"):
            monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    path.write_text(
        "\n".join(
            [
                "[telegram]",
                'token = "123456:fake-token-for-tests"',
                "[database]",
                f'url = "{new_store(tmp_path, "cli").url}"',
                "[security]",
                f'data_key = "{generate_key()}"',
                f'lookup_key = "{generate_key()}"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str]:
    code = main(["--config", str(config), *args])
    return code, capsys.readouterr().out


def test_audit_command_lists_filters_and_exports(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, config, "streets", "add", "DS", "德胜街道")[0] == 0
    assert run(capsys, config, "staff", "add", "501", "审核员甲", "--street", "DS")[0] == 0
    assert run(capsys, config, "staff", "remove", "501")[0] == 0

    code, out = run(capsys, config, "audit")
    assert code == 0 and "street.added" in out and "staff.removed" in out
    code, out = run(capsys, config, "audit", "--action", "staff.", "--limit", "1")
    assert "staff.removed" in out and "staff.added" not in out and "latest 1 shown" in out
    code, out = run(capsys, config, "audit", "--subject", "street:DS", "--actor", "cli")
    assert "street.added" in out and "staff." not in out
    code, out = run(capsys, config, "audit", "--until", "2000-01-01")
    assert out == "no matching entries\n"

    target = tmp_path / "audit.csv"
    code, out = run(capsys, config, "audit", "--action", "staff.", "--csv", str(target))
    assert code == 0 and out == f"2 entries written to {target}\n"
    code, out = run(capsys, config, "audit", "--action", "audit.exported")
    assert "audit.exported" in out and '"rows":2' in out

    with pytest.raises(SystemExit):
        main(["--config", str(config), "audit", "--since", "next week"])


def test_audit_command_closes_its_database_connections(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, config, "streets", "add", "DS", "德胜街道")
    for args in (("audit",), ("audit", "--csv", str(tmp_path / "a.csv"))):
        before = set(threading.enumerate())
        gc.disable()  # only an explicit close may end them, not a lucky collection
        try:
            assert run(capsys, config, *args)[0] == 0
            started = [
                t for t in set(threading.enumerate()) - before if "connection_worker" in t.name
            ]
            for thread in started:
                thread.join(timeout=1)
            assert not [t.name for t in started if t.is_alive()], args
        finally:
            gc.enable()
