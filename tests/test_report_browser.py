"""A cluster page of the seeds in a real browser: headless Chromium driven by selenium.

Needs the Debian packages `chromium` and `chromium-driver` and the Python package `selenium`.
It is never skipped: without them it fails and says what to install.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import write_seeds_run

from dedup.report import build_report

_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)


def _require(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install the Debian package {package} (apt-get install "
            "chromium chromium-driver) to run the browser test"
        )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install selenium")
    binary = _require("chromium", "chromium")
    driver_path = _require("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in _FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="dedup-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = write_seeds_run(tmp_path_factory.mktemp("browser"))
    build_report(out)
    return out / "report"


def _severe(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_diff_highlights_are_visible(browser: Any, report_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((report_dir / "clusters" / "000000.html").as_uri())
    assert browser.title.startswith("Cluster 0")
    for selector, colour in (
        ("ins.ins", "rgba(204, 255, 216, 1)"),
        ("del.del", "rgba(255, 215, 213, 1)"),
    ):
        elements = browser.find_elements(By.CSS_SELECTOR, selector)
        assert len(elements) > 5, selector
        first = elements[0]
        browser.execute_script("arguments[0].scrollIntoView()", first)
        assert first.is_displayed()
        assert first.size["width"] > 0 and first.size["height"] > 0
        # The stylesheet (a local file) is applied: highlights have their background.
        assert first.value_of_css_property("background-color") == colour
    noise = browser.find_elements(By.CSS_SELECTOR, "td.mem span.noise")
    assert noise and noise[0].text.startswith("(")  # pinyin shown as noise, not as a change
    # The two versions stand side by side.
    rep_cell = browser.find_element(By.CSS_SELECTOR, "tr.aligned td.rep")
    mem_cell = browser.find_element(By.CSS_SELECTOR, "tr.aligned td.mem")
    assert rep_cell.location["x"] + rep_cell.size["width"] <= mem_cell.location["x"]
    # The original text of a member opens without script.
    details = browser.find_element(By.CSS_SELECTOR, "section.member details")
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.find_element(By.TAG_NAME, "pre").is_displayed()
    browser.execute_script("document.getElementById('member-1').scrollIntoView()")
    png = browser.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    (tmp_path / "cluster.png").write_bytes(png)
    assert _severe(browser) == []  # no blocked resource, no script error


def test_index_table_sorts_with_script(browser: Any, report_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((report_dir / "index.html").as_uri())
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    button = browser.find_element(By.CSS_SELECTOR, "table.clusters th button")
    button.click()
    head = browser.find_element(By.CSS_SELECTOR, "table.clusters th")
    assert head.get_attribute("aria-sort") == "ascending"
    link = browser.find_element(By.CSS_SELECTOR, "table.clusters td a")
    link.click()
    assert browser.current_url.endswith("clusters/000000.html")
    assert _severe(browser) == []
