"""Why a request read the prompt cache, or why it did not, in one sentence.

The prompt cache serves a request the longest prefix that an earlier request wrote at a cache
breakpoint, while that entry lives (5 minutes, or 1 hour with ``ttl: "1h"``, refreshed by
every hit). A request reads nothing when:

- the prefix is under the model's minimum cacheable length (nothing was ever written);
- the prefix changed: a block before the earlier breakpoint differs (a rewritten memory
  block, a window that moved), so the earlier entry no longer matches;
- the entry expired: the previous request was longer ago than the TTL.

``cache_verdict(payload, usage, previous=..., seconds_since=...)`` compares a request with the
one before it in the same conversation and names which of these happened. Blocks are counted
in the cache's order: tools, then system blocks, then each message's content blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convolab import catalog

TTL_SECONDS = {"5m": 300, "1h": 3600}


@dataclass(frozen=True)
class CacheVerdict:
    """``status``: ``read``, ``partial``, ``first``, ``off``, ``planned`` (no usage given),
    ``below-minimum``, ``prefix-changed`` or ``expired``; ``text`` says it in a sentence; ``changed_at`` is the
    1-based number of the first block that differs from the previous request (in cache order)."""

    status: str
    text: str
    changed_at: int | None = None
    where: str = ""

    @property
    def missed(self) -> bool:
        return self.status in ("below-minimum", "prefix-changed", "expired")


def _usage(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else getattr(usage, key, None)
    return int(value or 0)


def _strip(block: Any) -> Any:
    return {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block


def cache_blocks(request: dict[str, Any]) -> list[tuple[str, Any]]:
    """The request's blocks in cache order, each ``(where, block without cache_control)``."""
    out: list[tuple[str, Any]] = []
    for i, tool in enumerate(request.get("tools") or []):
        out.append((f"tool {i + 1} ({tool.get('name', tool.get('type', '?'))})", _strip(tool)))
    system = request.get("system")
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) and system else system or []
    for i, b in enumerate(blocks):
        out.append((f"system block {i + 1}", _strip(b)))
    for i, m in enumerate(request.get("messages") or []):
        content = m["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for k, b in enumerate(parts):
            where = f"message {i + 1} ({m['role']})" + (f", block {k + 1}" if len(parts) > 1 else "")
            out.append((where, (m["role"], _strip(b)) if k == 0 else _strip(b)))
    return out


def first_change(previous: dict[str, Any], current: dict[str, Any]) -> tuple[int, str] | None:
    """``(1-based block number, where)`` of the first block of ``previous`` that ``current``
    does not repeat, or ``None`` when ``current`` starts with all of ``previous``."""
    if previous.get("model") != current.get("model"):
        return 1, "the model"
    before, now = cache_blocks(previous), cache_blocks(current)
    for i, (where, block) in enumerate(before):
        if i >= len(now) or now[i][1] != block:
            return i + 1, where
    return None


def _ttl(request: dict[str, Any]) -> str:
    marks = [request.get("cache_control")] + [b.get("cache_control") for _, b in cache_blocks(request)
                                              if isinstance(b, dict)]
    return "1h" if any(isinstance(m, dict) and m.get("ttl") == "1h" for m in marks) else "5m"


def _has_breakpoint(request: dict[str, Any]) -> bool:
    if "cache_control" in request:
        return True
    system = request.get("system")
    blocks = [*(request.get("tools") or []), *(system if isinstance(system, list) else [])]
    blocks += [b for m in request.get("messages") or [] if isinstance(m["content"], list) for b in m["content"]]
    return any(isinstance(b, dict) and "cache_control" in b for b in blocks)


def cache_verdict(payload: Any, usage: Any = None, *, previous: Any = None,
                  seconds_since: float | None = None) -> CacheVerdict:
    """Why ``payload`` (sent, with ``usage`` the API returned) read the cache or did not.

    ``previous`` is the conversation's request before it (a ``Payload``), ``seconds_since``
    the time between the two. Without ``usage`` it states the payload's own plan."""
    request = payload.request
    model = request["model"]
    minimum = catalog.get_model(model).min_cacheable_tokens
    if not _has_breakpoint(request):
        return CacheVerdict("off", "Caching is off: the request has no cache_control, so nothing is written or read.")
    total = payload.input_tokens
    if usage is None:
        plan = payload.cache
        if total < minimum:
            return CacheVerdict("below-minimum", f"Planned: nothing cached, since {total:,} tokens is below {model}'s "
                                f"minimum cacheable length ({minimum:,}).")
        return CacheVerdict("planned", f"Planned (not sent here): read {plan.expected_read:,} and write "
                            f"{plan.expected_write:,} of {total:,} input tokens, if the previous request of this "
                            "strategy was sent within the TTL.")
    read = _usage(usage, "cache_read_input_tokens")
    write = _usage(usage, "cache_creation_input_tokens")
    if previous is None:
        if read:
            return CacheVerdict("read", f"Read {read:,} of {total:,} input tokens from the cache (written earlier).")
        if total < minimum:
            return CacheVerdict("below-minimum", f"Nothing cached: {total:,} tokens is below {model}'s minimum "
                                f"cacheable length ({minimum:,}), so no cache entry is written.")
        return CacheVerdict("first", f"First request: nothing to read yet; it wrote {write:,} tokens "
                            "for the next request to read.")
    change = first_change(previous.request, request)
    at, where = change if change else (None, "")
    ttl = _ttl(previous.request)
    if not read and seconds_since is not None and seconds_since > TTL_SECONDS[ttl]:
        return CacheVerdict("expired", f"Missed: the TTL expired. The previous request was {seconds_since / 60:.0f} "
                            f"minutes earlier, over the {ttl} TTL.", at, where)
    if read and (change is None or read >= previous.input_tokens):
        return CacheVerdict("read", f"Read {read:,} of {total:,} input tokens ({read / total:.0%}) from the cache; "
                            f"wrote {write:,} new ones.", at, where)
    if read:
        return CacheVerdict("partial", f"Read {read:,} of {total:,} input tokens: the prefix changed at block "
                            f"{at} ({where}), so only the part before it came from the cache.", at, where)
    if previous.input_tokens < minimum:
        return CacheVerdict("below-minimum", f"Missed: the previous request ({previous.input_tokens:,} tokens) was "
                            f"below {model}'s minimum cacheable length ({minimum:,}), so nothing was cached "
                            "for this one to read.", at, where)
    if change is not None:
        return CacheVerdict("prefix-changed", f"Missed: the prefix changed at block {at} ({where}); the previous "
                            "request's cache entry no longer matches, and what comes before that block is too "
                            f"short to cache (under {minimum:,} tokens) or has no breakpoint.", at, where)
    return CacheVerdict("expired", f"Missed although the prefix is unchanged and long enough: the cache entry "
                        f"expired (its TTL is {ttl}) or was written to another cache.")
