"""What the simulated API accepts about thinking, effort and sampling, and what it does with
earlier turns' thinking blocks.

Sources (read 2026-12-02; rows of ``docs/simulator.md``): the thinking and extended thinking
pages, the thinking troubleshooting page's per-model table, the effort page, each model's
"what's new" page, and the SDK's ``ThinkingConfig*Param`` types. Per-model facts (which thinking
types a model takes, its effort levels, whether it keeps earlier thinking) come from the catalog.

- ``check_generation(body, spec, max_tokens, betas)``: the ``thinking`` configuration, the
  ``output_config.effort`` level and the sampling parameters, alone and in combination
  (disabled thinking at a high effort, ``temperature`` with thinking on, ...).
- ``thinking_on(body)``: whether the request turns thinking on explicitly (forced tool use and
  prefill are refused with it; ``rules`` checks those).
- ``strip_earlier_thinking(messages, spec)``: on models without ``keeps_thinking`` the API drops
  the thinking blocks of turns before the last plain user message; they are neither read nor
  billed, and the cache breaks where the first one was.
"""

from __future__ import annotations

from typing import Any

from convolab.catalog import EFFORTS
from convolab.sim.api_error import invalid as _invalid

THINKING_KEYS = {"enabled": {"type", "budget_tokens", "display"}, "adaptive": {"type", "display"},
                 "between_tools": {"type", "display"}, "disabled": {"type"}}
THINKING_FEATURES = {"enabled": "extended_thinking_manual", "adaptive": "adaptive_thinking",
                     "between_tools": "between_tools_thinking"}
INTERLEAVED_BETA = "interleaved-thinking-2025-05-14"  # manual thinking's budget may exceed max_tokens
THINKING_BLOCKS = ("thinking", "redacted_thinking")
DOCS = "https://platform.claude.com/docs/en/build-with-claude/extended-thinking"


def thinking_on(body: dict[str, Any]) -> bool:
    """Whether ``thinking`` turns thinking on explicitly (``enabled`` or ``adaptive``;
    ``between_tools`` is thinking off with progress notes between tool calls, SDK ``ThinkingTypes``)."""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def effort_of(body: dict[str, Any]) -> str | None:
    config = body.get("output_config")
    return config.get("effort") if isinstance(config, dict) else None


def check_generation(body: dict[str, Any], spec: Any, max_tokens: int | None, betas: frozenset[str]) -> None:
    """Thinking, effort and sampling rules (``max_tokens`` is None on ``count_tokens``)."""
    effort = _check_effort(body.get("output_config"), spec)
    if body.get("thinking") is not None:
        _check_thinking(body["thinking"], spec, max_tokens, betas, effort)
    if max_tokens is not None:
        _check_sampling(body, spec)


def _check_effort(config: Any, spec: Any) -> str | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _invalid("output_config: Input should be a valid dictionary")
    effort = config.get("effort")
    if effort is None:
        return None
    if effort not in EFFORTS:
        raise _invalid("output_config.effort: Input should be " + ", ".join(repr(e) for e in EFFORTS))
    if not spec.effort:
        raise _invalid(f"output_config.effort: the effort parameter is not supported by {spec.id}")
    if effort not in spec.effort:
        raise _invalid(f"output_config.effort: {effort!r} is not supported by {spec.id} "
                       f"(it accepts {', '.join(spec.effort)})")
    return effort


