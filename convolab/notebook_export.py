"""Notebook reports: run a notebook on a fresh kernel, offline, and export it as one HTML file
that opens with no network.

    >>> from convolab.notebook_export import export_reports
    >>> results = export_reports(["notebooks/00_quickstart.ipynb"], "build/report")
    >>> [r.line() for r in results]
    ['build/report/00_quickstart.html (10 cells, 4.1 s)']

What a report guarantees (checked on every export; a notebook that fails a check gets no HTML):

- it ran top to bottom on a new kernel whose environment holds no ``ANTHROPIC_*`` variable and
  no variable named like a secret (``KEY``, ``TOKEN``, ``SECRET``, ``PASSW``, ``CREDENTIAL``,
  ``DSN``, ``AUTH`` in its name), so ``convolab.client()`` is the simulator;
- no cell raised and no traceback was printed (log lines and warnings on stderr stay, shown);
- the HTML loads nothing: no ``<script src>``, ``<link href>``, ``<img src>``, CSS ``url()``
  or script body pointing at another host (plain ``<a href>`` links are allowed), because
  require.js, MathJax, mermaid and the widget manager are left out and images are embedded;
- altair charts are inline SVG (the kernel enables altair's ``svg`` renderer), widgets show
  their static ``text/html`` fallback;
- no ``sk-ant-`` key, no value of a secret-named variable of this process, and no URL with a
  password appears anywhere in it.

``write_index(results, out_dir)`` writes ``index.html`` beside the reports: each exported
notebook's title (its first heading) and first paragraph, linked to its report, and a line for
each notebook that was not exported. The ``convolab report`` command
(``convolab/commands/report.py``) and ``make report`` use both.
"""

from __future__ import annotations

