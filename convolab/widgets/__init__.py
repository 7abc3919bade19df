"""Notebook widgets (ipywidgets + altair), each with a static fallback.

| widget | shows |
|---|---|
| ``ChatWidget(session)`` | a chat over a ``ChatSession``: replies, tokens and cost per turn, a strategy picker |
| ``PayloadInspector(payload)`` | the exact request a strategy built: blocks, tokens, breakpoints, what was left out |
| ``TokenGrowthChart()`` | input tokens per turn, one line per strategy, cache reads and writes, the context window |
| ``StrategyComparison(results)`` | an evaluation's quality against tokens and cost, per category |

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

from convolab.widgets.chat import ChatWidget
from convolab.widgets.comparison import StrategyComparison
from convolab.widgets.growth import TokenGrowthChart, chapter_growth_table
from convolab.widgets.inspector import PayloadInspector

__all__ = ["ChatWidget", "PayloadInspector", "StrategyComparison", "TokenGrowthChart", "chapter_growth_table"]
