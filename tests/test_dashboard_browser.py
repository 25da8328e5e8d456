"""The dashboard in a real browser: Debian's headless Chromium driven by selenium through
chromium-driver. A street's staff member sends /dashboard to the bot, opens the link that
arrives in their private chat, signs in, sees their street and is refused another's, is
refused the same link again and an expired one, downloads an export and opens it, signs
out; a revoked role ends the session at the next page. The overview's screenshot too.

Without chromium these tests FAIL (they do not skip): run the set-up (`make install`,
which runs scripts/system_packages.sh) or `apt-get install -y chromium chromium-driver`.
Selenium blocks, and the bot serves the pages from this event loop: every browser call
runs in a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from PIL import Image
from selenium.webdriver.common.by import By

from bot.services.admin import AdminService
from bot.services.audit import Actor
from bot.web.browser import BrowserMissing, check_browser, chromium
from bot.web.pages import EXPIRED_LINK
from bot.web.screenshot import screenshot_overview
from bot.web.sessions import DashboardAuth
from tests.dashboard_live import (
    OTHER_POINT,
    OTHER_STREET,
    approved_member,
    dashboard_bot,
    sign_in_link,
)
from tests.live import FEDERATION_ID, STAFF_IDS

WAIT = 20.0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    try:
        check_browser()
    except BrowserMissing as missing:
        pytest.fail(f"the dashboard's browser tests need a browser: {missing}", pytrace=False)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(downloads) as driver:
        driver.downloads = downloads
        yield driver


async def visit(driver: Any, url: str) -> str:
    """Open `url` and return the page's visible text."""
    await asyncio.to_thread(driver.get, url)
    return await body(driver)


async def body(driver: Any) -> str:
    return str(await asyncio.to_thread(lambda: driver.find_element(By.TAG_NAME, "body").text))


async def click(driver: Any, element_id: str | None = None, *, link: str | None = None) -> str:
    """Click an element (by id, or a link by its text) that leads to another page; the
    text of that page once it has loaded."""
    await asyncio.to_thread(_click_and_wait, driver, element_id, link)
    return await body(driver)


def _click_and_wait(driver: Any, element_id: str | None, link: str | None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    if element_id is not None:
        driver.find_element(By.ID, element_id).click()
    else:
        driver.find_element(By.LINK_TEXT, link).click()
    wait = WebDriverWait(driver, WAIT)
    wait.until(expected_conditions.staleness_of(old))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


async def downloaded(folder: Path, within: float = WAIT) -> Path:
    deadline = time.monotonic() + within
    files: list[Path] = []
    while time.monotonic() < deadline:
        files = await asyncio.to_thread(lambda: list(folder.iterdir()))
        done = [p for p in files if p.suffix == ".xlsx"]
        if done and not any(p.suffix == ".crdownload" for p in files):
            return done[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing downloaded: {files}")


async def test_street_staff_in_a_browser(tmp_path: Path, browser: Any) -> None:
    async with dashboard_bot(tmp_path) as (live, base, other):
        await approved_member(live)
        # The staff member asks the bot; the link arrives in their private chat.
        link = await sign_in_link(live, STAFF_IDS[0])
        text = await visit(browser, link)
        assert "审核员501" in text and "登录" in text
        text = await click(browser, "sign-in")
        assert browser.current_url == f"{base}/dashboard/"
        assert "德胜街道 · 总览" in text and OTHER_STREET not in text
        assert "在册会员\n1" in text and "新街口社区" in text
        assert "街道\n" not in text.split("总览")[0]  # no streets page for a street
        charts = await asyncio.to_thread(
            browser.execute_script,
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth])",
        )
        assert len(charts) == 2 and all(done and width > 100 for done, width in charts)

        for label in ("接待点", "企业", "建会工作", "活动与经费", "导出"):
            text = await click(browser, link=label)
            assert f"德胜街道 · {label}" in text and OTHER_STREET not in text, label
            assert OTHER_POINT not in text

        # Another street's address: refused by the server.
        text = await visit(browser, f"{base}/dashboard/streets/{other}")
        assert "没有权限" in text and OTHER_STREET not in text
        text = await visit(browser, f"{base}/dashboard/points?street={other}")
        assert "没有权限" in text

        # An export, downloaded through the browser, opens in openpyxl.
        await visit(browser, f"{base}/dashboard/exports")
        await asyncio.to_thread(
            lambda: browser.find_element(By.ID, "export-members").click()
        )  # a download: the page stays
        file = await downloaded(browser.downloads)
        workbook = openpyxl.load_workbook(file)
        rows = list(workbook.active.iter_rows(values_only=True))
        assert len(rows) == 2 and any("王" in str(cell) for cell in rows[1])

        # The same link again, and an expired one: refused, politely.
        assert EXPIRED_LINK in await visit(browser, link)
        auth: DashboardAuth = live.app.dispatcher["dashboard"]
        expired = await auth.issue_link(STAFF_IDS[0], ttl=timedelta(minutes=-1))
        assert EXPIRED_LINK in await visit(browser, f"{base}/dashboard/signin?t={expired}")

        # Signing out: the cookie no longer opens a page.
        await visit(browser, f"{base}/dashboard/")
        assert "已退出" in await click(browser, "sign-out")
        text = await visit(browser, f"{base}/dashboard/")
        assert "请先登录" in text and "德胜街道" not in text

        # Signed in again, then the role is revoked: the next page ends the session.
        await visit(browser, await sign_in_link(live, STAFF_IDS[0]))
        assert "德胜街道 · 总览" in await click(browser, "sign-in")
        await AdminService(live.app.db).remove_staff(STAFF_IDS[0], Actor.cli("test"))
        text = await visit(browser, f"{base}/dashboard/enterprises")
        assert "请先登录" in text and "德胜街道" not in text


async def test_federation_staff_in_a_browser(tmp_path: Path, browser: Any) -> None:
    async with dashboard_bot(tmp_path) as (live, base, other):
        await approved_member(live)
        await visit(browser, await sign_in_link(live, FEDERATION_ID))
        text = await click(browser, "sign-in")
        assert "全区 · 总览" in text
        text = await visit(browser, f"{base}/dashboard/streets")
        assert "德胜街道" in text and OTHER_STREET in text
        text = await click(browser, link=OTHER_STREET)
        assert browser.current_url == f"{base}/dashboard/streets/{other}"
        assert f"{OTHER_STREET} · 总览" in text


async def test_screenshot_of_the_overview(tmp_path: Path) -> None:
    try:
        check_browser()
    except BrowserMissing as missing:
        pytest.fail(f"the dashboard's screenshot needs a browser: {missing}", pytrace=False)
    async with dashboard_bot(tmp_path) as (live, _, _):
        await approved_member(live)
        path = tmp_path / "out" / "dashboard.png"
        await screenshot_overview(live.app, FEDERATION_ID, path)
        image = Image.open(path)
        assert image.width >= 1200 and image.height > 800
        # Not one flat colour: the page and its charts were drawn.
        assert len(image.convert("RGB").resize((64, 64)).getcolors(64 * 64) or []) > 20
