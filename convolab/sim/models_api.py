"""``GET /v1/models`` and ``GET /v1/models/{id}`` from the catalog, in the SDK's ``ModelInfo``
shape (anthropic 2.13 ``types/model_info.py``): newest first, paginated with ``limit`` (1-1000,
default 20), ``after_id`` and ``before_id``; ``has_more``, ``first_id`` and ``last_id``.

``capabilities`` is filled from the catalog's features where it has them (thinking types,
context management strategies, effort); what the catalog does not record (batch, citations,
images, PDFs, server tools, structured outputs) is reported as supported, which is true of
every model the catalog lists according to the models overview.
"""

from __future__ import annotations

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
        "effort": {"supported": adaptive, "low": _yes(adaptive), "medium": _yes(adaptive),
                   "high": _yes(adaptive), "max": _yes(adaptive)},
        "thinking": {"supported": has("thinking"), "types": {
            "enabled": _yes(has("extended_thinking_manual")), "adaptive": _yes(adaptive),
            "disabled": _yes(not has("thinking_always_on")), "between_tools": _yes(has("thinking"))}},
    }


def _lifecycle(value: str) -> str:
    # The API knows active / deprecated / retired; the catalog's "legacy" (superseded but
    # served, open to new users) is "active" there.
    return value if value in ("active", "deprecated", "retired") else "active"


def model_info(spec: catalog.ModelSpec) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": "model", "id": spec.id, "display_name": spec.display_name,
        "created_at": f"{spec.released.isoformat()}T00:00:00Z", "lifecycle": _lifecycle(spec.lifecycle),
        "line": spec.family if spec.family in LINES else None,
        "max_input_tokens": spec.context_window, "max_tokens": spec.max_output,
        "capabilities": capabilities(spec),
    }
    retires_at = getattr(spec, "retires_at", None)
    info["retires_at"] = f"{retires_at.isoformat()}T00:00:00Z" if retires_at else None
    return info


def list_models(query: dict[str, str]) -> dict[str, Any]:
    models = sorted(catalog.list_models(), key=lambda s: (s.released, s.id), reverse=True)  # newest first
    shown, more = page(models, [m.id for m in models], query)
    return {"data": [model_info(m) for m in shown], "has_more": more,
            "first_id": shown[0].id if shown else None, "last_id": shown[-1].id if shown else None}
