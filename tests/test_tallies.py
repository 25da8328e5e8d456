"""The statistics' tallies (models/tally.py) against the rows, on both engines: the
triggers count every kind of change, written by the services or by hand; a drift is found
and a rebuild repairs it; approvals and rejections from several processes at once leave
them exact. (tests/conftest.py also checks them after every test that uses a database.)"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from bot.cli import main
from bot.services.audit import Actor
from bot.services.stats import Period, StatsService
from bot.services.tallies import TallyService
from models import (
    Application,
    Benefit,
    BenefitClaim,
    Member,
    ServiceCardRequest,
    TallyApplication,
    TallyJoined,
    TallyMember,
    TallyReview,
    UnionOrg,
)
from tests import engines
from tests.conftest import World, make_draft
from tests.processes import run_scripts_at_once
from tests.test_cli import write_config

STAFF = Actor(501, "审核员501")


async def _submit(world: World, seq: int) -> int:
    submitted = await world.intake.submit(7000 + seq, make_draft(world, seq))
    async with world.db.read() as session:
        return int(await session.scalar(
            select(Application.id).where(Application.number == submitted.number)
        ))  # fmt: skip


async def _tally(world: World, model: type, **key: object) -> int:
    async with world.db.read() as session:
        query = select(func.coalesce(func.sum(model.n), 0))  # type: ignore[attr-defined]
        for name, value in key.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query) or 0)


async def _exact(world: World) -> None:
    assert await TallyService(world.db).check() == []


async def test_the_tallies_follow_every_kind_of_change(world: World) -> None:
    applications = [await _submit(world, seq) for seq in range(4)]
    await _exact(world)
    assert await _tally(world, TallyApplication, status="submitted") == 4

    # Decisions: two approved, one rejected; the review time is counted in whole hours.
    async with world.db.transaction() as session:  # submitted 5 h 30 min before now
        earlier = datetime.now(UTC) - timedelta(hours=5, minutes=30)
        await session.execute(update(Application).values(submitted_at=earlier))
    for application in applications[:2]:
        await world.review.approve(application, STAFF, None)
    await world.review.reject(applications[2], STAFF, "incomplete", None, None)
    await _exact(world)
    assert await _tally(world, TallyReview, hours=5) == 3
    assert await _tally(world, TallyApplication, status="approved") == 2
    assert await _tally(world, TallyMember, status="active") == 2

    async with world.db.transaction() as session:
        first, second = list(await session.scalars(select(Member).order_by(Member.id)))
        first.kept_since = datetime.now(UTC)  # 保留会籍
        second.status = "ended"
        # moved to an enterprise union: counted as transferred
        union = UnionOrg(kind="enterprise", name="某公司工会", street_id=world.street_id)
        session.add(union)
        await session.flush()
        first.union_org_id = union.id
    await _exact(world)
    assert await _tally(world, TallyMember, status="active", kept=1, transferred=1) == 1
    assert await _tally(world, TallyMember, status="ended") == 1

    # The four ones: a service card collected, a benefit redeemed; then undone by hand.
    async with world.db.transaction() as session:
        now = datetime.now(UTC)
        benefit = Benefit(title="体检", provider="中心", quota=5, claimed=1,
                          valid_from=now.date(), valid_to=now.date())  # fmt: skip
        session.add(benefit)
        await session.flush()
        session.add(ServiceCardRequest(member_id=first.id, street_id=world.street_id,
                                       status="requested", requested_at=now))  # fmt: skip
        session.add(BenefitClaim(benefit_id=benefit.id, member_id=first.id, redeemed_at=now))
    await _exact(world)
    assert await _tally(world, TallyMember, card=1) == 0  # requested, not collected yet
    async with world.db.transaction() as session:
        await session.execute(update(ServiceCardRequest).values(collected_at=now))
    await _exact(world)
    assert await _tally(world, TallyMember, card=1, benefit=1) == 1
    async with world.db.transaction() as session:
        await session.execute(delete(BenefitClaim))
        await session.execute(update(ServiceCardRequest).values(member_id=second.id))
    await _exact(world)
    assert await _tally(world, TallyMember, benefit=1) == 0
    assert await _tally(world, TallyMember, status="ended", card=1) == 1

    # Moved across a month boundary, to another point, deleted: each key follows.
    async with world.db.transaction() as session:
        last_year = datetime(2025, 6, 30, 16, 30, tzinfo=UTC)  # 2025-07-01 00:30 in Beijing
        await session.execute(update(Member).where(Member.id == first.id)
                              .values(joined_at=last_year))  # fmt: skip
        await session.execute(update(Application).where(Application.id == applications[3])
                              .values(submitted_at=last_year, point_id=None))  # fmt: skip
    await _exact(world)
    assert await _tally(world, TallyJoined, month="2025-07") == 1
    assert await _tally(world, TallyApplication, month="2025-07", point_id=0) == 1
    async with world.db.transaction() as session:
        await session.execute(delete(ServiceCardRequest))
        await session.execute(delete(Member).where(Member.id == second.id))
    await _exact(world)
    assert await _tally(world, TallyMember) == 1


async def test_a_drift_is_found_and_a_rebuild_repairs_it(world: World) -> None:
    await world.review.approve(await _submit(world, 1), STAFF, None)
    tallies = TallyService(world.db)
    async with world.db.transaction() as session:
        await session.execute(update(TallyMember).values(n=TallyMember.n + 1))
        # A flag written behind the triggers' back (they only watch the event tables).
        await session.execute(update(Member).values(card_done=True))
    differences = await tallies.check()
    assert {d.tally for d in differences} == {"tally_member", "member.card_done"}
    await tallies.rebuild()
    assert await tallies.check() == []
    figures = await StatsService(world.db, 25).overview(None, Period.this_month(
        datetime.now(UTC).date()))  # fmt: skip
    assert (figures.members_active, figures.service_cards) == (1, 0)


# One process: wait for the common start, then decide its applications at once.
SCRIPT = """
import asyncio, sys, time, json
from bot.db import Database
from bot.services.audit import Actor
from bot.services.review import ReviewService

