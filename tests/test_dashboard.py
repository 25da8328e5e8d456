"""The dashboard's sign-in links and sessions, on the service (both engines): single use,
expiry, two uses of one link at once, the current role read at every request, revoking
a role, signing out, only hashes stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.db import Database
from bot.pii import LookupHasher, generate_key, parse_key
from bot.services.audit import Actor
from bot.services.binding import BindingService
from bot.services.errors import NotAllowed
from bot.web.sessions import DashboardAuth, LinkRefused, SessionEnded
from models import AuditEntry, DashboardLink, DashboardSession, Staff
from tests.conftest import World

STREET_STAFF, FEDERATION_STAFF, NOBODY = 501, 901, 777
CLI = Actor.cli("test")


@pytest.fixture
def hasher() -> LookupHasher:
    return LookupHasher(parse_key(generate_key()))


@pytest.fixture
def auth(world: World, hasher: LookupHasher) -> DashboardAuth:
    return DashboardAuth(world.db, hasher, timedelta(hours=8))


async def test_a_link_signs_a_street_staff_member_in_to_their_street(
    world: World, auth: DashboardAuth
) -> None:
    token = await auth.issue_link(STREET_STAFF)
    assert len(token) >= 22  # at least 128 bits, urlsafe base64
    looked = await auth.check_link(token)  # the page before the button: not used yet
    session_id, viewer = await auth.redeem(token)
    assert viewer == looked
    assert viewer.street_ids == (world.street_id,) and not viewer.district
    assert viewer.home == world.street_id and viewer.name == "审核员501"
    assert viewer.may_see(world.street_id)
    assert not viewer.may_see(world.street_id + 1) and not viewer.may_see(None)
    assert await auth.viewer(session_id) == viewer
    async with world.db.read() as session:
        audited = await session.scalar(
            select(AuditEntry.actor_user_id).where(AuditEntry.action == "dashboard.signed_in")
        )
    assert audited == STREET_STAFF


async def test_federation_staff_see_the_district(auth: DashboardAuth) -> None:
    _, viewer = await auth.redeem(await auth.issue_link(FEDERATION_STAFF))
    assert viewer.district and viewer.home is None
    assert viewer.may_see(None) and viewer.may_see(12345)


async def test_only_staff_get_a_link(auth: DashboardAuth) -> None:
    with pytest.raises(NotAllowed):
        await auth.issue_link(NOBODY)


async def test_a_link_works_once(auth: DashboardAuth) -> None:
    token = await auth.issue_link(STREET_STAFF)
    await auth.redeem(token)
    for attempt in (auth.check_link, auth.redeem):
        with pytest.raises(LinkRefused) as refused:
            await attempt(token)
        assert refused.value.reason == "used"


async def test_an_expired_or_unknown_link_is_refused(auth: DashboardAuth) -> None:
    token = await auth.issue_link(STREET_STAFF, ttl=timedelta(seconds=-1))
    for attempt in (auth.check_link, auth.redeem):
        with pytest.raises(LinkRefused) as refused:
            await attempt(token)
        assert refused.value.reason == "expired"
    with pytest.raises(LinkRefused) as refused:
        await auth.redeem("x" * 43)
    assert refused.value.reason == "unknown"


async def test_a_new_link_replaces_the_unused_ones(auth: DashboardAuth) -> None:
    first = await auth.issue_link(STREET_STAFF)
    second = await auth.issue_link(STREET_STAFF)
    with pytest.raises(LinkRefused):
        await auth.redeem(first)
    await auth.redeem(second)


async def test_two_uses_of_one_link_at_once_give_one_session(
    world: World, auth: DashboardAuth, hasher: LookupHasher
) -> None:
    """Two clicks at the same moment, in this process and in another one (a second
    Database: its own connections, as another webhook worker would have)."""
    other_db = Database(world.db.url)
    try:
        other = DashboardAuth(other_db, hasher, timedelta(hours=8))
        for _ in range(5):
            token = await auth.issue_link(STREET_STAFF)
            results = await asyncio.gather(
                auth.redeem(token), other.redeem(token), auth.redeem(token),
                return_exceptions=True,
            )  # fmt: skip
            sessions = [r for r in results if not isinstance(r, BaseException)]
            refusals = [r for r in results if isinstance(r, LinkRefused)]
            assert len(sessions) == 1, results
            assert len(refusals) == 2 and {r.reason for r in refusals} == {"used"}
        async with world.db.read() as session:
            rows = list(await session.scalars(select(DashboardSession.user_id)))
        assert rows == [STREET_STAFF] * 5
    finally:
        await other_db.dispose()


async def test_only_hashes_are_stored(world: World, auth: DashboardAuth) -> None:
    token = await auth.issue_link(STREET_STAFF)
    session_id, _ = await auth.redeem(token)
    async with world.db.read() as session:
        link = await session.scalar(select(DashboardLink))
        row = await session.scalar(select(DashboardSession))
    assert link is not None and row is not None
    assert token not in repr(vars(link)) and session_id not in repr(vars(row))
    assert len(link.token_hash) == 64 and len(row.session_hash) == 64


async def test_a_session_expires(world: World, hasher: LookupHasher) -> None:
    short = DashboardAuth(world.db, hasher, timedelta(seconds=-1))
    session_id, _ = await short.redeem(await short.issue_link(STREET_STAFF))
    with pytest.raises(SessionEnded) as ended:
        await short.viewer(session_id)
    assert ended.value.reason == "expired"


async def test_signing_out_ends_the_session(auth: DashboardAuth) -> None:
    session_id, _ = await auth.redeem(await auth.issue_link(STREET_STAFF))
    other_id, _ = await auth.redeem(await auth.issue_link(STREET_STAFF))
    await auth.sign_out(session_id)
    with pytest.raises(SessionEnded) as ended:
        await auth.viewer(session_id)
    assert ended.value.reason == "unknown"
    await auth.viewer(other_id)  # the person's other browser stays signed in


async def test_the_role_is_read_at_every_request(world: World, auth: DashboardAuth) -> None:
    """A role withdrawn behind the dashboard's back (no session deleted) still ends the
    session at the next request, and the session's row goes."""
    session_id, _ = await auth.redeem(await auth.issue_link(STREET_STAFF))
    async with world.db.transaction() as session:
        await session.execute(
            update(Staff).where(Staff.telegram_user_id == STREET_STAFF).values(active=False)
        )
    with pytest.raises(SessionEnded) as ended:
        await auth.viewer(session_id)
    assert ended.value.reason == "revoked"
    async with world.db.read() as session:
        assert await session.scalar(select(DashboardSession.id)) is None


