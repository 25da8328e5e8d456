"""A headless Chromium for the dashboard's tests and the demo's screenshot: Debian's
`chromium` driven through its `chromium-driver` (/usr/bin/chromedriver) by selenium.
Nothing is downloaded at run time; when the browser is missing, BrowserMissing says how
to install it.

Selenium's calls block: run them in a thread (asyncio.to_thread) when the dashboard is
served by the same event loop, or the page can never load.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
SETUP = (
    "run the set-up: `bash scripts/system_packages.sh` (`make install` and `make test` run "
    "it), or `apt-get install -y chromium chromium-driver` as root"
)
OPTIONS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=zh-CN",
)


class BrowserMissing(RuntimeError):
    """Chromium, its driver or selenium is not installed."""


def check_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        raise BrowserMissing(
            f"Debian's chromium and chromium-driver are needed ({', '.join(missing)} "
            f"missing): {SETUP}"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserMissing(
            "selenium is not installed: .venv/bin/pip install -e '.[dev]'"
        ) from None


@contextlib.contextmanager
def chromium(
    downloads: Path | None = None, *, width: int = 1280, height: int = 1000
) -> Iterator[Any]:
    """A fresh headless browser with a profile of its own (removed afterwards); files it
    downloads go to `downloads`."""
    check_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="unionbot-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for option in (*OPTIONS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(option)
    prefs: dict[str, object] = {"intl.accept_languages": "zh-CN,zh"}
    if downloads is not None:
        prefs.update({
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
        })  # fmt: skip
    options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        if downloads is not None:
            driver.execute_cdp_cmd(
                "Browser.setDownloadBehavior",
                {"behavior": "allow", "downloadPath": str(downloads)},
            )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