async def main(url, start, job):
    db = Database(url)
    review = ReviewService(db, federation_chat_id=-100900, threshold=25)
    async with db.read() as session:  # connect before the start
        pass
    time.sleep(max(0.0, start - time.time()))
    actor = Actor(job["staff"], "审核员")
    calls = [review.approve(a, actor, None) if i % 3 else
             review.reject(a, actor, "incomplete", None, None)
             for i, a in enumerate(job["applications"])]
    await asyncio.gather(*calls)
    await db.dispose()
    print("done")

asyncio.run(main(sys.argv[2], float(sys.argv[1]), json.loads(sys.argv[3])))
"""


def _run_together(url: str, jobs: list[dict[str, object]]) -> None:
    outputs = run_scripts_at_once(SCRIPT, [[url, json.dumps(job)] for job in jobs])
    assert [out.strip() for out in outputs] == ["done"] * len(jobs)


async def test_decisions_from_several_processes_at_once_are_counted_exactly(
    world: World,
) -> None:
    """Four processes decide 36 applications of one street and one month at once: on
    PostgreSQL they contend for the same few tally rows."""
    applications = [await _submit(world, seq) for seq in range(36)]
    url = world.db.url.render_as_string(hide_password=False)
    jobs = [{"staff": staff, "applications": applications[i::4]}
            for i, staff in enumerate((501, 502, 503, 501))]  # fmt: skip
    await asyncio.to_thread(_run_together, url, jobs)
    await _exact(world)
    async with world.db.read() as session:
        by_status = select(Application.status, func.count()).group_by(Application.status)
        rows = dict((await session.execute(by_status)).all())
        tally = dict((await session.execute(text(
            "SELECT status, sum(n) FROM tally_application GROUP BY status"))).all())  # fmt: skip
    assert rows == {"approved": 24, "rejected": 12}
    assert {k: int(v) for k, v in tally.items() if v} == rows
    assert await _tally(world, TallyMember, status="active") == 24


async def test_the_command_line_finds_a_drift_and_recounts(
    world: World, store: engines.Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.review.approve(await _submit(world, 1), STAFF, None)
    config = str(write_config(tmp_path, database_url=store.url))
    async with world.db.transaction() as session:
        await session.execute(update(TallyJoined).values(n=TallyJoined.n + 2))

    async def unionbot(*args: str) -> tuple[int, str]:
        code = await asyncio.to_thread(main, ["--config", config, *args])
        return code, capsys.readouterr().out

    code, out = await unionbot("tallies", "check")
    assert code == 1 and "differ from a count of the rows: 1" in out and "counted 1, kept 3" in out
    assert await unionbot("tallies", "rebuild") == (
        0, "recounting the tallies from the rows ...\ndone: the tallies are counted from the rows\n"
    )  # fmt: skip
    assert (await unionbot("tallies", "check"))[0] == 0
