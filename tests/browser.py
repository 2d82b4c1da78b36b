"""A real headless Chromium, from the distribution's packages, driven over WebDriver.

Test infrastructure for the console (tests/test_console_browser.py) and for
``make screenshots`` (tests/screenshots.py). Chromium and its chromedriver are the
Debian packages ``chromium`` and ``chromium-driver``; nothing is downloaded at run time
(selenium is given both paths, so its driver manager never runs). Where they are
missing the browser tests are skipped with the command that installs them, unless
``HARNESS_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs them) makes that a
failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

#: Where to install them from, said wherever they are missing.
INSTALL_HINT = (
    "install Debian's Chromium and its driver: sudo apt-get install chromium chromium-driver "
    "(or set HARNESS_CHROMIUM and HARNESS_CHROMEDRIVER to their paths)"
)

T = TypeVar("T")


def find_browser() -> tuple[str, str] | None:
    """The Chromium binary and its chromedriver, or ``None`` when either is missing."""
    chromium = os.environ.get("HARNESS_CHROMIUM") or next(
        (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))),
        None,
    )
    driver = os.environ.get("HARNESS_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver or not Path(chromium).exists() or not Path(driver).exists():
        return None
    return chromium, driver


def required() -> bool:
    """Whether missing Chromium is a failure rather than a skip (CI)."""
    return os.environ.get("HARNESS_REQUIRE_BROWSER", "") not in ("", "0")


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium session (a selenium WebDriver) with a fresh profile.

    The flags keep it off the network: no background requests, no component updates,
    no sync (the machine's network is closed; they would only fail slowly).

    Raises:
        RuntimeError: Chromium or chromedriver is missing (:data:`INSTALL_HINT`).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if found is None:
        raise RuntimeError(f"Chromium not found: {INSTALL_HINT}")
    binary, driver_path = found
    # selenium's own telemetry and driver manager stay off.
    os.environ.setdefault("SE_AVOID_STATS", "true")
    profile = tempfile.mkdtemp(prefix="harness-chromium-")
    options = Options()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--lang=en-US",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(check: Callable[[], T], timeout: float = 5.0, what: str = "the page") -> T:
    """Poll ``check`` until it returns something truthy (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # an element not there yet, a stale one
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from last
        time.sleep(0.03)
