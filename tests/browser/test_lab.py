"""JupyterLab in a real browser: every notebook runs from the Run menu with the network blocked,
and a ChatWidget answers a message typed into it. Screenshots go to build/browser/.

A notebook fails on a chart that could not load its script ("Error loading script", which
altair's CDN renderer shows offline), on any request that left the machine or failed, on any
output on stderr (an error, a traceback, or a notice in a red box), and on dollar amounts
typeset as math.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = ("data:", "blob:", "about:")


STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def open_notebook(page, lab, notebook: str) -> None:
    """Open a notebook in a fresh workspace (``reset``: no tab left from an earlier test) and wait
    until its kernel is idle."""
    page.goto(lab.url(notebook) + "&reset")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    kernel_idle(page, timeout=60_000)


def kernel_idle(page, timeout: float) -> None:
    """The status bar reads "Python 3 (ipykernel) | Idle": a kernel is connected and idle."""
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\(ipykernel\) \| Idle")).first.wait_for(
        timeout=timeout)


def run_all_cells(page) -> None:
    """Run > Run All Cells, from the menu bar, as a user would."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()


def wait_until_executed(page, timeout: float = 120_000) -> None:
    """Every code cell shows an execution count (or a cell failed, which stops Run All, and
    none is still running) and the kernel is idle again."""
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')];
            const failed = document.querySelector('.jp-NotebookPanel .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
            const running = prompts.some(p => p.textContent.includes('*'));
            return prompts.length > 0 && (prompts.every(p => /\\[\\d+\\]/.test(p.textContent)) || (failed && !running));
        }""", timeout=timeout)
    kernel_idle(page, timeout)


def errors_shown(page) -> list[str]:
    return [t for t in page.locator(STDERR).all_inner_texts() if "Traceback" in t or "Error" in t]


def test_quickstart_shows_the_chat_its_request_and_the_cache_read(shared_chromium, shared_lab, screenshots):
    page = shared_chromium.new_page()
    try:
        open_notebook(page, shared_lab, "00_quickstart.ipynb")
        run_all_cells(page)
        wait_until_executed(page)

        outputs = page.locator(".jp-NotebookPanel .jp-OutputArea-output")
        assert "'simulated'" in outputs.first.inner_text()  # the kernel got no API key
        chat = page.locator(".jp-NotebookPanel .jupyter-widgets", has=page.locator('[data-role="assistant"]')).first
        chat.wait_for()
        assert chat.locator('[data-role="assistant"]').count() == 2
        assert chat.get_by_text(re.compile(r"cache read 1,\d{3}")).count() >= 1  # the second turn read the cache
        chart = chat.locator('[data-convolab="chart"] svg').first
        chart.wait_for(state="visible", timeout=30_000)  # the chart redraws after the reply is shown
        assert chart.bounding_box()["width"] > 300
        assert chart.locator('path[aria-label*="tokens: cache read"]').count() >= 1  # drawn, not only in the legend
        verdict = page.locator('[data-convolab="cache-verdict"][data-status="read"]:visible').first  # the inspector
        assert re.match(r"Read 1,\d{3} of 1,\d{3} input tokens", verdict.inner_text())
        assert errors_shown(page) == []
        page.screenshot(path=str(screenshots / "quickstart.png"), full_page=True)
    finally:
        page.close()
        shut_down_kernels(shared_lab)


CHAT_CELLS = [
    "import convolab\n"
    "from convolab.strategies.registry import make_strategy\n"
    "from convolab.widgets import ChatWidget\n\n"
    "session = convolab.ChatSession(store=convolab.DuckDBStore(':memory:'), user_id='u',\n"
    "                               client=convolab.client(), strategy=make_strategy('sliding'))\n"
    "chat = ChatWidget(session)\n"
    "chat",
]


def test_chat_widget_answers_on_enter_and_forks_in_the_browser(shared_chromium, shared_lab, screenshots):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CHAT_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, shared_lab.root / "chat.ipynb")
    page = shared_chromium.new_page()
    try:
        open_notebook(page, shared_lab, "chat.ipynb")
        run_all_cells(page)
        wait_until_executed(page)
        assert errors_shown(page) == [], errors_shown(page)

        widget = page.locator(".jp-NotebookPanel .jp-OutputArea-output .jupyter-widgets").first
        widget.wait_for(timeout=30_000)
        box = widget.locator("input[type='text']").first
        replies = widget.locator('[data-role="assistant"]')
        for n, text in enumerate(["I'm Ada. I fly to Lisbon on 12 May.", "When do I fly?"], start=1):
            box.fill(text)
            box.press("Enter")  # Enter sends
            page.wait_for_function("n => document.querySelectorAll('[data-role=assistant]').length >= n", arg=n,
                                   timeout=30_000)
        assert replies.count() == 2 and box.input_value() == ""
        # the chart redraws after the reply is shown: wait for a drawn one, not only the first frame
        page.wait_for_function("() => [...document.querySelectorAll('[data-convolab=chart] svg')]"
                               ".some(s => s.getBoundingClientRect().width > 100)", timeout=30_000)

        widget.locator(".widget-inline-hbox", has_text="fork at turn").locator("input").first.fill("1")
        widget.get_by_role("button", name="Fork").click()
        widget.get_by_text("(fork at turn 1)").first.wait_for(timeout=30_000)
        page.wait_for_function("() => [...document.querySelectorAll('[data-convolab=chart] svg')]"
                               ".some(s => s.textContent.includes('fork at turn 1'))", timeout=30_000)
        assert errors_shown(page) == []
        page.screenshot(path=str(screenshots / "chat.png"))
    finally:
        page.close()
        shut_down_kernels(shared_lab)


def is_local(url: str) -> bool:
    return url.startswith(LOCAL_SCHEMES) or urlparse(url).hostname in LOCAL_HOSTS


class Offline:
    """Records (and aborts) every request to another host, and records every failed request."""

    def __init__(self, page):
        self.external: list[str] = []
        self.failed: list[str] = []
        page.route("**/*", self._route)
        page.on("requestfailed", self._failed)

    def _route(self, route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort("internetdisconnected")

    def _failed(self, request) -> None:
        self.failed.append(f"{request.url} ({request.failure})")


def shut_down_kernels(lab) -> None:
    """Stop the notebook's kernel, so it does not run beside the next notebook's."""
    headers = {"Authorization": f"token {lab.token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{lab.base}/api/sessions", headers=headers)) as resp:
        sessions = json.load(resp)
    for s in sessions:
        req = urllib.request.Request(f"{lab.base}/api/sessions/{s['id']}", headers=headers, method="DELETE")
        urllib.request.urlopen(req).close()


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_notebook_runs_offline_in_jupyterlab(notebook: str, shared_lab, shared_chromium, screenshots):
    page = shared_chromium.new_page()
    offline = Offline(page)
    try:
        open_notebook(page, shared_lab, notebook)
        run_all_cells(page)
        wait_until_executed(page, timeout=180_000)
        page.wait_for_timeout(1_000)  # outputs that render after the kernel went idle (charts, widgets)
        text = "\n".join(page.locator(".jp-NotebookPanel .jp-OutputArea-output").all_inner_texts())

        assert "Error loading script" not in text, f"{notebook}: a chart could not load its script offline"
        assert offline.external == [], f"{notebook}: requests left the machine: {offline.external}"
        assert offline.failed == [], f"{notebook}: failed requests: {offline.failed}"
        stderr = page.locator(f".jp-NotebookPanel {STDERR}").all_inner_texts()
        assert stderr == [], f"{notebook}: output on stderr (an error or a red notice box): {stderr}"
        math = page.locator(".jp-NotebookPanel mjx-container, .jp-NotebookPanel .MathJax").count()
        assert math == 0, f"{notebook}: {math} piece(s) of text typeset as math (a dollar amount?)"
        charts = page.locator(".jp-NotebookPanel .jp-OutputArea-output img[src^='data:image/svg+xml'], "
                              ".jp-NotebookPanel .jp-OutputArea-output svg.marks")
        for i in range(charts.count()):  # every chart drawn, with a size
            charts.nth(i).scroll_into_view_if_needed()
            box = charts.nth(i).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 50, f"{notebook}: chart {i} is {box}"
        page.screenshot(path=str(screenshots / f"lab-{Path(notebook).stem}.png"), full_page=True)
    finally:
        page.close()
        shut_down_kernels(shared_lab)
