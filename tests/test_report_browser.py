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
from test_report import seed_docs, write_run, write_seeds_run

from dedup.report import ReportConfig, build_report

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


@pytest.fixture(scope="module")
def many_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds' cluster (number 0) and 120 small clusters, 30 of them with pages."""
    docs = seed_docs()
    ids = sorted(docs)
    clusters = [(ids[1], [ids[0]])]
    figures = {ids[0]: (0.668018, 0.964875)}
    for k in range(120):
        rep, member = f"art-{k:03d}", f"copy-{k:03d}"
        docs[rep] = f"第{k}号公告：关于第{k}项工作的安排。" * 4
        docs[member] = docs[rep] if k % 2 else docs[rep].replace("关于", "關於")
        figures[member] = (0.5 + k / 400, 0.9)
        clusters.append((rep, [member]))
    out = write_run(tmp_path_factory.mktemp("many"), docs, clusters, figures=figures)
    build_report(out, ReportConfig(clusters=30))
    return out / "report"


def _severe(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_diff_highlights_are_visible(browser: Any, report_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((report_dir / "clusters" / "000000.html").as_uri())
    assert browser.title.startswith("Cluster 0")
    for selector, colour, line in (
        ("ins.ins", "rgba(214, 232, 255, 1)", "underline"),
        ("del.del", "rgba(255, 226, 204, 1)", "line-through"),
    ):
        elements = browser.find_elements(By.CSS_SELECTOR, selector)
        assert len(elements) > 5, selector
        first = elements[0]
        browser.execute_script("arguments[0].scrollIntoView()", first)
        assert first.is_displayed()
        assert first.size["width"] > 0 and first.size["height"] > 0
        # The stylesheet (a local file) is applied: highlights have their background, and
        # a line and a sign besides colour.
        assert first.value_of_css_property("background-color") == colour
        assert line in first.value_of_css_property("text-decoration-line")
        sign = browser.execute_script(
            "return getComputedStyle(arguments[0], '::before').content", first
        )
        assert sign in ('"+"', '"\u2212"', '"−"')
    noise = browser.find_elements(By.CSS_SELECTOR, "td.mem span.noise")
    assert noise and noise[0].text.startswith("(")  # pinyin shown as noise, not as a change
    variants = browser.find_elements(By.CSS_SELECTOR, "td.mem span.var")
    assert len(variants) > 20  # traditional characters: muted, not marked
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


def test_cluster_page_toggles_and_keys(browser: Any, report_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 1000)
    browser.get((report_dir / "clusters" / "000000.html").as_uri())
    bar = browser.find_element(By.ID, "toolbar")
    assert bar.is_displayed()
    # Identical blocks are collapsed behind a button that says how many.
    same = browser.find_elements(By.CSS_SELECTOR, "tbody.same-run tr.same")
    assert same and not any(r.is_displayed() for r in same)
    fold = browser.find_element(By.CSS_SELECTOR, "tbody.same-run tr.fold button")
    assert "identical after folding" in fold.text and fold.get_attribute("aria-expanded") == "false"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", fold)
    fold.click()
    assert fold.get_attribute("aria-expanded") == "true"
    run = fold.find_element(By.XPATH, "ancestor::tbody")
    assert all(r.is_displayed() for r in run.find_elements(By.CSS_SELECTOR, "tr.same"))
    # n and p walk the changes; the current one sits just under the sticky toolbar.
    browser.execute_script("window.scrollTo(0, 0)")
    body = browser.find_element(By.TAG_NAME, "body")
    changes = browser.find_elements(
        By.CSS_SELECTOR, "table.diff tr.change, tr.rep_only, tr.member_only"
    )
    assert len(changes) > 3
    body.send_keys("n")
    body.send_keys("n")
    current = browser.find_element(By.CSS_SELECTOR, "tr.current")
    assert current.get_attribute("id") == changes[1].get_attribute("id")
    assert browser.switch_to.active_element.get_attribute("id") == current.get_attribute("id")
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", current)
    bar_bottom = browser.execute_script("return arguments[0].getBoundingClientRect().bottom", bar)
    assert bar_bottom - 1 <= top <= bar_bottom + 40
    assert "Change 2 of" in browser.find_element(By.ID, "where").text
    browser.switch_to.active_element.send_keys("p")
    current = browser.find_element(By.CSS_SELECTOR, "tr.current")
    assert current.get_attribute("id") == changes[0].get_attribute("id")
    # The table head stays visible while scrolling through a long diff.
    head = browser.find_element(By.CSS_SELECTOR, "#member-1 table.diff thead th")
    browser.execute_script("arguments[0].scrollIntoView()", changes[-1])
    head_top = browser.execute_script("return arguments[0].getBoundingClientRect().top", head)
    assert 0 <= head_top <= bar_bottom + 2
    # Unified view: each block's two versions one above the other.
    view = browser.find_element(By.ID, "view")
    view.click()
    assert view.get_attribute("aria-pressed") == "true" and view.text == "Split view"
    row = browser.find_element(By.CSS_SELECTOR, "tr.aligned.change")
    rep = row.find_element(By.CSS_SELECTOR, "td.rep")
    mem = row.find_element(By.CSS_SELECTOR, "td.mem")
    assert rep.location["x"] == mem.location["x"] and rep.location["y"] < mem.location["y"]
    view.click()
    assert rep.location["x"] + rep.size["width"] <= mem.location["x"]
    # Raw differences: variants stand out when asked.
    variant = browser.find_element(By.CSS_SELECTOR, "td.mem span.var")
    muted = variant.value_of_css_property("background-color")
    browser.find_element(By.ID, "raw").click()
    assert variant.value_of_css_property("background-color") != muted
    moved = browser.find_element(By.CSS_SELECTOR, "tr.moved td.sim")
    assert "moved" in moved.get_attribute("textContent")
    assert _severe(browser) == []


def test_index_search_finds_every_cluster(browser: Any, many_dir: Path) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def wait_for_count(start: str) -> None:
        count = browser.find_element(By.ID, "count")
        try:
            WebDriverWait(browser, 5).until(lambda _: count.text.startswith(start))
        except TimeoutException:
            pytest.fail(f"expected {start!r}, the page says {count.text!r}")

    browser.set_window_size(1280, 1000)
    browser.get((many_dir / "index.html").as_uri())
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    count = browser.find_element(By.ID, "count")
    assert count.text.startswith("121 of 121 clusters match (30 with a page")
    rows = browser.find_elements(By.CSS_SELECTOR, "#cluster-table tbody tr")
    assert len(rows) == 50  # one page of results
    pager = browser.find_element(By.ID, "pager")
    assert pager.is_displayed() and "Page 1 of 3" in pager.text
    browser.find_element(By.ID, "page-next").click()
    assert "Page 2 of 3" in pager.text
    # By a member's id: the cluster without a page of its own is found too.
    box = browser.find_element(By.ID, "q")
    box.send_keys("copy-117")
    wait_for_count("1 of")
    cells = browser.find_elements(By.CSS_SELECTOR, "#cluster-table tbody tr td")
    assert cells[0].text == "118" and cells[1].text == "2"
    assert "第117号公告" in cells[2].text
    assert not pager.is_displayed()
    # By the text of a first line, then narrowed by a noise kind.
    box.clear()
    box.send_keys("项工作的安排")
    wait_for_count("120 of")
    Select(browser.find_element(By.ID, "noise")).select_by_visible_text(
        "characters converted from traditional"
    )
    wait_for_count("60 of")
    # By cluster number (or any text holding it); the link opens its page.
    box.clear()
    Select(browser.find_element(By.ID, "noise")).select_by_index(0)
    box.send_keys("118")
    wait_for_count("2 of")  # cluster 118, and copy-118 of cluster 119
    box.clear()
    box.send_keys("000_fa5b")
    wait_for_count("1 of")
    browser.find_element(By.CSS_SELECTOR, "#cluster-table tbody td a").click()
    assert browser.current_url.endswith("clusters/000000.html")
    assert _severe(browser) == []


def test_index_keys_search_move_and_open(browser: Any, many_dir: Path) -> None:
    """As in dedup serve: / focuses the search, j and k move through the rows (on to the next
    page past the last), Enter opens the selected cluster's page."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1280, 1000)
    browser.get((many_dir / "index.html").as_uri())
    assert browser.find_element(By.ID, "keys").is_displayed()
    body = browser.find_element(By.TAG_NAME, "body")

    def selected() -> list[str]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#cluster-table tbody tr.selected")
        return [r.find_element(By.TAG_NAME, "td").text.lstrip("▶ ") for r in rows]

    def first_cells() -> list[str]:
        cells = browser.find_elements(By.CSS_SELECTOR, "#cluster-table tbody tr td:first-child")
        return [c.text.lstrip("▶ ") for c in cells]

    assert selected() == []
    order = first_cells()
    body.send_keys("j")
    assert selected() == [order[0]]
    body.send_keys("jjk")
    assert selected() == [order[1]]
    row = browser.find_element(By.CSS_SELECTOR, "#cluster-table tbody tr.selected")
    assert row.get_attribute("aria-current") == "true"
    assert "solid" in row.value_of_css_property("outline-style")  # not colour alone
    # Past the last row of a page, on to the next page's first row, and back.
    body.send_keys("j" * 49)
    pager = browser.find_element(By.ID, "pager")
    assert "Page 2 of 3" in pager.text
    page_two = first_cells()
    assert page_two != order and selected() == [page_two[0]]
    body.send_keys("k")
    assert "Page 1 of 3" in pager.text and selected() == [order[-1]]
    # / puts the cursor in the search box; keys typed there are text, not moves.
    body.send_keys("/")
    box = browser.switch_to.active_element
    assert box.get_attribute("id") == "q"
    box.send_keys("copy-000")
    assert box.get_attribute("value") == "copy-000"
    count = browser.find_element(By.ID, "count")
    # Generous waits: on a loaded machine the browser can take seconds to search or to load
    # a page; they bound the wait, they time nothing.
    WebDriverWait(browser, 30).until(lambda _: count.text.startswith("1 of"))
    box.send_keys(Keys.ESCAPE)
    assert browser.switch_to.active_element.get_attribute("id") != "q"
    body.send_keys("j")
    assert selected() == ["1"]
    # Enter opens the selected cluster's page (cluster 1 has one), pressed where the focus
    # is, as a user does.
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith("clusters/000001.html"))
    assert browser.title.startswith("Cluster 1")
    assert _severe(browser) == []


@pytest.mark.parametrize("page", ["index.html", "clusters/000000.html"])
def test_nothing_overflows_at_420_px(browser: Any, many_dir: Path, page: str) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(420, 900)
    try:
        browser.get((many_dir / page).as_uri())
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert width <= 420
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
        # Every element ends inside the viewport (wide tables scroll inside their container).
        wide = browser.execute_script(
            """
            const out = [];
            for (const el of document.querySelectorAll('main *')) {
              if (el.closest('.scroll') && !el.classList.contains('scroll')) continue;
              const r = el.getBoundingClientRect();
              const right = document.documentElement.clientWidth + 0.5;
              if (r.width && r.right > right) out.push(el.tagName + '.' + el.className);
            }
            return out;
            """
        )
        assert wide == []
        for chart in browser.find_elements(By.CSS_SELECTOR, "svg.chart"):
            assert chart.size["width"] <= width
        if page.startswith("clusters"):
            rep = browser.find_element(By.CSS_SELECTOR, "tr.aligned.change td.rep")
            mem = browser.find_element(By.CSS_SELECTOR, "tr.aligned.change td.mem")
            assert rep.location["y"] < mem.location["y"]  # stacked, not squeezed side by side
        assert _severe(browser) == []
    finally:
        browser.set_window_size(1280, 1600)
