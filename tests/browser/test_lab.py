"""JupyterLab in a real browser: the quickstart runs from the Run menu, and a ChatWidget answers
a message typed into it. Screenshots go to build/browser/."""

from __future__ import annotations

import re

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]



def chat_widget_available() -> bool:
    try:
        from convolab.widgets import ChatWidget  # noqa: F401
    except Exception:  # not written yet, or half-written: ImportError, ConfigurationError, ...
        return False
    return True


CHAT_WIDGET_AVAILABLE = chat_widget_available()
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def open_notebook(page, lab, notebook: str) -> None:
    """Open a notebook and wait until its kernel is idle."""
    page.goto(lab.url(notebook))
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
    """Every code cell shows an execution count and the kernel is idle again."""
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""", timeout=timeout)
    kernel_idle(page, timeout)


def errors_shown(page) -> list[str]:
    return [t for t in page.locator(STDERR).all_inner_texts() if "Traceback" in t or "Error" in t]


def test_quickstart_runs_in_jupyterlab(browser_context, jupyter_lab, screenshots):
    page = browser_context.new_page()
    open_notebook(page, jupyter_lab, "00_quickstart.ipynb")
    run_all_cells(page)
    wait_until_executed(page)

    outputs = page.locator(".jp-NotebookPanel .jp-OutputArea-output")
    assert "'simulated'" in outputs.first.inner_text()  # the kernel got no API key
    page.get_by_text('"model": "claude-sonnet-4-6"').first.wait_for()  # the last cell's request
    assert page.locator(".jp-NotebookPanel .jp-OutputArea-output table").count() >= 1  # usage frame
    assert errors_shown(page) == []
    page.screenshot(path=str(screenshots / "quickstart.png"))


CHAT_CELLS = [
    "import convolab\n"
    "from convolab.strategies.registry import make_strategy\n"
    "from convolab.widgets import ChatWidget\n\n"
    "session = convolab.ChatSession(store=convolab.DuckDBStore(':memory:'), user_id='u',\n"
    "                               client=convolab.client(), strategy=make_strategy('sliding'))\n"
    "chat = ChatWidget(session)\n"
    "chat",
]


@pytest.mark.xfail(not CHAT_WIDGET_AVAILABLE, reason="ChatWidget not yet available", strict=False)
def test_chat_widget_answers_in_the_browser(browser_context, jupyter_lab, screenshots):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CHAT_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, jupyter_lab.root / "chat.ipynb")
    page = browser_context.new_page()
    open_notebook(page, jupyter_lab, "chat.ipynb")
    run_all_cells(page)
    wait_until_executed(page)
    assert errors_shown(page) == [], errors_shown(page)

    widget = page.locator(".jp-NotebookPanel .jp-OutputArea-output .jupyter-widgets").first
    widget.wait_for(timeout=30_000)
    box = widget.locator("input[type='text'], textarea").first
    box.fill("I'm Ada. I fly to Lisbon on 12 May.")
    widget.get_by_role("button", name="Send").click()

    widget.get_by_text("Noted:").first.wait_for(timeout=30_000)  # the simulated Claude's reply
    chart = widget.locator('[data-convolab="chart"] svg, svg').first  # input tokens per turn
    chart.wait_for(timeout=30_000)
    assert chart.bounding_box()["width"] > 100
    assert errors_shown(page) == []
    page.screenshot(path=str(screenshots / "chat.png"))
