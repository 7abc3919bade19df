"""A notebook using every widget, run on a real kernel (nbclient) and exported with nbconvert:
the static fallbacks must be in the HTML, and an export without the CDN parts loads nothing.

What the export shows depends on whether the notebook holds the widgets' state
(``nb.metadata["widgets"]``, saved by nbclient's default ``store_widget_state=True`` and by
JupyterLab's "Save Widget State Automatically"): nbconvert renders a widget view only for a
widget whose state is saved, and otherwise falls back to the next mimetype, our ``text/html``.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from traitlets.config import Config

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELLS = [
    "import polars as pl\n"
    "import convolab\n"
    "from convolab.sim import Simulator\n"
    "from convolab.strategies.registry import make_strategy\n"
    "from convolab.widgets import ChatWidget, PayloadInspector, StrategyComparison, TokenGrowthChart\n\n"
    "session = convolab.ChatSession(store=convolab.DuckDBStore(':memory:'), user_id='u', client=Simulator().client(),\n"
    "                               strategy=make_strategy('sliding'), system_prompt='You are a travel assistant.')\n"
    "chat = ChatWidget(session)\n"
    "turn = chat.send(\"I'm Ada. I fly to Lisbon on 12 May.\")\n"
    "chat",
    "PayloadInspector(turn.payload)",
    "growth = TokenGrowthChart(window=20_000)\n"
    "growth.add_series('full', [4_000, 8_000, 12_000])\n"
    "growth",
    "StrategyComparison(pl.DataFrame({'strategy': ['full', 'sliding'], 'qa_input_tokens': [9000, 3000],\n"
    "                                 'cost_usd': [2.5, 0.8], 'correctness': [0.9, 0.6]}))",
]
# Only the outputs can hold these (the cells' source does not).
FALLBACKS = ['data-convolab="chat"', 'data-role="assistant"', "[in ", "cache write",
             'data-convolab="payload"', 'data-convolab="json"', 'data-convolab="token-growth"',
             "context window 20,000", 'data-convolab="strategy-comparison"', "<svg"]
# The lab template without what it fetches from CDNs (what convolab's report exporter does).
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block footer_js -%}{%- endblock footer_js -%}
"""
STATIC_FIRST = ["text/html", "image/svg+xml", "image/png", "text/markdown", "text/plain"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # a kernel runs the notebook (~15 s)
CDN = re.compile(r"cdn\.jsdelivr|unpkg\.com|cdnjs\.cloudflare|require\.min\.js|embed-amd\.js", re.IGNORECASE)


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()  # store_widget_state=True
    return nb


def without_state(nb):
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # what store_widget_state=False (or a plain save) leaves
    return nb


def offline_exporter(tmp_path):
    (tmp_path / "offline.html.j2").write_text(OFFLINE_TEMPLATE)
    config = Config({"NbConvertBase": {"display_data_priority": STATIC_FIRST}})
    return HTMLExporter(config=config, template_name="lab", template_file="offline.html.j2",
                        extra_template_paths=[str(tmp_path)])


def test_every_output_carries_the_widget_view_and_a_static_fallback(executed):
    outputs = [c.outputs for c in executed.cells]
    assert all(len(o) == 1 and o[0]["output_type"] == "execute_result" for o in outputs), outputs
    for (out,) in outputs:
        assert WIDGET_VIEW in out["data"] and out["data"]["text/html"].startswith("<div data-convolab=")
    assert not [o for c in executed.cells for o in c.outputs if o.get("output_type") == "error"]


def test_default_exporter_shows_the_fallbacks_when_no_widget_state_is_saved(executed):
    html, _ = HTMLExporter().from_notebook_node(without_state(executed))
    for marker in FALLBACKS:
        assert marker in html, marker
    assert WIDGET_VIEW not in html  # no widget view left to wait for a widget manager


def test_default_exporter_prefers_saved_widget_views(executed):
    """Why the report exports without widget state or with text/html first: with state saved,
    nbconvert emits widget views, which need the widget manager from a CDN."""
    html, _ = HTMLExporter().from_notebook_node(executed)
    assert WIDGET_VIEW in html and 'data-convolab="chat"' not in html and CDN.search(html)


@pytest.mark.parametrize("state", ["without widget state", "with widget state"])
def test_offline_export_shows_the_fallbacks_and_loads_nothing(executed, tmp_path, state):
    nb = without_state(executed) if state == "without widget state" else executed
    html, _ = offline_exporter(tmp_path).from_notebook_node(nb)
    for marker in FALLBACKS:
        assert marker in html, marker
    assert not re.search(r"<script[^>]*\bsrc=", html, re.IGNORECASE)
    assert not re.search(r"""<link[^>]*href=["']?(?:https?:)?//""", html, re.IGNORECASE)
    assert not CDN.search(html)
    assert WIDGET_VIEW not in html
    svgs = re.findall(r"<svg\b", html)
    assert len(svgs) >= 3  # the chat's chart, the growth chart, the comparison
