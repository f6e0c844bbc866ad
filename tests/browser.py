"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by its ``chromedriver``.

Nothing is downloaded: both binaries are named explicitly (or given with ``DLZERO_CHROMIUM``
and ``DLZERO_CHROMEDRIVER``) and Selenium Manager is told to stay offline. A test without
selenium or without the browser is skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def _find(env: str, *candidates: str) -> str | None:
    for path in (os.environ.get(env), *candidates):
        found = path and (shutil.which(path) or (Path(path).is_file() and path))
        if found:
            return str(found)
    return None


CHROMIUM = _find("DLZERO_CHROMIUM", "chromium", "chromium-browser")
CHROMEDRIVER = _find("DLZERO_CHROMEDRIVER", "chromedriver", "/usr/lib/chromium/chromedriver")
NO_BROWSER = (
    "no headless browser: install Debian's chromium and chromium-driver "
    f"(found chromium: {CHROMIUM}, chromedriver: {CHROMEDRIVER})"
)


@contextmanager
def chromium(width: int, height: int, logging: dict[str, str] | None = None) -> Iterator[Any]:
    """A headless Chromium window of ``width`` x ``height``, quit at the end.

    ``logging`` becomes the ``goog:loggingPrefs`` capability (the console, Chrome's
    performance log of every request). Skips the test without selenium or the browser.
    """
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser tests need selenium (the dev extra)"
    )
    from selenium.webdriver.chrome.service import Service

    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(NO_BROWSER)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch a driver
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
            options.add_argument(arg)
        options.add_argument(f"--window-size={width},{height}")
        if logging:
            options.set_capability("goog:loggingPrefs", logging)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
