"""Make the README's screenshot: a ChatWidget (chat, request inspector and chart) in JupyterLab.

    .venv/bin/python scripts/readme_screenshot.py [--out docs/img/chat-inspector-chart.png]

Starts a throwaway JupyterLab (as tests/browser does), opens a notebook that builds a
ChatWidget over a simulated session, types two messages into the widget and clicks Send in
headless Chromium, waits for the replies and the chart, opens the payload inspector and saves
a PNG of the cell (code and widget).
Needs the dev extra (Playwright) and Chromium (scripts/system-deps.sh); no network. Exits 1
when the PNG would be 300 KB or more (the README's limit) or when ChatWidget is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 300 * 1024
CELLS = [
    "import convolab\n"
    "from convolab.strategies.registry import make_strategy\n"
    "from convolab.widgets import ChatWidget\n\n"
    "policy = ' '.join(f'Rule {i}: quote fares in euros for route {i}.' for i in range(1, 120))\n"
    "session = convolab.ChatSession(store=convolab.DuckDBStore(':memory:'), user_id='ada',\n"
    "                               client=convolab.client(), strategy=make_strategy('sliding'),\n"
    "                               system_prompt=f'You are a concise travel assistant. {policy}')\n"
    "ChatWidget(session)",
]
VIEWPORT = {"width": 1100, "height": 2600}  # tall enough for the whole cell: chat, chart, inspector
MESSAGES = ["I'm Ada. I fly to Lisbon on 12 May and I'm vegetarian.", "When do I fly to Lisbon?"]


def browser_helpers():
    """tests/browser/conftest.py's running_lab, launch_chromium and find_chromium."""
    spec = importlib.util.spec_from_file_location("browser_conftest", ROOT / "tests" / "browser" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def wait_for_replies(widget, n: int, timeout: float = 60) -> None:
    """Every simulated reply says "Noted: ..."; wait until the transcript shows n of them."""
    deadline = time.monotonic() + timeout
    while widget.inner_text().count("Noted:") < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reply {n} in the ChatWidget after {timeout:.0f} s")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "chat-inspector-chart.png")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright

        from convolab.widgets import ChatWidget  # noqa: F401
    except Exception as e:
        print(f"readme_screenshot: {e} (needs convolab.widgets.ChatWidget and the dev extra)", file=sys.stderr)
        return 1
    helpers = browser_helpers()
    chromium = helpers.find_chromium()
    if chromium is None:
        print("readme_screenshot: Chromium is not installed (bash scripts/system-deps.sh)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="convolab-shot-") as tmp:
        work = Path(tmp)
        notebooks = work / "notebooks"
        notebooks.mkdir()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, notebooks / "chat.ipynb")
        with helpers.running_lab(notebooks, work) as lab, sync_playwright() as p:
            context = helpers.launch_chromium(p, chromium, work / "profile", viewport=VIEWPORT)
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto(lab.url("chat.ipynb"))
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
            page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for()
            page.keyboard.press("Control+b")  # hide the file browser: more room for the widget
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
            widget = page.locator(".jp-NotebookPanel .jp-OutputArea-output .jupyter-widgets").first
            widget.wait_for()
            for n, text in enumerate(MESSAGES, start=1):
                widget.locator("input[type='text'], textarea").first.fill(text)
                widget.get_by_role("button", name="Send").click()
                wait_for_replies(widget, n)
            widget.locator("svg").first.wait_for()
            widget.get_by_text("Last payload").first.click()  # open the inspector
            page.wait_for_timeout(800)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".jp-NotebookPanel .jp-CodeCell").first.screenshot(path=str(args.out))
            context.close()
    size = args.out.stat().st_size
    print(f"{args.out} ({size / 1024:.0f} KB)")
    if size >= LIMIT:
        print(f"readme_screenshot: {size / 1024:.0f} KB is over the README's 300 KB: "
              f"use a smaller VIEWPORT or fewer MESSAGES in this script", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
