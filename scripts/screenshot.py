"""Screenshots of every tab of a running app with headless Chromium (Debian's /usr/bin/chromium).

    python scripts/screenshot.py [URL] [OUT_DIR]
    python scripts/screenshot.py --zh [URL] [OUT_DIR]     # only the Chinese Rank-tab shot (params-zh.png)
    python scripts/screenshot.py --experiments [URL] [OUT_DIR] [NAME]   # only the Experiments tab (experiments.png)

For the Train and Compare shots, run the app with WORKBENCH_SHARE_RUNS=1 over a runs folder that holds a
finished run: the script opens the newest run's live view and compares its adapter with the base model
on a held-out prompt. The Experiments shot opens the newest experiment whose id starts with NAME (default
rank-sweep), e.g. one run with ``python -m workbench experiment run rank-sweep`` into the same runs folder.
"""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main(url: str = "http://127.0.0.1:7860/", out: str = "docs/screenshots", zh_only: bool = False,
         experiments: str | None = None) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(300_000)
        page.goto(url)
        page.wait_for_selector("#inspect-summary h3")
        if zh_only:
            shoot_zh(page, out_dir)
            browser.close()
            return
        if experiments:
            shoot_experiments(page, out_dir, experiments)
            browser.close()
            return
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out_dir / "inspect.png"), full_page=True)
        page.get_by_role("tab", name="2 · Rank vs parameters").click()
        page.wait_for_selector("#rank-chart .js-plotly-plot")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out_dir / "params.png"), full_page=True)

        page.get_by_role("tab", name="3 · Train").click()
        page.locator("#run-pick input").first.click()
        options = page.get_by_role("option")
        if options.count():
            options.first.click()
            page.wait_for_selector("#loss-chart .js-plotly-plot")
            page.wait_for_timeout(2500)
        page.screenshot(path=str(out_dir / "train.png"), full_page=True)

        page.get_by_role("tab", name="4 · Compare").click()
        page.wait_for_timeout(1500)
        page.locator("#compare-adapters input").first.click()
        options = page.get_by_role("option")
        if options.count():
            options.first.click()
            page.keyboard.press("Escape")
            page.locator("#compare-prompt textarea").fill(
                "Extract the person as JSON with keys name, age, city: Name: Clara. Age: 68. Home town: Oslo.")
            page.locator("#compare-go").click()
            page.wait_for_function(
                "(() => { const a = document.querySelector('#out-adapter-1 textarea');"
                " return a && a.value.trim().endsWith('}'); })()")
            page.wait_for_timeout(1500)
        page.screenshot(path=str(out_dir / "compare.png"), full_page=True)
        shoot_zh(page, out_dir)
        browser.close()


def shoot_experiments(page, out_dir: Path, name: str) -> None:
    """The Experiments tab showing a finished experiment: runs, overlaid curves, score vs trainable parameters."""
    page.get_by_role("tab", name="5 · Experiments").click()
    page.locator("#exp-pick input").first.click()
    page.get_by_role("option").filter(has_text=name).first.click()
    page.wait_for_selector("#exp-curves .js-plotly-plot")
    page.wait_for_selector("#exp-score .js-plotly-plot")
    page.wait_for_timeout(2500)
    page.screenshot(path=str(out_dir / "experiments.png"), full_page=True)


def shoot_zh(page, out_dir: Path) -> None:
    """Switch the page to 中文 and take the Rank tab: labels, chart, legend and table in Chinese."""
    page.locator("#lang-switch label", has_text="中文").click()
    page.wait_for_function("document.querySelector('#intro') && document.querySelector('#intro').innerText.includes('PEFT 工作台')")
    page.wait_for_selector("#inspect-summary h3")
    page.get_by_role("tab", name="2 · 秩与参数量").click()
    page.wait_for_selector("#rank-chart .js-plotly-plot")
    page.wait_for_timeout(2000)
    page.screenshot(path=str(out_dir / "params-zh.png"), full_page=True)
    page.locator("#lang-switch label", has_text="English").click()  # leave the browser's choice as it was


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zh"]:
        main(*sys.argv[2:], zh_only=True)
    elif sys.argv[1:2] == ["--experiments"]:
        rest = sys.argv[2:]
        main(*rest[:2], experiments=(rest[2:3] or ["rank-sweep"])[0])
    else:
        main(*sys.argv[1:])
