"""Static HTML shared by the widgets: what an exported notebook and GitHub's viewer show.

Everything here is plain HTML with inline styles: no ``<script>``, no external stylesheet,
no ``<style>`` block (sanitizers drop them and they would leak into the page), no URL. Charts
come in as inline SVG made by vl-convert, which bundles Vega and needs no network.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

# Colours readable on the light panel every fallback sets as its own background.
INK, MUTED, LINE, PANEL = "#1f2328", "#57606a", "#d0d7de", "#ffffff"
RED, GREEN, BLUE, AMBER, PURPLE, TEAL = "#cf222e", "#1a7f37", "#0969da", "#9a6700", "#8250df", "#0a7480"
FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;font-size:13px"
NO_MATH = "tex2jax_ignore mathjax_ignore"  # MathJax 2 and 3 skip elements with these classes
MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px"
# Background and border of the highlighted parts of a payload.
KINDS = {
    "system": ("#f6f8fa", LINE),
    "summary": ("#fff8c5", "#d4a72c"),
    "pins": ("#ffebe9", "#ff8182"),
    "memory": ("#ddf4ff", "#54aeff"),
    "retrieved": ("#dafbe1", "#4ac26b"),
    "compaction": ("#fbefff", "#c297ff"),
}


def esc(value: Any) -> str:
    """``value`` as HTML text (quotes escaped too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def panel(body: str, *, kind: str, title: str = "") -> str:
    """The outer box of a widget's static view; ``data-convolab`` names the widget. Its classes
    keep JupyterLab's math typesetting out (two dollar amounts would read as a formula)."""
    head = f'<div style="font-weight:600;margin:0 0 6px 0">{esc(title)}</div>' if title else ""
    return (f'<div data-convolab="{esc(kind)}" class="{NO_MATH}" style="{FONT};color:{INK};background:{PANEL};'
            f'border:1px solid {LINE};border-radius:6px;padding:10px 12px;margin:4px 0;max-width:1100px">'
            f"{head}{body}</div>")


def badge(text: str, color: str = BLUE, *, title: str = "") -> str:
    tip = f' title="{esc(title)}"' if title else ""
    return (f'<span{tip} style="display:inline-block;{MONO};font-size:11px;color:{color};'
            f'border:1px solid {color};border-radius:10px;padding:0 6px;margin:0 3px 0 0;'
            f'white-space:nowrap">{esc(text)}</span>')


def muted(text: str) -> str:
    return f'<span style="color:{MUTED}">{esc(text)}</span>'


def error_line(text: str) -> str:
    """A red line: how every widget shows an error instead of a traceback."""
    return (f'<div data-convolab="error" style="color:{RED};{MONO};margin:4px 0;'
            f'white-space:pre-wrap">{esc(text)}</div>')


def figures_line(text: str) -> str:
    return (f'<div data-convolab="figures" style="{MONO};color:{MUTED};margin:2px 0 8px 0;'
            f'white-space:pre-wrap">{esc(text)}</div>')


def block(body: str, *, kind: str = "system", label: str = "", badges: str = "") -> str:
    """A highlighted box for one part of a payload (system block, message, summary...)."""
    bg, border = KINDS.get(kind, KINDS["system"])
    head = ""
    if label or badges:
        head = f'<div style="margin-bottom:3px"><b>{esc(label)}</b> {badges}</div>'
    return (f'<div data-kind="{esc(kind)}" style="background:{bg};border-left:4px solid {border};'
            f'padding:4px 8px;margin:3px 0;border-radius:3px">{head}{body}</div>')


def text_box(text: str, *, max_height: int | None = 220) -> str:
    limit = f"max-height:{max_height}px;overflow:auto;" if max_height else ""
    return (f'<div style="white-space:pre-wrap;word-break:break-word;{limit}{MONO};'
            f'color:{INK}">{esc(text)}</div>')


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A collapsible section (``<details>`` works without script everywhere HTML renders)."""
    return (f'<details{" open" if open_ else ""} style="margin:6px 0">'
            f'<summary style="cursor:pointer;font-weight:600">{esc(summary)}</summary>{body}</details>')


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] = (), *, numeric: Iterable[int] = ()) -> str:
    """A small table; columns in ``numeric`` are right-aligned."""
    right = set(numeric)
    cell = f"padding:2px 8px;border-bottom:1px solid {LINE};"

    def td(i: int, v: Any, tag: str = "td") -> str:
        align = "text-align:right;" if i in right else "text-align:left;"
        return f'<{tag} style="{cell}{align}">{esc(v)}</{tag}>'

    head = "<tr>" + "".join(td(i, h, "th") for i, h in enumerate(header)) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(td(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<table style="border-collapse:collapse;{MONO};margin:4px 0">{head}{body}</table>'


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers for tables: thousands separators for ints, ``digits`` decimals for floats."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def frame_table(frame: Any, *, digits: dict[str, int] | None = None, default_digits: int = 3) -> str:
    """A polars DataFrame as a static table."""
    digits = digits or {}
    cols = list(frame.columns)
    numeric = [i for i, c in enumerate(cols) if frame[c].dtype.is_numeric()]
    rows = [[fmt(v, digits.get(c, default_digits)) for c, v in zip(cols, r, strict=True)]
            for r in frame.iter_rows()]
    return table(rows, cols, numeric=numeric)


# Room for legend labels: vl-convert measures text with its own font, browsers may draw it wider.
CHART_PADDING = {"left": 5, "top": 5, "bottom": 5, "right": 40}


def chart_svg(chart: Any) -> str:
    """An altair chart as SVG, rendered by vl-convert (Vega bundled: no CDN, no network)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(chart.to_dict())


def svg(svg_text: str, *, caption: str = "") -> str:
    """An inline SVG chart (made by vl-convert; it holds no script and loads nothing)."""
    cap = f'<div style="color:{MUTED};font-size:12px">{esc(caption)}</div>' if caption else ""
    return f'<div data-convolab="chart" style="overflow-x:auto">{svg_text}</div>{cap}'


# -- JSON with syntax highlighting -------------------------------------------------------------
_JSON_TOKEN = re.compile(r'(?P<str>"(?:[^"\\]|\\.)*")(?P<key>\s*:)?|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
                         r"|(?P<lit>\btrue\b|\bfalse\b|\bnull\b)")
_JSON_COLORS = {"key": "#0550ae", "str": "#0a3069", "num": "#953800", "lit": "#8250df"}


def json_spans(text: str) -> str:
    """JSON text as escaped HTML with ``<span>`` colours; the text content (what a copy takes,
    what ``html.unescape`` of the tag-stripped markup gives) is exactly ``text``."""
    out, pos = [], 0
    for m in _JSON_TOKEN.finditer(text):
        out.append(html.escape(text[pos:m.start()], quote=False))
        if m.group("str") is not None:
            kind = "key" if m.group("key") else "str"
            out.append(f'<span style="color:{_JSON_COLORS[kind]}">{html.escape(m.group("str"), quote=False)}</span>')
            if m.group("key"):
                out.append(html.escape(m.group("key"), quote=False))
        else:
            kind = "num" if m.group("num") is not None else "lit"
            out.append(f'<span style="color:{_JSON_COLORS[kind]}">{m.group(0)}</span>')
        pos = m.end()
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def json_view(text: str, *, max_height: int | None = 480) -> str:
    """A ``<pre>`` of highlighted JSON; selecting it copies the JSON exactly."""
    limit = f"max-height:{max_height}px;overflow:auto;" if max_height else "overflow:auto;"
    return (f'<pre data-convolab="json" style="{MONO};{limit}background:#f6f8fa;color:{INK};'
            f'border:1px solid {LINE};border-radius:4px;padding:8px;margin:4px 0;white-space:pre">'
            f"{json_spans(text)}</pre>")


_TAG = re.compile(r"<[^>]+>")
_PRE = re.compile(r'<pre data-convolab="json"[^>]*>(.*?)</pre>', re.DOTALL)


def json_from_html(markup: str) -> list[Any]:
    """Every JSON view in ``markup``, parsed back (what a reader copying it would get)."""
    return [json.loads(html.unescape(_TAG.sub("", m))) for m in _PRE.findall(markup)]


class StaticFallback:
    """Mixin for an ``ipywidgets`` widget: its display bundle carries the live view *and* a
    ``text/html`` static view (``to_html()``), which exported notebooks and viewers that cannot
    run widget code show instead."""

    def to_html(self) -> str:  # pragma: no cover - every widget defines it
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        data = dict(data or {})
        data["text/html"] = self.to_html()
        return data

    def static(self) -> Any:
        """The static view alone, as an ``IPython.display.HTML`` (``display(w.static())`` puts
        it in the notebook even where the widget view would win, e.g. with saved widget state)."""
        from IPython.display import HTML

        return HTML(self.to_html())
