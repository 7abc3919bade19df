"""How the simulator bills input: a request flattened into cacheable units with token counts.

The prompt is read in the API's cache order: tools, then system, then messages. Each tool
definition, system block and message content block is one *unit*; a unit carries its token
count, a hash chained over every unit before it (so equal hashes mean equal prefixes), and
its ``cache_control``. Billing is additive, which lets ``SimTokenCounter`` count parts of a
request locally and get the same total the simulator bills:

    total = REQUEST_OVERHEAD + tools (the model's tool-use prompt + each definition)
            + system blocks + for each message: MESSAGE_OVERHEAD + its blocks

The tool-use prompt's size is the model's, per ``tool_choice``, from the catalog
(``ModelSpec.tool_prompt``). The prefix hash also carries the request settings the cache is
keyed on beyond the content (``cache.tier_salts``): a change of them invalidates the system or
messages part of the cache, as the prompt caching page's invalidation table says.

Unit token counts and canonical JSON are memoized by content, so unchanged history is never
re-tokenized from one request to the next.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from convolab.sim.tokenizer import Tokenizer

# Framing. The token counting page (https://platform.claude.com/docs/en/build-with-claude/token-counting)
# counts system "You are a scientist" + user "Hello, Claude" as 14 on claude-opus-4-8; this gives
# 18 (11 text + 4 + 3). A request framing of 1 would match, but 4 is kept so published figures
# (README) stay as they are; the difference is a constant 3 tokens per request.
REQUEST_OVERHEAD = 4  # framing every request carries
MESSAGE_OVERHEAD = 3  # role marker and separators per message
TOOL_USE_OVERHEAD = 8  # framing of a tool_use block, besides its name and input JSON
TOOL_RESULT_OVERHEAD = 5  # framing of a tool_result block, besides its content
IMAGE_FALLBACK_TOKENS = 1600  # a ~1.15 megapixel image (width * height / 750), when size is unknown
DOCUMENT_FALLBACK_TOKENS = 1500


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def unit_key(block: dict[str, Any]) -> str:
    """A string equal for equal content (``cache_control`` ignored): the text itself for a
    plain text block (the common case, and no JSON encoding), canonical JSON otherwise."""
    n = len(block)
    if (block.get("type") == "text" and (n == 2 or (n == 3 and "cache_control" in block))
            and isinstance(block.get("text"), str)):
        return "\x01" + block["text"]
    return canonical(strip_cache_control(block))


def strip_cache_control(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"} if "cache_control" in block else block


class _Memo:
    """A bounded memo: canonical JSON of a unit -> token count."""

    def __init__(self, size: int = 200_000):
        self.size = size
        self.data: OrderedDict[tuple[str, str], int] = OrderedDict()

    def get(self, key: tuple[str, str]) -> int | None:
        return self.data.get(key)

    def put(self, key: tuple[str, str], value: int) -> None:
        self.data[key] = value
        if len(self.data) > self.size:
            self.data.popitem(last=False)


_MEMO = _Memo()


def content_tokens(tok: Tokenizer, content: Any) -> int:
    """Tokens of a tool_result's ``content`` (string or blocks)."""
    if content is None:
        return 0
    if isinstance(content, str):
        return tok.count(content)
    return sum(block_tokens(tok, b) for b in content if isinstance(b, dict))