async def test_revoking_a_role_deletes_the_sessions(world: World, auth: DashboardAuth) -> None:
    await world.admin.add_staff(950, "管理员", "admin", None, CLI)
    binding = BindingService(world.db, auth.hasher)
    mine, _ = await auth.redeem(await auth.issue_link(STREET_STAFF))
    theirs, _ = await auth.redeem(await auth.issue_link(502))
    await binding.revoke(STREET_STAFF, "street", Actor(950, "管理员"))
    async with world.db.read() as session:
        left = list(await session.scalars(select(DashboardSession.user_id)))
    assert left == [502]
    with pytest.raises(SessionEnded):
        await auth.viewer(mine)
    await auth.viewer(theirs)
    # The command line's `unionbot staff remove` does the same.
    await world.admin.remove_staff(502, CLI)
    with pytest.raises(SessionEnded):
        await auth.viewer(theirs)
    with pytest.raises(NotAllowed):
        await auth.issue_link(STREET_STAFF)


async def test_a_link_of_someone_no_longer_staff_is_refused(
    world: World, auth: DashboardAuth
) -> None:
    token = await auth.issue_link(STREET_STAFF)
    await world.admin.remove_staff(STREET_STAFF, CLI)
    for attempt in (auth.check_link, auth.redeem):
        with pytest.raises(LinkRefused) as refused:
            await attempt(token)
        assert refused.value.reason == "not_staff"


def test_csrf_tokens_belong_to_their_session(auth: DashboardAuth) -> None:
    token = auth.csrf_token("session-a")
    assert auth.csrf_ok("session-a", token)
    assert not auth.csrf_ok("session-b", token) and not auth.csrf_ok("session-a", "")
