"""Take screenshots of the running app's tabs with headless Chromium (Debian's /usr/bin/chromium).

    python scripts/screenshot.py [URL] [OUT_DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main(url: str = "http://127.0.0.1:7860/", out: str = "docs/screenshots") -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#inspect-summary h3", timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out_dir / "inspect.png"), full_page=True)
        page.get_by_role("tab", name="2 · Rank vs parameters").click()
        page.wait_for_selector("#rank-chart .js-plotly-plot", timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out_dir / "params.png"), full_page=True)
        for name, sel, fname in (("3 · Train", "#train-status", "train.png"), ("4 · Compare", "#compare-prompt", "compare.png")):
            tab = page.get_by_role("tab", name=name)
            if tab.count():
                tab.click()
                page.wait_for_timeout(2000)
                page.screenshot(path=str(out_dir / fname), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
