"""Reports: every notebook exports to HTML that loads nothing from the network, shows no error
and no secret; ``convolab report`` writes them, names a failing notebook and cell, and refuses
to write a report that would leak."""

from __future__ import annotations

import re
import time
from html import unescape
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from convolab.cli import cli
from convolab.commands.report import report
from convolab.notebook_export import (
    Problem,
    ReportResult,
    audit_html,
    export_report,
    export_reports,
    kernel_env,
    notebook_intro,
    secret_values,
    write_index,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FAKE_KEY = "sk-ant-api03-FAKEfakeFAKEfake0123456789-not-a-real-key"
pytestmark = pytest.mark.timeout(600)


def notebook(tmp_path: Path, name: str, *cells: str, markdown: str = "# test") -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown),
                                         *(nbformat.v4.new_code_cell(c) for c in cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, list[ReportResult], float]:
    """Every notebook under notebooks/, exported once (as `make report` does), with a fake key
    in this process's environment that must reach neither a kernel nor a report."""
    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
        start = time.monotonic()
        results = export_reports(NOTEBOOKS, out)
        seconds = time.monotonic() - start
    return out, results, seconds


def test_every_notebook_exports_within_three_minutes(exported):
    out, results, seconds = exported
    assert [r.notebook for r in results] == NOTEBOOKS
    assert [r.line() for r in results if not r.ok] == []
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{nb.stem}.html" for nb in NOTEBOOKS)
    assert seconds < 180, f"make report would take {seconds:.0f} s for {len(NOTEBOOKS)} notebooks"


def test_the_index_links_every_report_with_its_title_and_first_paragraph(exported):
    out, results, _ = exported
    page = write_index(results, out).read_text(encoding="utf-8")
    assert audit_html(page) == []
    links = re.findall(r'<li><a href="([^"]+)">([^<]+)</a><p>([^<]*)</p></li>', page)
    assert [href for href, _, _ in links] == [f"{nb.stem}.html" for nb in NOTEBOOKS]
    for (_, title, summary), nb in zip(links, NOTEBOOKS, strict=True):
        want_title, want_summary = notebook_intro(nbformat.read(nb, as_version=4))
        assert unescape(title) == want_title and unescape(summary) == want_summary
        assert title and len(summary) > 40
    assert "01b · Prompt caching" in page and "The Messages API" in page


def test_the_intro_is_the_first_heading_and_paragraph():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("# My **title**\n\n**What you will learn.** Why `x` grows, see [the docs](d.md).\n"
                                      "Second line.\n\nNot this one."),
    ])
    assert notebook_intro(nb) == ("My title", "Why x grows, see the docs. Second line.")
    assert notebook_intro(nbformat.v4.new_notebook(), default="stem") == ("stem", "")


def test_the_index_lists_a_notebook_that_failed(tmp_path: Path):
    ok = ReportResult(Path("a.ipynb"), tmp_path / "a.html", title="A <b>", summary="about a & b")
    bad = ReportResult(Path("b.ipynb"), None, [Problem("error", "ZeroDivisionError: division by zero", 3)],
                       title="B")
    page = write_index([ok, bad], tmp_path).read_text()
    assert '<a href="a.html">A &lt;b&gt;</a><p>about a &amp; b</p>' in page
    assert "B <p class=\"problem\">not exported: cell 3: error: ZeroDivisionError" in page
    assert "1 of 2 notebooks" in page and audit_html(page) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_export_is_clean_and_offline(path: Path, exported):
    out, _, _ = exported
    html = (out / f"{path.stem}.html").read_text(encoding="utf-8")
    assert audit_html(html, secrets=[FAKE_KEY]) == []
    assert FAKE_KEY not in html and "sk-ant-" not in html
    lowered = html.lower()
    for cdn in ("require.js", "mathjax/", "mathjax.js", "tex-chtml", "unpkg.com", "cdnjs", "jsdelivr", "embed-amd",
                "vega-embed"):
        assert cdn not in lowered, f"{path.name}: {cdn} in the report"
    assert "Traceback (most recent call last)" not in html
    assert 'class="jp-Cell' in html
    source = path.read_text()
    if "alt.Chart" in source:  # altair charts are inline SVG, not Vega needing a CDN
        assert "data:image/svg+xml" in html or "<svg" in html
        assert "application/vnd.vegalite" not in html


