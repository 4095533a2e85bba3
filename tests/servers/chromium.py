"""Headless Chromium driven by Selenium through Debian's ``chromium-driver`` (no download at test time)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .ports import require_binary, unavailable


def start_browser(workdir: Path) -> Any:
    """A headless Chromium WebDriver with a fresh profile in ``workdir``.

    Skips (fails with ``CI=true``) when ``chromium``, ``chromium-driver`` or the ``selenium`` package is missing.
    """
    # Debian's /usr/bin/chromium is a launcher script (require_binary skips scripts, meant for storescp)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        unavailable("chromium not found: this test needs Debian package chromium")
        raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise
    driver = require_binary("chromedriver", "chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed: pip install 'dcm-exporter[test]'")
        raise AssertionError("unreachable") from None  # pragma: no cover - skip/fail raise
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", f"--user-data-dir={workdir / 'chromium-profile'}",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    # Selenium Manager would look for a driver online: name Debian's instead
    service = Service(executable_path=driver, log_output=str(workdir / "chromedriver.log"))
    return webdriver.Chrome(options=options, service=service)
