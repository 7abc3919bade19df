"""Make the README's screenshot: the quickstart's ChatWidget (chat, stats, token chart, request
inspector) in JupyterLab.

    .venv/bin/python scripts/readme_screenshot.py [--out docs/img/chat-inspector-chart.png]

Starts a throwaway JupyterLab over a copy of notebooks/ (as tests/browser does), opens
notebooks/00_quickstart.ipynb in headless Chromium, runs all cells from the Run menu, opens the
chat's "Last payload" and saves a PNG of the chat widget's output. Needs the dev extra
(Playwright) and Chromium (scripts/system-deps.sh); no network. Exits 1 when the PNG would be
300 KB or more (the README's limit).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 300 * 1024
VIEWPORT = {"width": 1100, "height": 2400}  # tall enough for the whole widget: chat, chart, inspector
NOTEBOOK = "00_quickstart.ipynb"


def browser_helpers():
    """tests/browser/conftest.py's running_lab, launch_chromium and find_chromium."""
    spec = importlib.util.spec_from_file_location("browser_conftest", ROOT / "tests" / "browser" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "chat-inspector-chart.png")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        print(f"readme_screenshot: {e} (needs the dev extra: pip install -e '.[dev]')", file=sys.stderr)
        return 1
    helpers = browser_helpers()
    chromium = helpers.find_chromium()
    if chromium is None:
        print("readme_screenshot: Chromium is not installed (bash scripts/system-deps.sh)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="convolab-shot-") as tmp:
        work = Path(tmp)
        with helpers.running_lab(ROOT / "notebooks", work) as lab, sync_playwright() as p:
            context = helpers.launch_chromium(p, chromium, work / "profile", viewport=VIEWPORT)
            context.set_default_timeout(120_000)
            page = context.new_page()
            page.goto(lab.url(NOTEBOOK))
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
            page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for()
            page.keyboard.press("Control+b")  # hide the file browser: more room for the widget
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
            chat = page.locator(".jp-NotebookPanel .jp-OutputArea-output",
                                has=page.locator('.jupyter-widgets [data-role="assistant"]')).first
            chat.wait_for()
            page.wait_for_function("() => document.querySelectorAll('.jupyter-widgets [data-role=assistant]').length >= 2")
            chat.locator('[data-convolab="chart"] svg').first.wait_for()
            chat.get_by_text("Last payload").first.click()  # open the inspector
            page.wait_for_timeout(800)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            chat.screenshot(path=str(args.out))
            context.close()
    size = args.out.stat().st_size
    print(f"{args.out} ({size / 1024:.0f} KB)")
    if size >= LIMIT:
        print(f"readme_screenshot: {size / 1024:.0f} KB is over the README's 300 KB: "
              f"use a smaller VIEWPORT in this script", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