import concurrent.futures
import html as html_text
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_TIMEOUT = 300  # seconds per cell
TEMPLATE_NAME = "convolab_report.html.j2"
# The lab template without anything it would fetch: require.js, widget manager, MathJax, mermaid.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block footer_js -%}{%- endblock footer_js -%}
"""
# Richest static form first; widget views and JavaScript are never rendered (they need a live
# kernel or a CDN), so a widget shows its text/html fallback, else its text/plain repr.
DISPLAY_PRIORITY = ["text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown",
                    "text/latex", "text/plain"]
# Run in the kernel before the first cell, in a throwaway namespace: charts become inline SVG.
KERNEL_SETUP = ("exec('try:\\n import altair, vl_convert\\n altair.renderers.enable(\"svg\")\\n"
                "except ImportError:\\n pass', {})")

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|DSN|AUTH", re.IGNORECASE)
API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_\-]{6,}")
URL_WITH_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s/:@'\"<>]+:[^\s/@'\"<>]+@", re.IGNORECASE)
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.\-]*:)?//", re.IGNORECASE)  # http://, https://, //host
CSS_EXTERNAL = re.compile(r"""(?:url\(\s*['"]?|@import\s+(?:url\(\s*)?['"]?)(?:[a-z][a-z0-9+.\-]*:)?//""",
                          re.IGNORECASE)
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
JS_EXTERNAL = re.compile(r"""\b(?:https?|wss?|ftp)://|['"`]//[a-z0-9]""", re.IGNORECASE)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*\w*(?:Error|Exception)\b", re.MULTILINE)
URL_ATTRS = {"src", "href", "srcset", "data", "poster", "action", "formaction", "xlink:href",
             "background", "manifest", "codebase", "ping", "longdesc"}
JS_TYPES = {"", "text/javascript", "application/javascript", "module", "text/ecmascript"}
STDERR_MIME = "application/vnd.jupyter.stderr"


@dataclass(frozen=True)
class Problem:
    """Why a report is not clean. ``cell`` is the cell's 1-based position in the notebook."""

    kind: str  # "error", "timeout", "kernel", "export", "external", "secret"
    detail: str
    cell: int | None = None

    def __str__(self) -> str:
        where = f"cell {self.cell}: " if self.cell is not None else ""
        return f"{where}{self.kind}: {' '.join(self.detail.split())}"


@dataclass
class ReportResult:
    """One notebook's export: where the HTML went (None when it was not written) and why."""

    notebook: Path
    html_path: Path | None
    problems: list[Problem] = field(default_factory=list)
    cells: int = 0
    seconds: float = 0.0
    title: str = ""  # the notebook's first heading
    summary: str = ""  # the first paragraph after it, as plain text

    @property
    def ok(self) -> bool:
        return not self.problems and self.html_path is not None

    def line(self) -> str:
        """One line for a terminal: the file written, or the notebook, cell and first problem."""
        if self.ok:
            return f"{self.html_path} ({self.cells} cells, {self.seconds:.1f} s)"
        first = self.problems[0] if self.problems else Problem("kernel", "no HTML was written")
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{self.notebook}: {first}{more}"


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of this process's secret-named environment variables (8 characters or more)."""
    environ = os.environ if environ is None else environ
    return sorted({v.strip() for k, v in environ.items()
                   if (SECRET_NAME.search(k) or k.startswith("ANTHROPIC_")) and len(v.strip()) >= 8})


def kernel_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: ours without ``ANTHROPIC_*`` and secret-named variables, plus
    ``CONVOLAB_REPORT=1`` (read by code that renders differently for a static export)."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if not (k.startswith("ANTHROPIC_") or SECRET_NAME.search(k))}
    env["CONVOLAB_REPORT"] = "1"
    return env


class _Audit(HTMLParser):
    """Walks exported HTML; records what it would fetch and where a traceback is shown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[Problem] = []
        self.cell = 0  # 1-based count of jp-Cell elements seen so far
        self._body_of: str | None = None  # "script" or "style" while inside an executable one
        self._body: list[str] = []
        self._stderr_depth = 0  # open <div>s since a stderr output began (0: not in one)
        self._stderr: list[str] = []

    def _external(self, what: str, url: str) -> None:
        self.problems.append(Problem("external", f"{what} loads {url.strip()[:120]}", self.cell or None))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if "jp-Cell" in values.get("class", "").split():
            self.cell += 1
        if tag == "div" and self._stderr_depth:
            self._stderr_depth += 1
        elif tag == "div" and values.get("data-mime-type") == STDERR_MIME:
            self._stderr_depth, self._stderr = 1, []
        for name, value in values.items():
            if name in URL_ATTRS and not (tag == "a" and name in {"href", "xlink:href"}):
                urls = [u.strip().split(" ")[0] for u in value.split(",")] if name == "srcset" else [value]
                for url in urls:
                    if EXTERNAL.match(url):
                        self._external(f"<{tag} {name}>", url)
            elif name == "style" and CSS_EXTERNAL.search(value):
                self._external(f"<{tag} style>", value)
        if tag == "style" or (tag == "script" and values.get("type", "").strip().lower() in JS_TYPES):
            self._body_of, self._body = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._body_of:
            body = "".join(self._body)
            if tag == "style":
                m = CSS_EXTERNAL.search(CSS_COMMENT.sub("", body))
                if m:
                    self._external("<style>", CSS_COMMENT.sub("", body)[m.start():m.start() + 120])
            else:
                m = JS_EXTERNAL.search(body)
                if m:
                    self._external("<script>", body[m.start():m.start() + 120])
            self._body_of = None
        if tag == "div" and self._stderr_depth:
            self._stderr_depth -= 1
            if not self._stderr_depth and TRACEBACK.search(text := "".join(self._stderr)):
                line = next((ln for ln in reversed(text.strip().splitlines()) if ln.strip()), "")
                self.problems.append(Problem("error", f"error output in the HTML: {line.strip()[:160]}",
                                             self.cell or None))

    def handle_data(self, data: str) -> None:
        if self._body_of is not None:
            self._body.append(data)
        if self._stderr_depth:
            self._stderr.append(data)


def audit_html(html: str, *, secrets: Iterable[str] = ()) -> list[Problem]:
    """What keeps an exported HTML page from being a clean offline report (empty when clean).

    Flags anything it would fetch from another host, a traceback, ``sk-ant-`` keys,
    URLs with a password and any of ``secrets`` (pass ``secret_values()``)."""
    parser = _Audit()
    parser.feed(html)
    parser.close()
    problems = parser.problems
    if API_KEY.search(html):
        problems.append(Problem("secret", "an Anthropic API key (sk-ant-...) appears in the HTML"))
    if URL_WITH_PASSWORD.search(html):
        problems.append(Problem("secret", "a URL with a password (scheme://user:password@) appears in the HTML"))
    for value in secrets:
        if value and value in html:
            problems.append(Problem("secret", "the value of a secret environment variable appears in the HTML"))
            break
    return problems


def notebook_problems(nb) -> list[Problem]:
    """Errors of an executed notebook (error outputs, tracebacks printed to stderr), each with
    its cell's position. Other stderr (log lines, warnings) is kept in the report."""
    problems = []
    for index, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                problems.append(Problem("error", f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
                                        .strip().rstrip(":").splitlines()[0][:200], index))
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = "".join(out.get("text", "")).strip()
                if TRACEBACK.search(text):
                    problems.append(Problem("error", f"traceback on stderr: {text.splitlines()[-1][:200]}", index))
    return problems


MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
LEAD_LABEL = re.compile(r"^\*\*[^*]+\*\*\s*")  # "**What you will learn.** " before a paragraph
MARKDOWN_MARKS = re.compile(r"\*\*|__|`|(?<!\w)\*(?!\s)|(?<!\s)\*(?!\w)")
INDEX_STYLE = ("body{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;"
               "max-width:860px;margin:32px auto;padding:0 16px;color:#1f2328;line-height:1.45}"
               "a{color:#0969da}li{margin:0 0 14px 0}p{margin:4px 0}.problem{color:#cf222e}")


def plain_markdown(text: str) -> str:
    """Markdown as one line of plain text: links become their text, emphasis and code marks go."""
    return " ".join(MARKDOWN_MARKS.sub("", MARKDOWN_LINK.sub(r"\1", text)).split())


def notebook_intro(nb, *, default: str = "") -> tuple[str, str]:
    """A notebook's title (its first ``#`` heading, else ``default``) and the first paragraph of
    text after it, as plain text."""
    title, summary = "", ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for block in re.split(r"\n\s*\n", cell.source):
            block = block.strip()
            if not title and block.startswith("# "):
                title = plain_markdown(block.splitlines()[0][2:])
                rest = "\n".join(block.splitlines()[1:]).strip()
                block = rest
            if title and block and not block.startswith(("#", "|", "```", "- ")):
                summary = plain_markdown(LEAD_LABEL.sub("", block))
                return title, summary
    return title or default, summary


def write_index(results: Sequence[ReportResult], out_dir: str | os.PathLike) -> Path:
    """``out_dir/index.html``: every exported notebook's title and first paragraph, linked to
    its report (relative links: the folder can move), and the notebooks that were not exported.
    Plain HTML with inline styles: no script, nothing fetched."""
    esc = html_text.escape
    items = []
    for r in results:
        if r.ok:
            items.append(f'<li><a href="{esc(r.html_path.name)}">{esc(r.title)}</a><p>{esc(r.summary)}</p></li>')
        else:
            first = r.problems[0] if r.problems else Problem("kernel", "no HTML was written")
            items.append(f'<li>{esc(r.title or r.notebook.stem)} <p class="problem">not exported: {esc(str(first))}'
                         "</p></li>")
    exported = sum(r.ok for r in results)
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>convolab notebooks</title>"
            f"<style>{INDEX_STYLE}</style></head><body><h1>convolab notebooks</h1>"
            f"<p>{exported} of {len(results)} notebooks, each run top to bottom offline on the simulated Claude "
            f"and exported as one page that loads nothing from the network.</p><ol>{''.join(items)}</ol>"
            "</body></html>")
    target = Path(out_dir) / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config({"NbConvertBase": {"display_data_priority": DISPLAY_PRIORITY}})
    return HTMLExporter(config=config, template_name="lab", template_file=TEMPLATE_NAME,
                        extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})], embed_images=True,
                        exclude_anchor_links=True, sanitize_html=False)


