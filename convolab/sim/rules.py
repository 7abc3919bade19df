"""What the simulated API accepts: request validation with the API's status codes and messages.

``validate(body, spec, endpoint)`` returns a ``Checked`` request (system as blocks, messages
with consecutive same-role messages merged as the API does silently) or raises ``ApiError``
(``convolab.sim.api_error``) carrying the HTTP status and the API's error type, which the server
turns into the API's error JSON, so the anthropic SDK raises the same exception class as against
the real API. Thinking, effort and sampling rules live in ``convolab.sim.thinking``. Each rule
and its source is listed in ``docs/simulator.md``.

``validate`` reads as the request does: top-level fields, tools and ``tool_choice``, system,
messages (each alone, memoized; then the conversation's shape: first message, tool pairs,
system messages, the final message), then cache breakpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from convolab.sim.api_error import ApiError, invalid
from convolab.sim.thinking import check_generation, thinking_on

__all__ = ["ApiError", "Checked", "ValidationMemo", "invalid", "validate"]

MAX_BREAKPOINTS = 4
MAX_MESSAGES = 100_000  # the messages reference: "There is a limit of 100,000 messages in a single request"

COMMON_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "cache_control", "thinking",
                 "metadata", "output_config", "service_tier", "speed", "inference_geo", "container",
                 "diagnostics", "user_profile_id", "workspace_id"}
# Body fields only the beta Messages API takes (anthropic 2.13: ``client.beta.messages.create``).
BETA_FIELDS = {"context_management", "compaction", "mcp_servers", "fallbacks", "fallback_credit_token",
               "thread", "billing_policy"}
COMMON_FIELDS |= BETA_FIELDS
CREATE_FIELDS = COMMON_FIELDS | {"max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k"}

USER_BLOCKS = {"text", "image", "document", "search_result", "tool_result", "container_upload"}
ASSISTANT_BLOCKS = {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use",
                    "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
                    "bash_code_execution_tool_result", "text_editor_code_execution_tool_result",
                    "tool_search_tool_result", "compaction"}
ALLOWED_BLOCKS = {"user": USER_BLOCKS, "assistant": ASSISTANT_BLOCKS, "system": {"text"}}
TEXT_KEYS = {"type", "text", "cache_control", "citations"}
IMAGE_SOURCES = {"base64": ("media_type", "data"), "url": ("url",), "file": ("file_id",)}
NO_CACHE_CONTROL = {"thinking", "redacted_thinking"}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


@dataclass
class Checked:
    """A validated request, normalized the way the API reads it."""

    body: dict[str, Any]
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]  # merged, content always a block list
    tools: list[dict[str, Any]]
    merged_runs: int = 0
    breakpoints: int = 0
    notes: list[str] = field(default_factory=list)


# ---- blocks -------------------------------------------------------------------------------
def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(f"{where}.content: Input should be a valid string or a valid list")
    for j, b in enumerate(content):
        if not isinstance(b, dict) or not isinstance(b.get("type"), str):
            raise invalid(f"{where}.content.{j}: Input should be a valid dictionary with a 'type'")
    return content


def _check_text(block: dict[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise invalid(f"{where}.text: Field required")
    extra = sorted(set(block) - TEXT_KEYS)
    if extra:
        raise invalid(f"{where}.{extra[0]}: Extra inputs are not permitted")
    if not text.strip():
        raise invalid(f"{where}: text content blocks must contain non-whitespace text"
                      if text else f"{where}: text content blocks must be non-empty")


def _check_image(block: dict[str, Any], where: str) -> None:
    """An image needs a source with its data: base64 ``media_type`` and ``data``, a ``url``,
    or a ``file_id``."""
    src = block.get("source")
    kind = src.get("type") if isinstance(src, dict) else None
    if kind not in IMAGE_SOURCES:
        raise invalid(f"{where}.source: Field required (an object with type 'base64', 'url' or 'file')")
    for key in IMAGE_SOURCES[kind]:
        if not isinstance(src.get(key), str) or not src[key]:
            raise invalid(f"{where}.source.{kind}.{key}: Field required")


def _check_block(b: dict[str, Any], kind: str, bw: str, final_prefill: bool) -> None:
    if kind == "text" and not final_prefill:
        _check_text(b, bw)
    elif kind == "image":
        _check_image(b, bw)
    elif kind == "tool_use" and not (isinstance(b.get("id"), str) and isinstance(b.get("name"), str)
                                     and isinstance(b.get("input"), dict)):
        raise invalid(f"{bw}: tool_use blocks need a string 'id', a string 'name' and an object 'input'")
    elif kind == "tool_result" and not isinstance(b.get("tool_use_id"), str):
        raise invalid(f"{bw}.tool_use_id: Field required")


def _check_cache_control(cc: Any, where: str, ttls: list[str]) -> int:
    if cc is None:
        return 0
    if not isinstance(cc, dict) or cc.get("type") != "ephemeral":
        raise invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
    ttl = cc.get("ttl", "5m")
    if ttl not in ("5m", "1h"):
        raise invalid(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    if ttl == "1h" and "5m" in ttls:
        raise invalid(f"{where}.cache_control: a ttl='1h' cache_control block must not come after "
                      "a ttl='5m' cache_control block; put longer-lived breakpoints first")
    ttls.append(ttl)
    return 1


# ---- one message --------------------------------------------------------------------------
@dataclass
class _MessageCheck:
    role: str
    blocks: list[dict[str, Any]]
    cache_controls: list[tuple[str, Any]]
    uses_tools: bool


def _check_message(i: int, m: Any, is_last: bool) -> _MessageCheck:
    """The rules that concern one message alone (not the model: those are checked by the caller)."""
    where = f"messages.{i}"
    if not isinstance(m, dict):
        raise invalid(f"{where}: Input should be a valid dictionary")
    role = m.get("role")
    if role not in ALLOWED_BLOCKS:
        raise invalid(f"{where}.role: Input should be 'user', 'assistant' or 'system'")
    extra = set(m) - {"role", "content"}
    if extra:
        raise invalid(f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted")
    if "content" not in m:
        raise invalid(f"{where}.content: Field required")
    blocks = _blocks(m["content"], where)
    final_prefill = is_last and role == "assistant" and isinstance(m["content"], str)
    if not blocks or (isinstance(m["content"], str) and not m["content"] and not (is_last and role == "assistant")):
        raise invalid(f"{where}: all messages must have non-empty content except for the optional "
                      "final assistant message")
    allowed = ALLOWED_BLOCKS[role]
    uses_tools, ccs = False, []
    for j, b in enumerate(blocks):
        bw, kind = f"{where}.content.{j}", b["type"]
        if kind not in allowed:
            expected = ", ".join(f"'{t}'" for t in sorted(allowed))
            raise invalid(f"{bw}: Input tag '{kind}' found using 'type' does not match any of the "
                          f"expected tags for a {role} message: {expected}")
        _check_block(b, kind, bw, final_prefill)
        uses_tools = uses_tools or kind in ("tool_use", "tool_result")
        if "cache_control" in b:
            if kind in NO_CACHE_CONTROL:
                raise invalid(f"{bw}.cache_control: cache_control cannot be set on {kind} blocks")
            ccs.append((bw, b["cache_control"]))
    return _MessageCheck(role, blocks, ccs, uses_tools)


@dataclass
class _Entry:
    """One merged message (as the request's ``Checked.messages`` holds it: never changed once
    made, so a later request may hand out the same dict), where it came from, and what the
    checks up to it added up to."""

    message: dict[str, Any]
    sources: tuple[int, ...]
    tools: bool
    ttls: int  # ttls collected (tools' and system's first) up to and including this message
    breakpoints: int  # message breakpoints up to and including it
    uses_tools: bool  # any tool block up to and including it
    system: bool  # any system message up to and including it


class ValidationMemo:
    """The previous request's messages, their per-message checks and merged messages.

    Consecutive requests of a conversation repeat their history; messages equal to the
    previous request's (and not its last one, which may have been checked as a final
    assistant prefill) keep their earlier result instead of being checked again, and the
    merged messages made only of such messages (and followed by one) are taken over whole.
    """

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.results: list[_MessageCheck] = []
        self.entries: list[_Entry] = []
        self.base_ttls: list[str] = []  # the tools' and system's ttls, before the messages'
        self.ttls: list[str] = []

    def reusable(self, messages: list[Any]) -> int:
        limit = min(len(messages), len(self.messages) - 1)
        n = 0
        while n < limit and messages[n] == self.messages[n]:
            n += 1
        return n

    def remember(self, messages: list[Any], results: list[_MessageCheck], entries: list[_Entry],
                 base_ttls: list[str], ttls: list[str]) -> None:
        self.messages, self.results, self.entries = messages, results, entries
        self.base_ttls, self.ttls = base_ttls, ttls


# ---- the request --------------------------------------------------------------------------
def validate(body: Any, spec: Any, *, endpoint: str = "messages", beta: bool = False,
             betas: frozenset[str] = frozenset(), memo: ValidationMemo | None = None) -> Checked:
    """Check ``body`` like ``POST /v1/messages`` (or ``count_tokens``) for the model ``spec``.

    ``spec`` is the catalog's ``ModelSpec`` (unknown models are rejected by the caller);
    ``betas`` are the request's ``anthropic-beta`` values (``beta``: any were given);
    ``memo`` (optional) skips re-checking messages equal to the previous request's.
    """
    max_tokens = _check_fields(body, spec, endpoint, beta)
    check_generation(body, spec, max_tokens, betas)
    ttls: list[str] = []
    tools, names, breakpoints = _check_tools(body.get("tools"), ttls)
    _check_tool_choice(body, tools, names, spec)
    system, system_bps = _system_blocks(body.get("system"), ttls)
    merged, runs, uses_tools, message_bps = _merge(_message_list(body), spec, memo, ttls)
    if uses_tools and not tools:
        raise invalid("Requests which include `tool_use` or `tool_result` blocks must define tools.")
    _check_order(merged)
    _check_tool_pairs(merged)
    _check_final(merged, spec, body)
    breakpoints += system_bps + message_bps + _check_automatic_cache(body, merged, system, tools, ttls)
    if breakpoints > MAX_BREAKPOINTS:
        raise invalid(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                      f"Found {breakpoints}.")
    return Checked(body=body, system=system, messages=[e.message for e in merged], tools=tools, merged_runs=runs,
                   breakpoints=breakpoints)


def _check_fields(body: Any, spec: Any, endpoint: str, beta: bool) -> int | None:
    """Known top-level fields, and ``max_tokens`` on ``/v1/messages`` (returned)."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    allowed = CREATE_FIELDS if endpoint == "messages" else COMMON_FIELDS
    for key in body:
        if key not in allowed or (key in BETA_FIELDS and not beta):
            raise invalid(f"{key}: Extra inputs are not permitted")
    if endpoint != "messages":
        return None
    mt = body.get("max_tokens")
    if mt is None:
        raise invalid("max_tokens: Field required")
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 0:
        raise invalid("max_tokens: Input should be a valid non-negative integer")
    if mt > spec.max_output:
        raise invalid(f"max_tokens: {mt} > {spec.max_output}, which is the maximum allowed number "
                      f"of output tokens for {spec.id}")
    if mt == 0:
        _check_prewarm(body)
    return mt


