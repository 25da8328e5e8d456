"""The dashboard through the real bot and plain HTTP (both engines): /dashboard sends the
link privately, the link signs in once, pages follow the viewer's street on the server,
security headers and cookie flags, signing out, revoked roles, the webhook's listener."""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta
from pathlib import Path

import aiohttp
import openpyxl
import pytest
from aiohttp import web
from sqlalchemy import update

from bot.runner import webhook_runner
from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.services.enterprises import name_key
from bot.web.pages import COOKIE, EXPIRED_LINK
from bot.web.server import CSP
from bot.web.sessions import DashboardAuth
from models import Enterprise, Staff
from tests.conftest import make_resident_id
from tests.dashboard_live import (
    OTHER_POINT,
    OTHER_STREET,
    approved_member,
    dashboard_bot,
    sign_in_link,
)
from tests.live import FEDERATION_ID, OUTSIDER_ID, REVIEW_GROUP, STAFF_IDS, Live, live_bot

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def client() -> aiohttp.ClientSession:
    # The dashboard is at 127.0.0.1: aiohttp keeps cookies of IP addresses only when told.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def assert_secure(response: aiohttp.ClientResponse, *, cache: str = "no-store") -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)
    assert response.headers.get("Cache-Control") == cache, response.url


async def sign_in(http: aiohttp.ClientSession, link: str) -> aiohttp.ClientResponse:
    """The link's page, then its button (a POST of the token)."""
    async with http.get(link) as page:
        assert page.status == 200
        assert_secure(page)
        text = await page.text()
        assert "登录" in text
    token = link.split("?t=")[1]
    base = link.split("/dashboard/")[0]
    response = await http.post(f"{base}/dashboard/signin", data={"t": token},
                               allow_redirects=False)  # fmt: skip
    return response


