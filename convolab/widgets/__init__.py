"""Notebook widgets (ipywidgets + altair), each with a static fallback.

| widget | shows |
|---|---|
| ``ChatWidget(session)`` | a chat over a ``ChatSession``: replies, tokens and cost per turn, a strategy picker, a fork |
| ``PayloadInspector(payload)`` | the exact request a strategy built: blocks, tokens, breakpoints, why the cache missed, what was left out |
| ``TokenGrowthChart()`` | input tokens per turn, one line per strategy or branch, cache reads and writes, cumulative cost |
| ``StrategyComparison(results)`` | an evaluation's quality against tokens and cost, per category |
| ``Table(data)`` | a frame, dict or list of dicts as a plain table, numbers rounded |

Importing the package sets a notebook up (``setup_notebook``): altair draws charts as SVG in
the kernel (no Vega from a CDN, so charts show with no network), and convolab's notices
(a recovered conversation, a skipped side call) print once as plain output lines.

Every widget's display bundle holds the live view *and* a ``text/html`` static view
(``to_html()``: HTML with inline SVG charts made by vl-convert, no script, no URL), so an
exported notebook or a viewer that cannot run widget code still shows it (``docs/widgets.md``).
Needs the ``lab`` extra: ``pip install 'convolab[lab]'``.
"""

from __future__ import annotations

try:
    import altair  # noqa: F401
    import ipywidgets  # noqa: F401
    import vl_convert  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installation
    from convolab.errors import ConfigurationError

    raise ConfigurationError(
        f"convolab.widgets needs ipywidgets, altair and vl-convert-python ({e.name} is missing): "
        "pip install 'convolab[lab]'") from e

from convolab.widgets.cache_verdict import CacheVerdict, cache_verdict
from convolab.widgets.chat import ChatWidget
from convolab.widgets.comparison import StrategyComparison
from convolab.widgets.growth import TokenGrowthChart, linear_growth_table
from convolab.widgets.inspector import PayloadInspector
from convolab.widgets.notebook import Table, setup_notebook

setup_notebook()

__all__ = ["CacheVerdict", "ChatWidget", "PayloadInspector", "StrategyComparison", "Table", "TokenGrowthChart",
           "cache_verdict", "linear_growth_table", "setup_notebook"]
