"""Each tab's main journey in a real browser: Playwright driving Debian's headless Chromium.

Screenshots land in test-artifacts/screenshots/ (and refresh docs/screenshots when
WORKBENCH_UPDATE_SCREENSHOTS=1).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (make test installs Debian's chromium; "
                "apt-get install -y chromium chromium-driver)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(120_000)
        # remember every error toast the page shows (they close themselves after a while)
        pg.add_init_script("""
          // a reload closes the page's server connection on purpose: ignore the toast that follows
          window.addEventListener("beforeunload", () => { window.__wbUnloading = true; });
          new MutationObserver(() => document.querySelectorAll("[data-testid='toast-body']").forEach(t => {
            if (t.dataset.seen || window.__wbUnloading) return;
            t.dataset.seen = 1;
            const seen = JSON.parse(sessionStorage.getItem("wbErrors") || "[]");
            seen.push(t.innerText);
            sessionStorage.setItem("wbErrors", JSON.stringify(seen));  // survives the language reload
          })).observe(document, {childList: true, subtree: true});
        """)
        pg.goto(server["url"])
        yield pg
        browser.close()


def _shot(page, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / "screenshots" / f"{name}.png")


def _fill(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.dispatch_event("input")
    box.press("Tab")


def _type(page, elem_id: str, value: str) -> None:
    """Type into a form field key by key, as a person does (a Train-form field applies itself to the config on
    each keystroke; a programmatic fill does not always reach Gradio's value)."""
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.click()
    box.press("Control+a")
    box.press("Delete")
    box.press_sequentially(value)
    box.press("Tab")


def test_inspect_journey(page):
    page.wait_for_selector("#inspect-summary h3")
    assert "134,515,008" in page.locator("#inspect-summary").inner_text()
    page.wait_for_function("document.querySelector('#match-summary') && "
                           "document.querySelector('#match-summary').innerText.includes('460,800')")
    # tick k_proj too: the live count follows
    page.locator("#target-checkboxes label", has_text="k_proj").click()
    page.wait_for_function("document.querySelector('#match-summary').innerText.includes('90 layers match')")
    _shot(page, "inspect")
    page.locator("#target-checkboxes label", has_text="k_proj").click()


def test_rank_chart_journey(page):
    page.get_by_role("tab", name="2 · Rank vs parameters").click()
    page.wait_for_selector("#rank-chart .js-plotly-plot")
    legend = page.locator("#rank-chart .legendtext").all_text_contents()
    assert "PEFT default" in legend and any("prompt tuning" in t for t in legend)
    page.wait_for_selector("#memory-chart .js-plotly-plot")
    _shot(page, "params")


def _progress(page) -> tuple[int, str]:
    # both attributes in one read: the poll replaces the element, and two reads could take the step of one poll
    # and the status of the next (a "stopped" run at the step of the "stopping" poll before it)
    step, status = page.eval_on_selector("#train-progress", "e => [e.dataset.step, e.dataset.status]")
    return int(step or 0), status or ""


def test_train_and_stop_journey(page, tiny_llama_dir):
    page.get_by_role("tab", name="3 · Train").click()
    page.wait_for_selector("#start-btn")
    # the page fills the form with the default recipe when it loads: type only after that, as a person would
    page.wait_for_function("(() => { const b = document.querySelector('#train-model textarea, #train-model input');"
                           " return b && b.value.length > 0; })()")
    _type(page, "train-model", tiny_llama_dir)
    page.locator("#train-settings").get_by_text("Training settings").click()
    _fill(page, "train-steps", "400")
    time.sleep(1.0)
    page.locator("#start-btn").click()
    # wait until it trains, then stop
    t0 = time.time()
    while time.time() - t0 < 180:
        step, status = _progress(page)
        if status == "running" and step >= 2:
            break
        time.sleep(0.5)
    assert status == "running" and step >= 2, (step, status)
    page.wait_for_selector("#stop-btn:not([disabled])")
    page.locator("#stop-btn").click()
    t0 = time.time()
    while time.time() - t0 < 90:
        step, status = _progress(page)
        if status == "stopped":
            break
        time.sleep(0.5)
    assert status == "stopped"
    time.sleep(4)
    assert _progress(page) == (step, "stopped"), "the step counter kept moving after Stop"
    assert step < 400
    assert page.locator("#resume-btn").is_enabled()
    assert page.locator("#loss-chart .js-plotly-plot").count() == 1
    _shot(page, "train")
    # a page reload reattaches to the same run (its id lives in the browser's local storage)
    page.reload()
    page.get_by_role("tab", name="3 · Train").click()
    page.wait_for_function("document.querySelector('#train-progress') && "
                           "document.querySelector('#train-progress').dataset.status === 'stopped'")
    assert _progress(page) == (step, "stopped")


def test_compare_journey(page, tiny_llama_dir):
    page.get_by_role("tab", name="4 · Compare").click()
    _fill(page, "compare-model", tiny_llama_dir)
    dd = page.locator("#compare-adapters input").first
    dd.click()
    page.get_by_role("option").first.click()
    page.keyboard.press("Escape")
    _fill(page, "compare-prompt", "Maria, 34, lives in Lisbon.")
    page.locator("#compare-go").click()
    page.wait_for_function(
        "(() => { const b = document.querySelector('#out-base textarea');"
        " const a = document.querySelector('#out-adapter-1 textarea');"
        " return b && a && b.value.length > 0 && a.value.length > 0; })()")
    label = page.locator("#out-adapter-1").inner_text()
    assert "ADAPTER ON" in label
    assert "adapter OFF" in page.locator("#out-base").inner_text()
    _shot(page, "compare")


def _table_texts(page, elem_id: str) -> list[str]:
    """The body rows of a gr.Dataframe (Gradio 6 renders rows as role=row elements, the header first)."""
    return page.locator(f"#{elem_id} [role=row]").all_inner_texts()[1:]


def test_experiment_journey(page, tiny_llama_dir):
    """Experiments tab: build a 2-variant experiment from the Train config (tiny model), see the plan, launch it
    (one queue item), the live rows and the overlaid loss curves appear, the results table fills."""
    page.get_by_role("tab", name="3 · Train").click()
    page.wait_for_selector("#start-btn")
    time.sleep(3)  # the page's start-up events have filled the form
    box = page.locator("#train-model input, #train-model textarea").first  # typed: each key is a user edit
    box.click()
    box.press("Control+a")
    page.keyboard.type(tiny_llama_dir)  # the base of the experiment is the Train tab's config
    box.press("Tab")
    time.sleep(1.5)  # the form field's edit reaches the config (YAML) box
    page.get_by_role("tab", name="5 · Experiments").click()
    page.locator("#exp-build-box").get_by_text("build one from the Train tab's config").click()
    _fill(page, "exp-ranks", "1, 2")
    page.locator("#exp-build").click()
    page.wait_for_function("document.querySelector('#exp-yaml').innerText.includes('adapter.r')", timeout=300_000)
    assert tiny_llama_dir in page.locator("#exp-yaml").inner_text()
    _fill(page, "exp-steps", "2")
    _fill(page, "exp-limit", "2")
    page.locator("#exp-plan-btn").click()
    page.wait_for_function("document.querySelectorAll('#exp-plan [role=row]').length === 3", timeout=300_000)
    plan = _table_texts(page, "exp-plan")
    assert "r=1" in plan[0] and "r=2" in plan[1], plan
    page.locator("#exp-launch").click()
    # live: one row per run, then curves for both runs
    page.wait_for_function("document.querySelectorAll('#exp-rows [role=row]').length === 3", timeout=300_000)
    page.wait_for_selector("#exp-curves .js-plotly-plot")
    t0 = time.time()
    while time.time() - t0 < 600:
        rows = _table_texts(page, "exp-rows")
        if len(rows) == 2 and all("done" in r or "failed" in r for r in rows):
            break
        time.sleep(1)
    assert len(rows) == 2 and all("done" in r for r in rows), rows
    legend = page.locator("#exp-curves .legendtext").all_text_contents()
    assert any("r=1" in t for t in legend) and any("r=2" in t for t in legend), legend
    page.wait_for_selector("#exp-score .js-plotly-plot")
    for elem, text in (("exp-reading", "Best held-out"), ("exp-diff", "adapter.r")):  # filled by the same update
        page.wait_for_function("([id, text]) => { const e = document.getElementById(id);"
                               " return e && e.innerText.includes(text); }", arg=[elem, text], timeout=60_000)
    _shot(page, "experiments")
    header = page.locator("#exp-header").inner_text()
    # a reload shows the same experiment again (its id lives in the browser's local storage)
    page.reload()
    page.get_by_role("tab", name="5 · Experiments").click()
    page.wait_for_function("document.querySelectorAll('#exp-rows [role=row]').length === 3")
    # the header may still show Gradio's progress timer ("0.9s") while the reload's events finish: wait for the text
    exp_id = header.split(" · ")[0].strip().splitlines()[-1]
    page.wait_for_function("(id) => { const h = document.querySelector('#exp-header');"
                           " return h && h.innerText.trim().startsWith(id); }", arg=exp_id, timeout=60_000)
    # "compare this run": the Compare tab opens with that run's adapter selected
    page.locator("#exp-compare-this").click()
    page.wait_for_function("document.querySelector('#out-adapter-1') && "
                           "document.querySelector('#out-adapter-1').innerText.includes('ADAPTER ON')")
    assert page.locator("#compare-model input, #compare-model textarea").first.input_value() == tiny_llama_dir
    # the held-out prompt picker really fills the Prompt box: the picked prompt is what the server generates from
    page.locator("#compare-preset input").first.click()
    page.get_by_role("option").filter(has_text="Nadia").first.click()
    page.wait_for_function("document.querySelector('#compare-prompt textarea').value.includes('Nadia')")
    page.locator("#compare-go").click()
    page.wait_for_function("document.querySelector('#out-adapter-1 textarea').value.length > 0")
    assert page.locator("[data-testid='toast-body']").count() == 0


def test_language_switch_journey(page):
    page.locator("#lang-switch label", has_text="中文").click()
    page.wait_for_function("document.querySelector('#intro') && document.querySelector('#intro').innerText.includes('PEFT 工作台')")
    page.wait_for_selector("#inspect-summary h3")
    tabs = page.get_by_role("tab").all_inner_texts()
    assert "3 · 训练" in tabs and "4 · 对比" in tabs, tabs
    # Text the server builds comes back in the page's language too (the switch sets a cookie).
    page.wait_for_function("document.querySelector('#inspect-summary').innerText.includes('个参数')")
    # ... and so do engine errors: a broken regex in the target picker.
    regex = page.locator("#target-regex textarea, #target-regex input").first
    regex.fill("q_proj[")
    regex.press("Enter")
    page.wait_for_function("[...document.querySelectorAll(\"[data-testid='toast-body']\")]"
                           ".some(t => t.innerText.includes('正则表达式') && t.innerText.includes('q_proj['))")
    page.evaluate("""() => {  // that toast was expected: keep it out of test_no_error_toasts
        const seen = JSON.parse(sessionStorage.getItem('wbErrors') || '[]').filter(t => !t.includes('正则表达式'));
        sessionStorage.setItem('wbErrors', JSON.stringify(seen)); }""")
    regex.fill("")
    page.get_by_role("tab", name="3 · 训练").click()
    assert page.get_by_role("button", name="开始训练").count() == 1
    _shot(page, "train-zh")
    page.locator("#lang-switch label", has_text="English").click()
    page.wait_for_function("document.querySelector('#intro') && document.querySelector('#intro').innerText.includes('Learn')")
    assert "3 · Train" in page.get_by_role("tab").all_inner_texts()


def test_no_error_toasts(page):
    """Nothing in the journeys above raised an error in the page."""
    assert page.evaluate("JSON.parse(sessionStorage.getItem('wbErrors') || '[]')") == []
