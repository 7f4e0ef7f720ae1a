"""`dedup serve` in a real browser (headless Chromium driven by selenium, as in
test_report_browser): a search, a cluster page, the labelling round trip across a restart, and
the pages at 420 px. The server runs as `python -m dedup serve OUTDIR --port 0`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_report_browser
from test_serve import serve_run

from dedup.labels import LABELS

browser = test_report_browser.browser
_WAIT = 20


class Server:
    """`dedup serve` in a child process, on the free port it picked."""

    def __init__(self, outdir: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dedup", "serve", str(outdir), "--port", "0"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.process.stderr is not None
        seen = []
        for line in self.process.stderr:
            seen.append(line)
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                self.url = found.group(1)
                return
        self.stop()
        raise AssertionError("dedup serve did not start:\n" + "".join(seen))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serve_run(tmp_path_factory.mktemp("serve-browser"))


@pytest.fixture()
def server(run_dir: Path) -> Iterator[Server]:
    s = Server(run_dir)
    try:
        yield s
    finally:
        s.stop()


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, _WAIT).until(condition)


def _severe(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _clusters(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "clusters.jsonl").read_text("utf-8").splitlines()]


def test_search_and_keyboard(browser: Any, server: Server, run_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server.url)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("/")
    box = browser.switch_to.active_element
    assert box.get_attribute("id") == "q"
    box.send_keys("本文来源" + Keys.ENTER)
    _wait(browser, lambda d: "q=" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.row")
    want = {
        c["cluster"]
        for c in _clusters(run_dir)
        if any(m["id"].endswith("-source") for m in c["members"])
    }
    assert {int(r.get_attribute("data-cluster")) for r in rows} == want
    assert "match" in browser.find_element(By.ID, "count").text
    # j selects the first row (marked by an outline and a sign, not colour alone); Enter opens it
    browser.find_element(By.TAG_NAME, "body").send_keys("j")
    first = browser.find_elements(By.CSS_SELECTOR, "tr.row")[0]
    assert "selected" in first.get_attribute("class")
    assert first.get_attribute("aria-current") == "true"
    number = first.get_attribute("data-cluster")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)
    _wait(browser, lambda d: d.current_url.endswith(f"/cluster/{number}"))
    assert not _severe(browser)


def test_cluster_page_shows_the_diff(browser: Any, server: Server, run_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    c = _clusters(run_dir)[0]
    browser.get(f"{server.url}cluster/{c['cluster']}")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Cluster {c['cluster']}"
    diffs = browser.find_elements(By.CSS_SELECTOR, "table.diff")
    assert len(diffs) == len(c["members"]) - 1
    marks = browser.find_elements(By.CSS_SELECTOR, "table.diff ins.ins, table.diff del.del")
    assert marks
    # differences are underlined or struck out as well as coloured
    styles = {m.value_of_css_property("text-decoration-line") for m in marks}
    assert styles <= {"underline", "line-through"} and styles
    review = browser.find_elements(By.CSS_SELECTOR, "table.review tr.row")
    assert len(review) == len(c["members"]) - 1
    assert not _severe(browser)


def test_labelling_round_trip(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    out = serve_run(tmp_path)
    c = _clusters(out)[0]
    url_path = f"cluster/{c['cluster']}"
    first = Server(out)
    try:
        browser.get(first.url + url_path)
        rows = browser.find_elements(By.CSS_SELECTOR, "table.review tr.row")
        assert all(
            r.find_element(By.CSS_SELECTOR, "td.verdict").text == "— not labelled" for r in rows
        )
        rows[0].find_element(By.CSS_SELECTOR, "button.same").click()
        _wait(browser, lambda d: rows[0].get_attribute("data-verdict") == "same")
        # by keyboard: the second member is selected with j j and marked different with d
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("j")
        body.send_keys("j")
        body.send_keys("d")
        _wait(browser, lambda d: rows[1].get_attribute("data-verdict") == "different")
        assert rows[0].find_element(By.CSS_SELECTOR, "td.verdict").text == "✓ same article"
        assert rows[1].find_element(By.CSS_SELECTOR, "td.verdict").text == "✗ different"
        assert not _severe(browser)
    finally:
        first.stop()
    rep = c["representative"]
    ids = [r.get_attribute("data-b") for r in rows[:2]]
    lines = [json.loads(x) for x in (out / LABELS).read_text("utf-8").splitlines()]
    assert lines == [{"a": rep, "b": ids[0], "dup": True}, {"a": rep, "b": ids[1], "dup": False}]
    second = Server(out)
    try:
        browser.get(second.url + url_path)
        rows = browser.find_elements(By.CSS_SELECTOR, "table.review tr.row")
        verdicts = [r.find_element(By.CSS_SELECTOR, "td.verdict").text for r in rows]
        assert verdicts[:2] == ["✓ same article", "✗ different"]
        pressed = rows[0].find_element(By.CSS_SELECTOR, "button.same")
        assert pressed.get_attribute("aria-pressed") == "true"
        # the whole cluster at once
        browser.find_element(By.CSS_SELECTOR, "div.bulk button.same").click()
        _wait(browser, lambda d: all(r.get_attribute("data-verdict") == "same" for r in rows))
    finally:
        second.stop()
    lines = [json.loads(x) for x in (out / LABELS).read_text("utf-8").splitlines()]
    assert len(lines) == 2 + len(rows) and all(x["dup"] for x in lines[2:])


def test_pages_fit_420_px(browser: Any, server: Server, run_dir: Path) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        for path in ("", "?q=本文来源", f"cluster/{_clusters(run_dir)[0]['cluster']}"):
            browser.get(server.url + path)
            width = browser.execute_script("return window.innerWidth")
            scroll = browser.execute_script("return document.documentElement.scrollWidth")
            assert width == 420
            assert scroll <= width, (path, scroll)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
