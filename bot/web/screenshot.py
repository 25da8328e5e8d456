"""A picture of the dashboard's overview, as a staff member sees it (for the demo).

The overview is served on a temporary listener of this process (127.0.0.1, a free port),
whatever `[dashboard]` says, and opened in Debian's headless Chromium through a real
sign-in: a one-time link for `user_id`, its page, the button, the overview with its
charts.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.web.browser import chromium
from bot.web.pages import PREFIX
from bot.web.server import listening
from bot.web.sessions import DashboardAuth

if TYPE_CHECKING:
    from bot.app import App

WIDTH = 1280
LOAD_TIMEOUT = 30.0


async def screenshot_overview(app: App, user_id: int, path: Path | str) -> None:
    """Sign `user_id` (a staff member) in and save a PNG of the overview to `path`."""
    auth: DashboardAuth = app.dispatcher["dashboard"]
    token = await auth.issue_link(user_id)
    async with listening(app, "127.0.0.1", 0, secure=False) as address:
        url = f"{address}{PREFIX}/signin?t={token}"
        await asyncio.to_thread(_shoot, url, Path(path))


def _shoot(url: str, path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(width=WIDTH, height=1000) as driver:
        driver.get(url)
        driver.find_element(By.ID, "sign-in").click()
        wait = WebDriverWait(driver, LOAD_TIMEOUT)
        wait.until(lambda d: d.find_elements(By.ID, "scope"))
        wait.until(_charts_loaded)
        # The whole page, not the window: tall enough for no scroll bar, then captured
        # beyond the viewport.
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(WIDTH, max(height, 600) + 120)
        wait.until(_charts_loaded)
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                         "scale": 1},
            },
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


def _charts_loaded(driver: Any) -> bool:
    return bool(
        driver.execute_script(
            "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
        )
    )