def export_report(notebook: str | os.PathLike, out_dir: str | os.PathLike, *, timeout: int = DEFAULT_TIMEOUT,
                  kernel_name: str = "python3") -> ReportResult:
    """Run ``notebook`` on a fresh offline kernel (in its own folder) and write
    ``out_dir/<stem>.html`` when every check passes. A stale file of that name is removed
    first, so no old report stands in for a failed one."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    start = time.monotonic()
    path = Path(notebook)
    target = Path(out_dir) / f"{path.stem}.html"
    target.unlink(missing_ok=True)
    result = ReportResult(notebook=path, html_path=None)
    nb = nbformat.read(path, as_version=4)
    result.cells = len(nb.cells)
    result.title, result.summary = notebook_intro(nb, default=path.stem)
    current = {"cell": None}

    def on_cell_start(cell, cell_index, **_):
        current["cell"] = cell_index + 1

    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=False,
                            store_widget_state=False, record_timing=False, on_cell_start=on_cell_start,
                            extra_arguments=[f"--IPKernelApp.exec_lines={KERNEL_SETUP}"],
                            resources={"metadata": {"path": str(path.resolve().parent)}})
    with tempfile.TemporaryFile("w+") as kernel_log:  # the kernel's own stderr, shown if it dies
        try:
            client.execute(env=kernel_env(), stderr=kernel_log)
        except CellTimeoutError:
            result.problems.append(Problem("timeout", f"did not finish within {timeout} s", current["cell"]))
        except DeadKernelError as e:
            kernel_log.seek(0)
            tail = " | ".join(kernel_log.read().strip().splitlines()[-3:])
            result.problems.append(Problem("kernel", f"the kernel died ({e}) {tail}".strip(), current["cell"]))
        except CellExecutionError:
            pass  # the failing cell holds the error output; notebook_problems() names it
    # After a timeout the interrupted cell also shows a KeyboardInterrupt: the timeout says it.
    stopped = {p.cell for p in result.problems}
    result.problems += [p for p in notebook_problems(nb) if p.cell not in stopped]
    if not result.problems:
        html, _ = _exporter().from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        result.problems = audit_html(html, secrets=secret_values())
        if not result.problems:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
            result.html_path = target
    result.seconds = time.monotonic() - start
    return result


def _export_one(args: tuple[str, str, int, str]) -> ReportResult:
    notebook, out_dir, timeout, kernel_name = args
    try:
        return export_report(notebook, out_dir, timeout=timeout, kernel_name=kernel_name)
    except Exception as e:  # a notebook that cannot be read or exported still gets its one line
        return ReportResult(Path(notebook), None, [Problem("export", f"{type(e).__name__}: {e}")])


def export_reports(notebooks: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                   jobs: int | None = None, timeout: int = DEFAULT_TIMEOUT,
                   kernel_name: str = "python3") -> list[ReportResult]:
    """``export_report`` for each notebook, ``jobs`` at a time (default: one per CPU; each runs
    on its own kernel process), results in the order given."""
    args = [(str(nb), str(out_dir), timeout, kernel_name) for nb in notebooks]
    jobs = max(1, min(len(args), jobs or os.cpu_count() or 1))
    if jobs == 1:
        return [_export_one(a) for a in args]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="convolab-report") as pool:
        return list(pool.map(_export_one, args))
