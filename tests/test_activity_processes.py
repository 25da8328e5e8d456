"""Invariant 12 across real processes: bot workers on one database each take sign-ups and
scans (webhook workers on PostgreSQL; the command line beside the bot on SQLite). Six
processes sign 30 members up for three places at the same instant, then two processes scan
one check-in code at the same instant."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from bot.pii import generate_key, parse_key
from bot.services.activities import TOKEN_PURPOSE, ActivityService
from bot.services.cards import CardSigner
from models import Activity, ActivitySignup
from models.base import utcnow
from tests.conftest import World
from tests.processes import run_scripts_at_once
from tests.test_activities import STAFF, _draft, _members

LOOKUP_TEXT = generate_key()

# One process: wait for the common start, then run its part at once and print the outcome.
SCRIPT = """
import asyncio, json, sys, time
from datetime import datetime
from bot.db import Database
from bot.pii import parse_key
from bot.services.activities import TOKEN_PURPOSE, ActivityRefused, ActivityService
from bot.services.audit import Actor
from bot.services.cards import CardSigner

async def main(url, key, start, job):
    db = Database(url)
    service = ActivityService(db, CardSigner(parse_key(key), TOKEN_PURPOSE))
    async with db.read() as session:  # connect before the start
        pass
    time.sleep(max(0.0, start - time.time()))
    async def one(call):
        try:
            return await call
        except ActivityRefused as error:
            return error.code
    if job["kind"] == "sign_up":
        calls = [service.sign_up(user, job["activity"]) for user in job["users"]]
        results = [r if isinstance(r, str) else r.status
                   for r in await asyncio.gather(*(one(c) for c in calls))]
    else:
        door = datetime.fromisoformat(job["at"])
        results = [await one(service.check_in(job["token"], Actor(job["staff"], "审核员"), door))]
        results = [r if isinstance(r, str) else "checked_in_now" for r in results]
    await db.dispose()
    print(json.dumps(results))

asyncio.run(main(sys.argv[2], sys.argv[3], float(sys.argv[1]), json.loads(sys.argv[4])))
"""


def _run_together(url: str, jobs: list[dict[str, object]]) -> list[str]:
    outputs = run_scripts_at_once(
        SCRIPT, [[url, LOOKUP_TEXT, json.dumps(job)] for job in jobs], 120
    )
    return [result for out in outputs for result in json.loads(out.strip().splitlines()[-1])]


async def test_sign_ups_and_scans_from_several_processes(world: World) -> None:
    now = utcnow()
    users = await _members(world, 30)
    service = ActivityService(world.db, CardSigner(parse_key(LOOKUP_TEXT), TOKEN_PURPOSE))
    activity = await service.create(_draft(now, 3, street_ref="DS"), STAFF, now)
    url = world.db.url.render_as_string(hide_password=False)
    jobs = [{"kind": "sign_up", "activity": activity, "users": users[i::6]} for i in range(6)]
    results = await asyncio.to_thread(_run_together, url, jobs)
    assert sorted(results).count("confirmed") == 3 and results.count("waiting") == 27
    async with world.db.read() as session:
        confirmed = await session.scalar(
            select(func.count()).where(
                ActivitySignup.activity_id == activity, ActivitySignup.status == "confirmed"
            )
        )
        places = await session.scalar(select(Activity.confirmed))
    assert confirmed == places == 3

    views = [(await service.for_member(user))[0] for user in users]
    first = next(view for view in views if view.mine == "confirmed")
    token = service.check_in_token(first.signup_id or 0)
    door = first.starts_at.isoformat()  # the start: within the check-in window
    scans = [{"kind": "check_in", "token": token, "at": door, "staff": staff}
             for staff in (501, 502)]  # fmt: skip
    results = await asyncio.to_thread(_run_together, url, scans)
    assert sorted(results) == ["checked_in", "checked_in_now"]
