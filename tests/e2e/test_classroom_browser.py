"""Issue 13 in a real browser: a public server with an instructor password. The page names its limits under the
intro; the Instructor tab stays locked with a wrong password and opens with the right one.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))

if not os.path.exists(CHROMIUM):
    pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing", allow_module_level=True)

pytestmark = pytest.mark.slow
PASSWORD = "e2e-instructor-password"


@pytest.fixture(scope="module")
def classroom_server(tmp_path_factory, embedded_dir):
    from relhelpers import launch_server
    srv = launch_server(tmp_path_factory.mktemp("classroom-e2e") / "runs",
                        {"WORKBENCH_PUBLIC": "1", "WORKBENCH_ADMIN_PASSWORD": PASSWORD}, log_name="e2e.log")
    yield srv
    srv.stop()


def _fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.dispatch_event("input")


def test_public_limits_and_instructor_tab_locked_then_unlocked(classroom_server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(classroom_server.url)
            page.wait_for_function("document.querySelector('#public-limits') && "
                                   "document.querySelector('#public-limits').innerText.includes('100 training steps')")
            assert "15 minutes" in page.locator("#public-limits").inner_text()

            page.get_by_role("tab", name="6 · Instructor").click()
            page.wait_for_selector("#admin-password")
            assert not page.locator("#admin-panel").is_visible()
            _fill(page, "admin-password", "wrong")
            page.locator("#admin-open").click()
            page.wait_for_selector("[data-testid='toast-body']")
            assert "Wrong instructor password" in page.locator("[data-testid='toast-body']").first.inner_text()
            page.wait_for_timeout(1000)
            assert not page.locator("#admin-panel").is_visible()  # still locked

            _fill(page, "admin-password", PASSWORD)
            page.locator("#admin-open").click()
            page.wait_for_selector("#admin-panel", state="visible")
            page.wait_for_function("document.querySelector('#admin-summary') && "
                                   "document.querySelector('#admin-summary').innerText.includes('queued')")
            assert "browser sessions" in page.locator("#admin-summary").inner_text()
        finally:
            browser.close()
