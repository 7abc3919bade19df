"""Exported reports open in Chromium with the network blocked: every request to a host is
refused and recorded, and the charts, transcripts and tables still render."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from convolab.commands.report import report

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # the first one runs the notebooks

ROOT = Path(__file__).resolve().parents[2]
# The quickstart (the chat, its request), charts, tables, the caching lesson's verdicts, the
# retrieval layouts and their hits, typed memory facts, the evaluation with its rankers, and a
# recorded run read back (plan, judge).
NOTEBOOKS = ["00_quickstart", "01_statelessness", "01b_prompt_caching", "02_strategies", "03_summaries_and_memory",
             "06_locomo_evaluation", "08_real_claude"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    paths = [str(ROOT / "notebooks" / f"{name}.ipynb") for name in NOTEBOOKS]
    result = CliRunner().invoke(report, [*paths, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def open_offline(context, html: Path):
    """A page on ``html`` where every non-file request is aborted and recorded."""
    attempted: list[str] = []

    def block(route):
        if route.request.url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort("internetdisconnected")

    page = context.new_page()
    page.route("**/*", block)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(html.as_uri(), wait_until="load")
    return page, attempted, failed


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_report_renders_offline(name: str, reports: Path, browser_context, screenshots: Path):
    page, attempted, failed = open_offline(browser_context, reports / f"{name}.html")
    page.wait_for_load_state("networkidle")

    assert attempted == [], f"the report tried to reach the network: {attempted}"
    assert failed == []
    assert page.locator(".jp-Cell").count() > 0
    assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]', has_text="Traceback").count() == 0

    outputs = page.locator(".jp-OutputArea-output")
    assert outputs.count() > 0
    expected = {"00_quickstart": ["'simulated'", "I'm Ada. I fly to Lisbon", "read 1,", "from the cache; wrote"],
                "01_statelessness": ["system prompt:", "everything sent, prompt caching", "first cache read: turn"],
                "01b_prompt_caching": ["Missed: the TTL expired", "the prefix changes at block 2"],
                "02_strategies": ["'simulated'", "metric units sent", "fork at turn 1", "retrieval-messages",
                                  "memory-retrieval", "shared_words", "Hi, I'm Priya"],
                "03_summaries_and_memory": ["from_message", "importance", "agenda rule word for word", "Porto"],
                "06_locomo_evaluation": ["answer_in_context_vs_full", "retrieval-semantic", "all, 95% interval",
                                         "plan: requests=", "judge_accuracy", "judge_reason"],
                "08_real_claude": ["plan: requests=", "judge_agreement", "replayed from the file"]}[name]
    text = page.locator("main").inner_text()
    for snippet in expected:
        assert snippet in text, f"{snippet!r} is not shown in {name}.html"

    charts = page.locator(".jp-OutputArea-output svg, .jp-OutputArea-output img[src^='data:image/svg+xml']")
    if name in ("01_statelessness", "01b_prompt_caching", "06_locomo_evaluation"):
        assert charts.count() >= 1, "the chart is missing"
        chart = charts.first
        chart.scroll_into_view_if_needed()
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, box
        if chart.evaluate("e => e.tagName") == "IMG":  # decoded, not a broken image
            assert chart.evaluate("e => e.complete && e.naturalWidth > 0")
        chart.screenshot(path=str(screenshots / f"report-{name}-chart.png"))
    page.screenshot(path=str(screenshots / f"report-{name}.png"), full_page=True)


def test_blocked_requests_are_recorded(tmp_path: Path, browser_context):
    """The guard above can see a leak: a page loading from a CDN has its request recorded."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<html><body><img src="https://cdn.example.invalid/x.png">'
                     '<script src="https://cdn.example.invalid/x.js"></script></body></html>')
    page, attempted, failed = open_offline(browser_context, leaky)
    page.wait_for_load_state("networkidle")
    assert sorted(attempted) == ["https://cdn.example.invalid/x.js", "https://cdn.example.invalid/x.png"]
    assert sorted(failed) == sorted(attempted)