async def other_street_enterprise(
    live: Live, street_id: int, name: str = "西单商场有限公司"
) -> int:
    async with live.app.db.transaction() as session:
        row = Enterprise(
            name=name, name_key=name_key(name), uscc=None, street_id=street_id,
            provisional=False, employees=300,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


async def test_street_staff_sign_in_by_the_link_and_see_their_street_only(
    tmp_path: Path,
) -> None:
    async with dashboard_bot(tmp_path) as (live, base, other), client() as http:
        await approved_member(live)
        theirs = await other_street_enterprise(live, other)
        # Asked in the group: the link goes to the private chat, the group is told so.
        link = await sign_in_link(live, STAFF_IDS[0], in_group=True)
        assert link.startswith(f"{base}/dashboard/signin?t=")
        group_texts = [m.get("text", "") for m in live.emu.messages(REVIEW_GROUP)]
        assert not any("signin" in text for text in group_texts)

        signed_in = await sign_in(http, link)
        assert signed_in.status == 303 and signed_in.headers["Location"] == "/dashboard/"
        cookie = signed_in.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
            assert flag in cookie, cookie
        assert "Secure" not in cookie  # served over http here

        async with http.get(f"{base}/dashboard/") as overview:
            assert overview.status == 200
            assert_secure(overview)
            text = await overview.text()
        assert "德胜街道 · 总览" in text and OTHER_STREET not in text
        assert 'id="members-active">1<' in text
        assert "新街口社区" in text and OTHER_POINT not in text
        assert '/dashboard/streets"' not in text  # the streets page is the district's

        pages = {
            "/dashboard/points": "新街口社区",
            "/dashboard/enterprises?q=字节跳动": "北京字节跳动科技有限公司",
            "/dashboard/cases": "建会工作",
            "/dashboard/activities": "活动与经费",
            "/dashboard/exports": "会员名册",
        }
        for path, expected in pages.items():
            async with http.get(base + path) as response:
                body = await response.text()
                assert response.status == 200, (path, body)
                assert_secure(response)
            assert "德胜街道" in body and expected in body and OTHER_STREET not in body, path

        for path in ("/dashboard/charts/new-members.png", "/dashboard/charts/threshold.png"):
            async with http.get(base + path) as chart:
                assert chart.status == 200 and chart.content_type == "image/png"
                assert (await chart.read()).startswith(b"\x89PNG")

        async with http.get(f"{base}/dashboard/exports/members.xlsx") as export:
            assert export.status == 200
            assert "attachment" in export.headers["Content-Disposition"]
            workbook = openpyxl.load_workbook(io.BytesIO(await export.read()))
        cells = [str(c) for row in workbook.active.iter_rows(values_only=True) for c in row]
        assert any("王" in cell for cell in cells)
        assert make_resident_id(7) not in cells and "13812345678" not in " ".join(cells)

        # Another street, however it is asked for: refused on the server.
        refused = [
            f"/dashboard/streets/{other}", "/dashboard/streets", f"/dashboard/?street={other}",
            f"/dashboard/points?street={other}", f"/dashboard/cases?street={other}",
            f"/dashboard/enterprises/{theirs}", f"/dashboard/exports/members.xlsx?street={other}",
            f"/dashboard/charts/new-members.png?street={other}",
        ]  # fmt: skip
        for path in refused:
            async with http.get(base + path) as response:
                body = await response.text()
                assert response.status == 403, path
                assert_secure(response)
            assert "没有权限" in body and OTHER_STREET not in body, path
        async with http.get(f"{base}/dashboard/enterprises?q=西单商场") as search:
            assert "西单商场有限公司" not in await search.text()

        # The link again: refused, politely.
        async with http.get(link) as again:
            assert again.status == 410 and EXPIRED_LINK in await again.text()
        token = link.split("?t=")[1]
        async with http.post(f"{base}/dashboard/signin", data={"t": token}) as again:
            assert again.status == 410 and EXPIRED_LINK in await again.text()

        # Signing out: a POST with the session's token; without it, nothing happens.
        async with http.post(f"{base}/dashboard/signout", data={"csrf": "0" * 64}) as forged:
            assert forged.status == 403
        async with http.get(f"{base}/dashboard/") as still:
            assert still.status == 200
            csrf = CSRF.search(await still.text())
        assert csrf
        async with http.post(f"{base}/dashboard/signout", data={"csrf": csrf.group(1)}) as out:
            assert out.status == 200 and "已退出" in await out.text()
        async with http.get(f"{base}/dashboard/") as after:
            assert after.status == 401 and "/dashboard" in await after.text()


async def test_expired_and_unknown_links_are_refused(tmp_path: Path) -> None:
    async with dashboard_bot(tmp_path) as (live, base, _), client() as http:
        auth: DashboardAuth = live.app.dispatcher["dashboard"]
        expired = await auth.issue_link(STAFF_IDS[0], ttl=timedelta(minutes=-1))
        for token in (expired, "A" * 43, "<script>"):
            async with http.get(f"{base}/dashboard/signin", params={"t": token}) as page:
                assert page.status == 410
                assert_secure(page)
                assert EXPIRED_LINK in await page.text()
            async with http.post(f"{base}/dashboard/signin", data={"t": token}) as page:
                assert page.status == 410
        async with http.get(f"{base}/dashboard/") as page:
            assert page.status == 401


async def test_a_revoked_role_ends_the_session_at_the_next_request(tmp_path: Path) -> None:
    async with dashboard_bot(tmp_path) as (live, base, _), client() as http, client() as other:
        auth: DashboardAuth = live.app.dispatcher["dashboard"]
        await sign_in(http, await sign_in_link(live, STAFF_IDS[0]))
        await sign_in(other, f"{base}/dashboard/signin?t={await auth.issue_link(STAFF_IDS[1])}")
        for session in (http, other):
            async with session.get(f"{base}/dashboard/") as page:
                assert page.status == 200
        # /revoke in chat (the binding service) by an administrator.
        await AdminService(live.app.db).add_staff(950, "管理员", "admin", None, Actor.cli("test"))
        await live.app.dispatcher["binding"].revoke(STAFF_IDS[0], None, Actor(950, "管理员"))
        async with http.get(f"{base}/dashboard/") as page:
            assert page.status == 401
            assert "发送 /dashboard" in await page.text()
        # A role switched off in the database directly is noticed all the same.
        async with live.app.db.transaction() as session:
            await session.execute(
                update(Staff).where(Staff.telegram_user_id == STAFF_IDS[1]).values(active=False)
            )
        async with other.get(f"{base}/dashboard/points") as page:
            assert page.status == 403 and "已被撤销" in await page.text()
        async with other.get(f"{base}/dashboard/") as page:
            assert page.status == 401


async def test_federation_staff_see_the_district_and_every_street(tmp_path: Path) -> None:
    async with dashboard_bot(tmp_path) as (live, base, other), client() as http:
        await approved_member(live)
        await sign_in(http, await sign_in_link(live, FEDERATION_ID))
        async with http.get(f"{base}/dashboard/") as page:
            text = await page.text()
        assert "全区 · 总览" in text and 'id="members-active">1<' in text
        async with http.get(f"{base}/dashboard/streets") as page:
            text = await page.text()
        assert page.status == 200 and "德胜街道" in text and OTHER_STREET in text
        async with http.get(f"{base}/dashboard/streets/{other}") as page:
            assert page.status == 200 and f"{OTHER_STREET} · 总览" in await page.text()
        async with http.get(f"{base}/dashboard/points?street={other}") as page:
            assert OTHER_POINT in await page.text()
        async with http.get(f"{base}/dashboard/streets/99999") as page:
            assert page.status == 404
        # Periods: this year, a range of dates; a range that makes no sense is refused.
        async with http.get(f"{base}/dashboard/streets?period=this_year") as page:
            assert page.status == 200
        query = "period=range&start=2026-01-01&end=2026-12-31"
        async with http.get(f"{base}/dashboard/?{query}") as page:
            assert page.status == 200 and "2026-01-01 — 2026-12-31" in await page.text()
        for bad in ("start=2026-12-31&end=2026-01-01", "start=0001-01-01&end=2026-01-01",
                    "start=soon&end=later"):  # fmt: skip
            async with http.get(f"{base}/dashboard/points?period=range&{bad}") as page:
                assert page.status == 400, bad
        async with http.get(f"{base}/dashboard/exports/members.xlsx") as export:
            assert export.status == 200
        # What the registry or a worker typed is shown as text, never as markup.
        odd = await other_street_enterprise(live, other, '<script>alert("x")</script>有限公司')
        async with http.get(f"{base}/dashboard/enterprises/{odd}") as page:
            html = await page.text()
        assert page.status == 200 and "<script>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;有限公司" in html
        # A name a worker typed may hold a mobile number: masked, as on review cards.
        typed = await other_street_enterprise(live, other, "张三13912345678工作室")
        async with http.get(f"{base}/dashboard/enterprises/{typed}") as page:
            html = await page.text()
        assert "13912345678" not in html and "139****5678" in html


async def test_security_headers_on_every_kind_of_response(tmp_path: Path) -> None:
    async with dashboard_bot(tmp_path) as (_, base, _), client() as http:
        for path, status in (
            ("/dashboard/", 401),
            ("/dashboard/nothing-here", 404),
            ("/dashboard/signin", 410),
            ("/", 200),  # redirected to the dashboard: 401 there, still a page
        ):
            async with http.get(base + path, allow_redirects=False) as response:
                if path == "/":
                    assert response.status == 302
                    assert response.headers["Location"] == "/dashboard/"
                    continue
                assert response.status == status, path
                assert_secure(response)
        async with http.get(f"{base}/dashboard/static/dashboard.css") as css:
            assert css.status == 200 and css.content_type == "text/css"
            assert_secure(css, cache="public, max-age=3600")
        async with http.get(f"{base}/dashboard/charts/new-members.png") as chart:
            assert chart.status == 401  # charts are figures: signed in only


async def test_the_dashboard_is_served_on_the_webhook_listener(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with dashboard_bot(tmp_path) as (live, _, _), client() as http:
        runner = webhook_runner(live.app, "/telegram/webhook", "secret-of-the-test")
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with http.get(f"{base}/dashboard", allow_redirects=False) as response:
                assert response.status == 302
            async with http.get(f"{base}/dashboard/") as response:
                assert response.status == 401
                assert_secure(response)
            async with http.post(f"{base}/telegram/webhook", json={"update_id": 1}) as hook:
                assert hook.status == 401  # the webhook is as it was
                assert "Content-Security-Policy" not in hook.headers
            # A sign-in page's token never reaches the access log.
            async with http.get(f"{base}/dashboard/signin?t=TOKEN-NOT-TO-LOG") as page:
                assert page.status in (403, 410)
        finally:
            await runner.cleanup()
        logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
        assert any("/dashboard/signin" in line for line in logged), logged
        assert not any("TOKEN-NOT-TO-LOG" in line for line in logged)


async def test_who_may_ask_for_a_link(tmp_path: Path) -> None:
    async with dashboard_bot(tmp_path) as (live, _, _):
        outsider = live.worker(OUTSIDER_ID, "路人甲")
        await outsider.say("/dashboard", "只对")
        # Never wrote to the bot: it may not write first, and says so in the group.
        staff = live.staff(STAFF_IDS[2])
        said = await staff.say("/dashboard", "请先私聊机器人", chat_id=REVIEW_GROUP)
        assert "signin" not in said["text"]


async def test_without_the_dashboard_the_command_says_so(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        live.emu.open_private_chat(STAFF_IDS[0])
        await live.staff().say("/dashboard", "尚未启用")
