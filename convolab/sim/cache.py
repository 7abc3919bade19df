"""The simulator's prompt cache, following Anthropic's prompt caching documentation
(https://platform.claude.com/docs/en/build-with-claude/prompt-caching):

- a breakpoint is a block with ``cache_control``; a top-level ``cache_control`` (automatic
  caching) puts one on the last cacheable block and counts toward the limit of 4;
- the cache key is the exact prefix up to a breakpoint (tools, then system, then messages);
- on each request the system looks for the longest cached prefix ending at a breakpoint or at
  the block boundaries before it, 20 positions in all counting the breakpoint itself (the
  lookback window: with earlier writes at blocks 10 and 15, a breakpoint at block 35 finds
  neither, since its window ends at block 16);
- the cache has three tiers, tools, system and messages; besides their content, request
  settings are part of the key of a tier and everything after it (``tier_salts``): ``speed``
  invalidates the system and messages tiers; ``tool_choice``, the ``thinking`` settings and
  ``effort`` the messages tier (the model's default effort counts as no effort given);
- everything from that hit to the last breakpoint is written (``cache_creation``), split by
  the TTL of each breakpoint; what follows the last breakpoint is ordinary input;
- a prefix shorter than the model's minimum cacheable length is not cached (no error);
- entries live 5 minutes or 1 hour and every hit refreshes them.

The cache belongs to one ``Simulator``: clients made from it share it; a new one starts cold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from convolab.sim.billing import Prompt, canonical

LOOKBACK_BLOCKS = 20  # positions checked per breakpoint, the breakpoint included
TTL_SECONDS = {"5m": 300, "1h": 3600}


def tier_salts(body: dict[str, Any], spec: Any) -> tuple[str, str]:
    """The request settings keyed into the cache: ``(system tier, messages tier)``. Values
    equivalent to leaving a setting out (``speed`` standard, ``tool_choice`` auto, the model's
    default effort) give the same key as leaving it out."""
    speed = body.get("speed") or "standard"
    system = "" if speed == "standard" else f"speed={speed}"
    choice = body.get("tool_choice") or {"type": "auto"}
    thinking = body.get("thinking")
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort == spec.default_effort:
        effort = None
    messages = "" if (choice == {"type": "auto"} and thinking is None and effort is None) else \
        f"{canonical(choice)}|{canonical(thinking)}|{effort}"
    return system, messages  # the hash chain carries the system tier's key into the messages tier


@dataclass
class CacheUsage:
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int

    @property
    def billed_input(self) -> int:
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


@dataclass
class _Entry:
    ttl: str
    expires: datetime


class PromptCache:
    """Entries keyed by prefix hash, with TTLs on an injected clock's time."""

    def __init__(self) -> None:
        self._entries: dict[bytes, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def _live(self, digest: bytes, now: datetime) -> _Entry | None:
        e = self._entries.get(digest)
        if e is None:
            return None
        if e.expires <= now:
            del self._entries[digest]
            return None
        return e

    @staticmethod
    def breakpoints(prompt: Prompt) -> list[tuple[int, str]]:
        """(unit index, ttl) of each breakpoint, in prompt order (automatic one included)."""
        bps = [(i, (u.cache_control or {}).get("ttl", "5m")) for i, u in enumerate(prompt.units) if u.cache_control]
        if prompt.automatic is not None:
            last = next((i for i in range(len(prompt.units) - 1, -1, -1) if prompt.units[i].cacheable), None)
            if last is not None and all(i != last for i, _ in bps):
                bps.append((last, prompt.automatic.get("ttl", "5m")))
        return sorted(bps)

    def apply(self, prompt: Prompt, now: datetime, min_cacheable: int, *, write: bool = True) -> CacheUsage:
        """Bill ``prompt`` against the cache at time ``now``; write entries unless ``write`` is False."""
        units = prompt.units
        bps = self.breakpoints(prompt)
        hit, hit_entry = -1, None
        for b, _ in bps:
            for p in range(b, max(-1, b - LOOKBACK_BLOCKS), -1):
                if p <= hit:
                    break
                e = self._live(units[p].digest, now)
                if e is not None:
                    hit, hit_entry = p, e
                    break
        read = units[hit].end_tokens if hit >= 0 else 0
        if hit_entry is not None and write:
            hit_entry.expires = now + timedelta(seconds=TTL_SECONDS[hit_entry.ttl])
        created = {"5m": 0, "1h": 0}
        mark = read
        for b, ttl in bps:
            if b <= hit or units[b].end_tokens < min_cacheable:
                continue
            created[ttl] += units[b].end_tokens - mark
            mark = units[b].end_tokens
            if write:
                self._entries[units[b].digest] = _Entry(ttl, now + timedelta(seconds=TTL_SECONDS[ttl]))
        creation = created["5m"] + created["1h"]
        return CacheUsage(prompt.total - read - creation, read, creation, created["5m"], created["1h"])