def _check_thinking(thinking: Any, spec: Any, max_tokens: int | None, betas: frozenset[str],
                    effort: str | None) -> None:
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in THINKING_KEYS:
        raise _invalid("thinking.type: Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'")
    extra = sorted(set(thinking) - THINKING_KEYS[kind])
    if extra:
        raise _invalid(f"thinking.{kind}.{extra[0]}: Extra inputs are not permitted")
    if thinking.get("display") not in (None, "summarized", "omitted"):
        raise _invalid(f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'")
    if kind == "disabled" and spec.supports("thinking_always_on"):
        raise _invalid(f"thinking: thinking cannot be disabled for {spec.id}; omit `thinking` instead")
    if kind in ("disabled", "between_tools"):
        _check_off_effort(kind, spec, effort)
        if kind == "disabled":
            return
    if not spec.supports(THINKING_FEATURES[kind]):
        raise _invalid(f"thinking.type: '{kind}' is not supported for {spec.id}")
    if kind == "enabled":
        _check_budget(thinking.get("budget_tokens"), spec, max_tokens, INTERLEAVED_BETA in betas)


def _check_off_effort(kind: str, spec: Any, effort: str | None) -> None:
    """Thinking off (``disabled``, or Sonnet 5.5's ``between_tools``) only at effort ``high``
    or lower on the models that say so."""
    if spec.supports("thinking_off_up_to_high") and effort in ("xhigh", "max"):
        raise _invalid(f"thinking: thinking type '{kind}' is accepted on {spec.id} only at effort 'high' or "
                       f"lower; got effort {effort!r}")


def _check_budget(budget: Any, spec: Any, max_tokens: int | None, interleaved: bool) -> None:
    """``budget_tokens`` >= 1024 and below ``max_tokens``; with interleaved thinking it is the
    budget of the whole turn and may exceed ``max_tokens`` (not the context window)."""
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise _invalid("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise _invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if interleaved:
        if budget > spec.context_window:
            raise _invalid(f"thinking.enabled.budget_tokens: {budget} is larger than the context window of "
                           f"{spec.id} ({spec.context_window})")
    elif max_tokens is not None and budget >= max_tokens:
        raise _invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                       f"documentation at {DOCS}#max-tokens-and-context-window-size")


def _check_sampling(body: dict[str, Any], spec: Any) -> None:
    given = [k for k in ("temperature", "top_p", "top_k") if body.get(k) is not None]
    if given and not spec.supports("sampling_parameters"):
        raise _invalid(f"{given[0]}: {spec.id} does not accept sampling parameters (temperature, top_p, "
                       "top_k); remove it and steer the reply with the prompt or effort")
    for name in ("temperature", "top_p"):
        v = body.get(name)
        if v is not None and not (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1):
            raise _invalid(f"{name}: Input should be between 0.0 and 1.0")
    top_k = body.get("top_k")
    if top_k is not None and not (isinstance(top_k, int) and not isinstance(top_k, bool) and top_k >= 0):
        raise _invalid("top_k: Input should be a non-negative integer")
    if not thinking_on(body):
        return
    if body.get("temperature") not in (None, 1, 1.0):
        raise _invalid(f"`temperature` may only be set to 1 when thinking is enabled. See {DOCS}#feature-compatibility")
    if top_k is not None:
        raise _invalid(f"`top_k` must be unset when thinking is enabled. See {DOCS}#feature-compatibility")
    if body.get("top_p") is not None and body["top_p"] < 0.95:
        raise _invalid("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. "
                       f"See {DOCS}#feature-compatibility")


def strip_earlier_thinking(messages: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    """``messages`` without the thinking blocks of assistant turns before the last plain user
    message, on models that do not keep them (the same list when nothing is dropped). The
    current tool-use loop (after that message) keeps its thinking, as the API requires."""
    if spec.supports("keeps_thinking"):
        return messages
    last_plain = next((k for k in range(len(messages) - 1, -1, -1) if messages[k]["role"] == "user"
                       and any(b.get("type") != "tool_result" for b in messages[k]["content"])), -1)
    out = None
    for k in range(last_plain):
        m = messages[k]
        if m["role"] != "assistant" or not any(b.get("type") in THINKING_BLOCKS for b in m["content"]):
            continue
        if out is None:
            out = list(messages)
        out[k] = {**m, "content": [b for b in m["content"] if b.get("type") not in THINKING_BLOCKS]}
    return messages if out is None else out