def _check_prewarm(body: dict[str, Any]) -> None:
    """``max_tokens: 0`` fills the prompt cache without generating (prompt caching, "Pre-warming
    the cache"); the combinations that page lists are refused."""
    refused = [("stream", body.get("stream") is True),
               ("thinking", (body.get("thinking") or {}).get("type") == "enabled"),
               ("output_config.format", bool((body.get("output_config") or {}).get("format"))),
               ("tool_choice", (body.get("tool_choice") or {}).get("type") in ("any", "tool"))]
    for name, hit in refused:
        if hit:
            raise invalid(f"max_tokens: 0 (cache pre-warming) cannot be combined with {name}")


def _check_tools(tools: Any, ttls: list[str]) -> tuple[list[dict[str, Any]], set[str], int]:
    tools = tools or []
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    names: set[str] = set()
    breakpoints = 0
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid(f"tools.{i}: Input should be a valid dictionary")
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise invalid(f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if name in names:
            raise invalid(f"tools: Tool names must be unique; {name!r} appears more than once")
        names.add(name)
        if tool.get("type") in (None, "custom"):
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise invalid(f"tools.{i}.input_schema: Input should be a JSON Schema object with type 'object'")
        breakpoints += _check_cache_control(tool.get("cache_control"), f"tools.{i}", ttls)
    return tools, names, breakpoints


def _check_tool_choice(body: dict[str, Any], tools: list[dict[str, Any]], names: set[str], spec: Any) -> None:
    tool_choice = body.get("tool_choice")
    if tool_choice is None:
        return
    kind = tool_choice.get("type") if isinstance(tool_choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if not tools and kind != "none":
        raise invalid("tool_choice: tool_choice may only be specified while providing tools")
    if kind == "tool" and tool_choice.get("name") not in names:
        raise invalid(f"tool_choice.name: no tool named {tool_choice.get('name')!r} in tools")
    if kind in ("any", "tool") and not spec.supports("forced_tool_choice"):
        raise invalid(f"tool_choice: forced tool use (type '{kind}') is not supported by {spec.id}; "
                      "use tool_choice {'type': 'auto'} and describe the tool in the prompt")
    if kind in ("any", "tool") and thinking_on(body):
        raise invalid("Thinking may not be enabled when tool_choice forces tool use. Use tool_choice "
                      "{'type': 'auto'} or 'none', or turn thinking off for this request.")


def _system_blocks(system: Any, ttls: list[str]) -> tuple[list[dict[str, Any]], int]:
    if system is None or system == "":
        return [], 0
    if isinstance(system, str):
        return [{"type": "text", "text": system}], 0
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or a list of text blocks")
    breakpoints = 0
    for j, b in enumerate(system):
        if not isinstance(b, dict) or b.get("type") != "text":
            raise invalid(f"system.{j}.type: Input should be 'text'")
        _check_text(b, f"system.{j}")
        breakpoints += _check_cache_control(b.get("cache_control"), f"system.{j}", ttls)
    return system, breakpoints


def _message_list(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    if len(messages) > MAX_MESSAGES:
        raise invalid(f"messages: a request may hold at most {MAX_MESSAGES:,} messages; found {len(messages):,}")
    return messages


def _merge(messages: list[Any], spec: Any, memo: ValidationMemo | None,
           ttls: list[str]) -> tuple[list[_Entry], int, bool, int]:
    """Check each message (reusing ``memo``) and merge consecutive same-role messages."""
    entries: list[_Entry] = []
    runs, uses_tools, breakpoints, system = 0, False, 0, False
    reuse = memo.reusable(messages) if memo is not None else 0
    results: list[_MessageCheck] = []
    start, base_ttls = 0, list(ttls)
    if reuse and memo is not None and ttls == memo.base_ttls:  # take over the merged messages the prefix completes
        keep = _complete_entries(memo.entries, reuse, spec)
        if keep:
            entries = memo.entries[:keep]
            last = entries[-1]
            start = last.sources[-1] + 1
            runs = start - keep
            results = memo.results[:start]
            ttls[:] = memo.ttls[:last.ttls]
            uses_tools, breakpoints, system = last.uses_tools, last.breakpoints, last.system
    for i in range(start, len(messages)):
        m = messages[i]
        if isinstance(m, dict) and m.get("role") == "system" and not spec.supports("system_messages"):
            raise invalid(f"messages.{i}.role: role 'system' is not supported on this model ({spec.id}); "
                          "put the instruction in the top-level system prompt or a user message")
        checked = memo.results[i] if i < reuse else _check_message(i, m, i == len(messages) - 1)
        results.append(checked)
        uses_tools = uses_tools or checked.uses_tools
        system = system or checked.role == "system"
        for where, cc in checked.cache_controls:
            breakpoints += _check_cache_control(cc, where, ttls)
        if entries and entries[-1].message["role"] == checked.role:
            prev = entries[-1]
            message = {"role": checked.role, "content": [*prev.message["content"], *checked.blocks]}
            runs += 1
            entries[-1] = _Entry(message, (*prev.sources, i), prev.tools or checked.uses_tools, len(ttls),
                                 breakpoints, uses_tools, system)
        else:
            message = {"role": checked.role, "content": list(checked.blocks)}
            entries.append(_Entry(message, (i,), checked.uses_tools, len(ttls), breakpoints, uses_tools, system))
    if memo is not None:
        memo.remember(messages, results, entries, base_ttls, list(ttls))
    return entries, runs, uses_tools, breakpoints


def _complete_entries(entries: list[_Entry], reuse: int, spec: Any) -> int:
    """How many of the previous request's merged messages are made of its first ``reuse``
    messages and followed by one of them (so that no later message could join them)."""
    lo, hi = 0, len(entries)
    while lo < hi:  # entries' last sources ascend: the first one ending at reuse - 1 or later
        mid = (lo + hi) // 2
        if entries[mid].sources[-1] < reuse - 1:
            lo = mid + 1
        else:
            hi = mid
    if lo and entries[lo - 1].system and not spec.supports("system_messages"):
        return 0  # a system message this model refuses: check message by message, to name it
    return lo


def _starts_with_compaction(message: dict[str, Any]) -> bool:
    """A compaction block sent back first in ``messages`` (the beta ``compaction`` request's
    result, "which later requests send first in `messages`") may open the conversation."""
    return message["role"] == "assistant" and message["content"][0]["type"] == "compaction"


def _check_order(merged: list[_Entry]) -> None:
    """The first message is the user's; a system message follows a user message (or an
    assistant turn ending in server tool use) and is last or followed by the assistant."""
    first = merged[0].message
    if first["role"] == "system":
        raise invalid("messages.0: a system message cannot open the conversation; put the initial "
                      "instructions in the top-level system field")
    if first["role"] != "user" and not _starts_with_compaction(first):
        raise invalid('messages: first message must use the "user" role')
    for k, e in enumerate(merged):
        if e.message["role"] != "system":
            continue
        prev = merged[k - 1].message
        after_user = prev["role"] == "user" or prev["content"][-1]["type"] == "server_tool_use"
        if not after_user or (k + 1 < len(merged) and merged[k + 1].message["role"] != "assistant"):
            raise invalid(f"messages.{e.sources[0]}: a system message must follow a user message and be "
                          "the last message or be followed by an assistant message")


def _check_tool_pairs(merged: list[_Entry]) -> None:
    """Each ``tool_use`` answered first thing in the next user message, each ``tool_result``
    answering a ``tool_use`` of the previous assistant message."""
    for k, e in enumerate(merged):
        if not e.tools and (k == 0 or not merged[k - 1].tools):
            continue  # no tool block here, and no tool_use before it to answer
        m, where = e.message, f"messages.{e.sources[0]}"
        if m["role"] == "assistant":
            ids = [b["id"] for b in m["content"] if b["type"] == "tool_use"]
            if ids and k + 1 < len(merged):
                lead = []
                for b in merged[k + 1].message["content"]:
                    if b["type"] != "tool_result":
                        break
                    lead.append(b["tool_use_id"])
                missing = [t for t in ids if t not in lead]
                if missing:
                    raise invalid(f"{where}: `tool_use` ids were found without `tool_result` blocks immediately "
                                  f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                                  "`tool_result` block in the next message.")
        elif m["role"] == "user":
            _check_results(m, merged[k - 1].message if k > 0 else None, where)


def _check_results(m: dict[str, Any], prev: dict[str, Any] | None, where: str) -> None:
    prev_ids = {b["id"] for b in prev["content"] if b["type"] == "tool_use"} if prev else set()
    seen_other = False
    for j, b in enumerate(m["content"]):
        if b["type"] != "tool_result":
            seen_other = True
            continue
        if b["tool_use_id"] not in prev_ids:
            raise invalid(f"{where}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                          f"{b['tool_use_id']}. Each `tool_result` block must have a corresponding "
                          "`tool_use` block in the previous message.")
        if seen_other:
            raise invalid(f"{where}.content.{j}: `tool_result` blocks must come first in the user "
                          "message, before any other content")


def _check_final(merged: list[_Entry], spec: Any, body: dict[str, Any]) -> None:
    """A final assistant message (prefill): only on models that take it, without trailing
    whitespace, and not with thinking on (thinking has to come first in a reply)."""
    last = merged[-1].message
    if last["role"] != "assistant":
        return
    where = f"messages.{merged[-1].sources[0]}"
    if not spec.supports("prefill"):
        raise invalid(f"This model ({spec.id}) does not support assistant message prefill. "
                      "The conversation must end with a user message.")
    if thinking_on(body) and last["content"][0]["type"] not in ("thinking", "redacted_thinking"):
        raise invalid(f"{where}.content.0: When `thinking` is enabled, a final `assistant` message must start "
                      "with a thinking block; prefilling a reply is not possible with thinking on (end with "
                      "a user message, or turn thinking off)")
    tail = last["content"][-1]
    if tail["type"] == "text" and tail.get("text", "") != tail.get("text", "").rstrip():
        raise invalid("messages: final assistant content cannot end with trailing whitespace")


def _last_cacheable(merged: list[_Entry], system: list[dict[str, Any]],
                    tools: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """Where automatic caching puts its breakpoint: the last block that can carry one."""
    for e in reversed(merged):
        content = e.message["content"]
        for j in range(len(content) - 1, -1, -1):
            if content[j]["type"] not in NO_CACHE_CONTROL:
                return f"messages.{e.sources[0]}.content.{j}", content[j]
    if system:
        return f"system.{len(system) - 1}", system[-1]
    if tools:
        return f"tools.{len(tools) - 1}", tools[-1]
    return None


def _check_automatic_cache(body: dict[str, Any], merged: list[_Entry], system: list[dict[str, Any]],
                           tools: list[dict[str, Any]], ttls: list[str]) -> int:
    """The top-level ``cache_control`` (automatic caching) takes one of the 4 slots, unless the
    last cacheable block already carries an explicit one with the same TTL (a no-op); with a
    different TTL the request is refused (prompt caching, "Automatic caching")."""
    auto = body.get("cache_control")
    if auto is None:
        return 0
    counted = _check_cache_control(auto, "cache_control", [*ttls])
    target = _last_cacheable(merged, system, tools)
    explicit = target[1].get("cache_control") if target else None
    if explicit is None:
        return counted
    ttl, block_ttl = auto.get("ttl", "5m"), explicit.get("ttl", "5m")
    if ttl != block_ttl:
        raise invalid(f"cache_control: the top-level cache_control has ttl {ttl!r} but the last cacheable "
                      f"block ({target[0]}) sets ttl {block_ttl!r}; use the same ttl or drop one of them")
    return 0