def test_kernel_ran_offline_without_the_key(exported):
    out, _, _ = exported
    html = (out / "00_quickstart.html").read_text(encoding="utf-8")
    first_output = re.search(r'data-mime-type="text/plain"[^>]*>\s*<pre>(.*?)</pre>', html, re.DOTALL)
    assert first_output and first_output.group(1) == "'simulated'"  # convolab.client_kind()


def test_no_key_or_secret_reaches_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789abcdef")
    nb = notebook(tmp_path, "env", "import os\n"
                  "print(sorted(k for k in os.environ if k.startswith('ANTHROPIC') or 'TOKEN' in k))\n"
                  "print('report mode', os.environ.get('CONVOLAB_REPORT'))\n"
                  "import convolab\nprint('client', convolab.client_kind())")
    result = export_report(nb, tmp_path / "out")
    assert result.ok, result.line()
    html = result.html_path.read_text()
    assert "[]" in html and "report mode 1" in html and "client simulated" in html
    assert FAKE_KEY not in html and "tok-0123456789abcdef" not in html


def test_kernel_env_drops_secrets_and_keeps_the_rest():
    env = kernel_env({"ANTHROPIC_API_KEY": "x", "ANTHROPIC_BASE_URL": "http://h", "GITHUB_TOKEN": "t",
                      "DB_PASSWORD": "p", "CONVOLAB_POSTGRES_DSN": "postgresql://u:p@h/d", "PATH": "/bin",
                      "HOME": "/root"})
    assert env == {"PATH": "/bin", "HOME": "/root", "CONVOLAB_REPORT": "1"}
    assert secret_values({"ANTHROPIC_API_KEY": FAKE_KEY, "GITHUB_TOKEN": "short", "HOME": "/root/home"}) == [FAKE_KEY]


def test_a_secret_printed_by_a_cell_blocks_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789abcdef")
    nb = notebook(tmp_path, "leak", "print('tok-0123456789' + 'abcdef')", "print('sk-ant-' + 'api03-abcdefghijkl')")
    target = tmp_path / "out" / "leak.html"
    target.parent.mkdir()
    target.write_text("stale report")
    result = export_report(nb, tmp_path / "out")
    assert not result.ok and result.html_path is None
    assert {p.kind for p in result.problems} == {"secret"}
    assert not target.exists(), "a stale report must not stand in for a failed one"


def test_external_resources_block_the_report(tmp_path: Path):
    nb = notebook(tmp_path, "cdn", "from IPython.display import HTML\n"
                  "HTML('<script src=\"https://cdn.example.com/lib.js\"></script><b>hi</b>')",
                  markdown="A plain link is fine: [docs](https://example.com/docs).")
    result = export_report(nb, tmp_path / "out")
    assert not result.ok
    assert [(p.kind, p.cell) for p in result.problems] == [("external", 2)]
    assert "https://cdn.example.com/lib.js" in str(result.problems[0])


def test_plain_links_and_local_data_are_allowed(tmp_path: Path):
    nb = notebook(tmp_path, "links", "from IPython.display import HTML\n"
                  "HTML('<a href=\"https://example.com\">example</a><img src=\"data:image/png;base64,AAAA\">')",
                  markdown="See [the docs](https://example.com/docs).")
    result = export_report(nb, tmp_path / "out")
    assert result.ok, result.line()


@pytest.mark.parametrize("html", [
    '<script src="https://cdn.example.com/a.js"></script>',
    '<script src="//cdn.example.com/a.js"></script>',
    '<link rel="stylesheet" href="https://fonts.example.com/a.css">',
    '<img src="http://example.com/a.png">',
    '<img srcset="a.png 1x, https://example.com/b.png 2x">',
    '<iframe src="https://example.com"></iframe>',
    '<svg><image href="https://example.com/a.png"/></svg>',
    '<style>@import url("https://fonts.example.com/a.css");</style>',
    "<style>body { background: url(https://example.com/bg.png) }</style>",
    '<div style="background-image: url(\'//example.com/bg.png\')"></div>',
    '<script>var s = document.createElement("script"); s.src = "https://cdn.example.com/x.js";</script>',
    '<script type="module">import x from "https://cdn.example.com/x.mjs";</script>',
])
def test_audit_flags_what_would_be_fetched(html: str):
    problems = audit_html(f"<html><body>{html}</body></html>")
    assert [p.kind for p in problems] == ["external"], problems