def block_tokens(tok: Tokenizer, block: dict[str, Any]) -> int:
    """Tokens one content block bills (without message framing)."""
    kind = block.get("type")
    if kind == "text":
        return tok.count(block.get("text", ""))
    if kind == "tool_use" or kind == "server_tool_use":
        return TOOL_USE_OVERHEAD + tok.count(block.get("name", "")) + tok.count(canonical(block.get("input", {})))
    if kind == "tool_result":
        return TOOL_RESULT_OVERHEAD + content_tokens(tok, block.get("content"))
    if kind == "thinking":
        return tok.count(block.get("thinking", ""))
    if kind == "redacted_thinking":
        return max(1, len(block.get("data", "")) // 16)
    if kind == "image":
        src = block.get("source", {})
        w, h = src.get("width"), src.get("height")
        return int(w * h / 750) if isinstance(w, int) and isinstance(h, int) else IMAGE_FALLBACK_TOKENS
    if kind == "document":
        src = block.get("source", {})
        if src.get("type") == "text":
            return tok.count(src.get("data", ""))
        return DOCUMENT_FALLBACK_TOKENS
    if kind == "compaction":
        return tok.count(block.get("content") or "")
    return tok.count(canonical(strip_cache_control(block)))


def tool_tokens(tok: Tokenizer, tool: dict[str, Any]) -> int:
    return tok.count(canonical(strip_cache_control(tool)))


@dataclass
class Unit:
    """One cacheable piece of the prompt, in cache order."""

    where: str  # "tools.0", "system.1", "messages.3.content.0"
    tokens: int
    end_tokens: int  # cumulative tokens up to and including this unit
    digest: bytes  # hash of the whole prefix ending with this unit
    cache_control: dict[str, Any] | None
    cacheable: bool = True  # thinking blocks cannot end a cached prefix


@dataclass
class Prompt:
    """A request's input, flattened: its units and its billed total."""

    units: list[Unit]
    total: int
    automatic: dict[str, Any] | None  # top-level cache_control, if any
    message_ends: list[int]  # number of units up to the end of each message


def _unit_tokens(tok: Tokenizer, kind: str, obj: dict[str, Any], canon: str) -> int:
    key = (tok.generation, canon)
    n = _MEMO.get(key)
    if n is None:
        n = tool_tokens(tok, obj) if kind == "tool" else block_tokens(tok, obj)
        _MEMO.put(key, n)
    return n


def _salt(h: bytes, tier: str, salt: str) -> bytes:
    return hashlib.blake2b(h + f"\x02{tier}:{salt}".encode(), digest_size=16).digest()


def flatten(model: str, tok: Tokenizer, *, tools: list[dict[str, Any]], system: list[dict[str, Any]],
            messages: list[dict[str, Any]], tool_prompt: int = 0, cache_control: dict[str, Any] | None = None,
            salts: tuple[str, str] = ("", ""), resume: Prompt | None = None, resume_messages: int = 0) -> Prompt:
    """Flatten a validated request into units (see the module docstring).

    ``tool_prompt`` is the tokens of the hidden tool-use prompt (billed when ``tools`` are
    given); ``salts`` the (system, messages) cache-tier keys of the request's settings.
    ``resume`` is an earlier prompt of the same model, tools, system and salts whose first
    ``resume_messages`` messages equal this request's: their units are reused, so a
    conversation's unchanged history costs nothing to flatten again.
    """
    units: list[Unit] = []
    message_ends: list[int] = []
    h = hashlib.blake2b(f"{model}|{tok.generation}".encode(), digest_size=16).digest()
    total = REQUEST_OVERHEAD + (tool_prompt if tools else 0)
    first_message = 0
    if resume is not None and resume_messages > 0:
        end = resume.message_ends[resume_messages - 1]
        units = resume.units[:end]
        message_ends = resume.message_ends[:resume_messages]
        h, total = units[-1].digest, units[-1].end_tokens
        first_message = resume_messages

    def add(where: str, kind: str, obj: dict[str, Any], extra: int, prefix: str = "") -> None:
        nonlocal h, total
        canon = unit_key(obj)
        n = _unit_tokens(tok, kind, obj, canon) + extra
        total += n
        h = hashlib.blake2b(h + (prefix + canon).encode(), digest_size=16).digest()
        units.append(Unit(where, n, total, h, obj.get("cache_control"),
                          obj.get("type") not in ("thinking", "redacted_thinking")))

    if not first_message:
        for i, tool in enumerate(tools):
            add(f"tools.{i}", "tool", tool, 0)
        h = _salt(h, "system", salts[0])
        for i, block in enumerate(system):
            add(f"system.{i}", "block", block, 0)
        h = _salt(h, "messages", salts[1])
    for i in range(first_message, len(messages)):
        m = messages[i]
        for j, block in enumerate(m["content"]):
            first = j == 0
            add(f"messages.{i}.content.{j}", "block", block, MESSAGE_OVERHEAD if first else 0,
                prefix=f"{m['role']}:" if first else "")
        message_ends.append(len(units))
    return Prompt(units, total, cache_control, message_ends)
