"""``GET /v1/models`` and ``GET /v1/models/{id}`` from the catalog, in the SDK's ``ModelInfo``
shape (anthropic 2.13 ``types/model_info.py``): newest first, paginated with ``limit`` (1-1000,
default 20), ``after_id`` and ``before_id``; ``has_more``, ``first_id`` and ``last_id``.

``capabilities`` is filled from the catalog's features where it has them (thinking types,
context management strategies, effort levels); what the catalog does not record (batch,
citations, images, PDFs, server tools, structured outputs) is reported as supported, which is
true of every model the catalog lists according to the models overview. ``lifecycle``,
``deprecated_at`` and ``retires_at`` are the catalog's dates read on the simulator's clock.
"""

from __future__ import annotations

import datetime
from typing import Any

from convolab import catalog
from convolab.sim.pagination import page

LINES = {"haiku", "sonnet", "opus", "fable", "mythos"}  # the SDK's ModelLine literal


def _yes(value: bool) -> dict[str, bool]:
    return {"supported": bool(value)}


def capabilities(spec: catalog.ModelSpec) -> dict[str, Any]:
    has = spec.supports
    clear = has("context_management_clear_tool_uses")
    compact = has("compaction")
    adaptive = has("adaptive_thinking")
    return {
        "batch": _yes(True), "citations": _yes(True), "code_execution": _yes(True),
        "image_input": _yes(True), "pdf_input": _yes(True), "structured_outputs": _yes(True),
        "server_tools": {"supported": True, "code_execution": _yes(True), "web_search": _yes(True)},
        "context_management": {"supported": clear or compact,
                               "clear_tool_uses_20250919": _yes(clear),
                               "clear_thinking_20251015": _yes(has("thinking") and clear),
                               "compact_20260112": _yes(compact)},
        "effort": {"supported": bool(spec.effort), **{e: _yes(e in spec.effort) for e in catalog.EFFORTS}},
        "thinking": {"supported": has("thinking"), "types": {
            "enabled": _yes(has("extended_thinking_manual")), "adaptive": _yes(adaptive),
            "disabled": _yes(not has("thinking_always_on")), "between_tools": _yes(has("between_tools_thinking"))}},
    }


def _stamp(day: datetime.date | None) -> str | None:
    return f"{day.isoformat()}T00:00:00Z" if day else None


def model_info(spec: catalog.ModelSpec, day: datetime.date) -> dict[str, Any]:
    """``ModelInfo`` of ``spec`` on ``day``. The API knows active / deprecated / retired; the
    catalog's "legacy" (superseded but served, open to new users) is "active" there."""
    stage = spec.lifecycle_on(day)
    lifecycle = stage if stage in ("deprecated", "retired") else "active"
    return {
        "type": "model", "id": spec.id, "display_name": spec.display_name,
        "created_at": _stamp(spec.released), "lifecycle": lifecycle,
        "line": spec.family if spec.family in LINES else None,
        "max_input_tokens": spec.context_window, "max_tokens": spec.max_output,
        "capabilities": capabilities(spec),
        "deprecated_at": _stamp(spec.deprecated_at) if lifecycle != "active" else None,
        "retires_at": _stamp(spec.retires_at) if lifecycle != "active" else None,
    }


def list_models(query: dict[str, str], day: datetime.date) -> dict[str, Any]:
    models = sorted(catalog.list_models(), key=lambda s: (s.released, s.id), reverse=True)  # newest first
    shown, more = page(models, [m.id for m in models], query)
    return {"data": [model_info(m, day) for m in shown], "has_more": more,
            "first_id": shown[0].id if shown else None, "last_id": shown[-1].id if shown else None}