@pytest.mark.parametrize("html", [
    '<a href="https://example.com/docs">docs</a>',
    '<a href="#section">jump</a>',
    '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
    '<svg xmlns="http://www.w3.org/2000/svg"><a xlink:href="https://example.com"><text>t</text></a></svg>',
    "<style>/* see https://github.com/some/palette */ body { color: red }</style>",
    '<script type="application/json">{"$schema": "https://vega.github.io/schema/vega-lite/v5.json"}</script>',
    "<p>Read https://docs.anthropic.com for more.</p>",
    '<div class="jp-RenderedText" data-mime-type="application/vnd.jupyter.stderr"><pre>'
    "convolab: 1 unanswered user message(s) will be sent again</pre></div>",
])
def test_audit_allows_links_data_and_logs(html: str):
    assert audit_html(f"<html><body>{html}</body></html>") == []


def test_audit_finds_secrets_and_tracebacks():
    page = ('<div class="jp-Cell"></div><div class="jp-Cell"><div data-mime-type="application/vnd.jupyter.stderr">'
            "<pre>Traceback (most recent call last):\nZeroDivisionError: division by zero</pre></div></div>"
            "<pre>key sk-ant-api03-abcdefghijkl, dsn postgresql://ada:hunter22@db/x, token s3cr3t-value</pre>")
    problems = audit_html(page, secrets=["s3cr3t-value"])
    assert [(p.kind, p.cell) for p in problems] == [("error", 2), ("secret", None), ("secret", None),
                                                    ("secret", None)]
    assert str(problems[0]) == "cell 2: error: error output in the HTML: ZeroDivisionError: division by zero"


def test_cli_writes_one_html_per_notebook(tmp_path: Path):
    nb = notebook(tmp_path, "mine", "print('hello from my notebook')")
    result = CliRunner().invoke(report, [str(nb), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "mine.html").read_text()
    assert "hello from my notebook" in page
    assert "1 of 1 notebooks exported" in result.output and f"index: {tmp_path / 'out' / 'index.html'}" in result.output
    assert '<a href="mine.html">test</a>' in (tmp_path / "out" / "index.html").read_text()


def test_cli_names_the_failing_notebook_and_cell(tmp_path: Path):
    good = notebook(tmp_path, "good", "x = 1")
    bad = notebook(tmp_path, "bad", "x = 1", "1 / 0", "print('never')")
    result = CliRunner().invoke(report, [str(good), str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{bad}: cell 3: error: ZeroDivisionError: division by zero"]
    assert (tmp_path / "out" / "good.html").exists()
    assert not (tmp_path / "out" / "bad.html").exists()


def test_cli_missing_notebook_is_a_usage_error(tmp_path: Path):
    result = CliRunner().invoke(report, [str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "out").exists()


def test_timeout_names_the_cell(tmp_path: Path):
    nb = notebook(tmp_path, "slow", "x = 1", "import time; time.sleep(30)")
    result = export_report(nb, tmp_path / "out", timeout=2)
    assert not result.ok
    assert result.problems[0] == Problem("timeout", "did not finish within 2 s", 3)


def test_widgets_export_their_static_view(tmp_path: Path):
    nb = notebook(tmp_path, "chat",
                  "import convolab\nfrom convolab.strategies.registry import make_strategy\n"
                  "from convolab.widgets import ChatWidget\n"
                  "session = convolab.ChatSession(store=convolab.DuckDBStore(':memory:'), user_id='u',\n"
                  "                               client=convolab.client(), strategy=make_strategy('sliding'))\n"
                  "chat = ChatWidget(session)\nchat.send(\"I'm Ada. I fly to Lisbon on 12 May.\")\nchat")
    result = export_report(nb, tmp_path / "out")
    assert result.ok, result.line()
    html = result.html_path.read_text()
    assert 'data-role="user"' in html and 'data-role="assistant"' in html
    assert "<svg" in html  # the transcript and the chart, static
    assert "application/vnd.jupyter.widget-view+json" not in html


def test_registered_as_convolab_report():
    import click

    assert cli.get_command(click.Context(cli), "report") is report


def test_unreadable_notebook_is_one_line(tmp_path: Path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    result = CliRunner().invoke(report, [str(broken), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{broken}: export: ")
