"""tradeoff.svg: every strategy labelled, no label over another, none past its panel's edge."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import polars as pl
import pytest

from convolab.eval.chart import HEIGHT, WIDTH, Box, place_labels, text_width, tradeoff_svg

pytest.importorskip("vl_convert")

_TRANSLATE = re.compile(r"translate\(([-\d.e]+),\s*([-\d.e]+)\)")
_PANEL = f"M0.5,0.5h{WIDTH}v{HEIGHT}h-{WIDTH}Z"


def _walk(node: ET.Element, x: float, y: float, out: dict[str, list]) -> None:
    m = _TRANSLATE.search(node.get("transform", ""))
    if m:
        x, y = x + float(m[1]), y + float(m[2])
    tag = node.tag.rsplit("}", 1)[-1]
    if tag == "path" and node.get("d") == _PANEL:
        out["panels"].append(Box(x, y, WIDTH, HEIGHT))
    if tag == "text" and node.get("aria-roledescription") == "text mark":
        w = text_width(node.text or "")
        left = x - w if node.get("text-anchor") == "end" else x
        out["labels"].append((node.text, Box(left, y - 6, w, 12)))
    for child in node:
        _walk(child, x, y, out)


def summary(points: dict[str, tuple[float, float, float]]) -> pl.DataFrame:
    """A summary frame: strategy -> (tokens per question, cost, quality), the same quality in every metric."""
    rows = []
    for name, (tokens, cost, q) in points.items():
        row = {"strategy": name, "qa_input_tokens": tokens, "cost_usd": cost}
        for m in ("answer_in_context", "answer_in_message", "correctness", "evidence_recall"):
            row |= {m: q, f"{m}_lo": max(0.0, q - 0.15), f"{m}_hi": min(1.0, q + 0.15)}
        rows.append(row)
    return pl.DataFrame(rows)


@pytest.mark.parametrize("points", [
    # the case: full and compaction send the same payloads, at quality 1.0 and the top cost
    {"full": (22221.8, 1.032, 1.0), "sliding": (3385.8, 0.527, 0.08), "retrieval": (3329.8, 0.906, 0.92),
     "compaction": (22221.8, 1.032, 1.0), "summarizing": (3400.0, 0.55, 0.1), "memory": (3300.0, 0.53, 0.09)},
    # every strategy on one spot, and one alone
    {n: (5000.0, 0.2, 0.5) for n in ("full", "sliding", "summarizing", "memory", "retrieval", "compaction")},
    {"full": (100.0, 0.0, 0.0)},
])
def test_labels_never_overlap_nor_leave_their_panel(points):
    svg = tradeoff_svg(summary(points))
    found: dict[str, list] = {"panels": [], "labels": []}
    _walk(ET.fromstring(svg), 0.0, 0.0, found)
    labels = [(t, b) for t, b in found["labels"] if t in points]
    assert len(found["panels"]) == 8
    assert len(labels) == 8 * len(points)  # every strategy named in every panel
    for k, (text, box) in enumerate(labels):
        assert any(box.inside(p.x + p.w, p.y + p.h) and box.x >= p.x - 0.5 and box.y >= p.y - 0.5
                   for p in found["panels"]), f"{text!r} at {box} is outside its panel"
        for other_text, other in labels[k + 1:]:
            assert not box.overlaps(other), f"{text!r} overlaps {other_text!r}"


def test_place_labels_stacks_coincident_points_inside_the_panel():
    points = [(WIDTH - 2, 1.0, name) for name in ("full", "compaction", "summarizing", "memory")]
    boxes = place_labels(points)
    assert all(b is not None and b.inside(WIDTH, HEIGHT) for b in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(b.x + b.w <= WIDTH - 2 for b in boxes)  # at the right edge: labels go left of the point
