"""What the simulated API accepts: request validation with the API's status codes and messages.

``validate(body, spec, endpoint)`` returns a ``Checked`` request (system as blocks, messages
with consecutive same-role messages merged as the API does silently) or raises ``ApiError``
carrying the HTTP status and the API's error type, which the server turns into the API's
error JSON, so the anthropic SDK raises the same exception class as against the real API
(400 ``invalid_request_error`` -> ``BadRequestError``, 404 ``not_found_error`` ->
``NotFoundError``). Each rule and its source is listed in ``docs/simulator.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_BREAKPOINTS = 4

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
NO_CACHE_CONTROL = {"thinking", "redacted_thinking"}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


class ApiError(Exception):
    """An error response: HTTP ``status``, API error ``type`` and ``message``."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


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
    if not text.strip():
        raise invalid(f"{where}: text content blocks must contain non-whitespace text"
                      if text else f"{where}: text content blocks must be non-empty")


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


THINKING_FEATURES = {"enabled": "extended_thinking_manual", "adaptive": "adaptive_thinking",
                     "between_tools": "thinking"}


def _check_thinking(thinking: Any, spec: Any, max_tokens: int) -> None:
    """The ``thinking`` configuration against the model's catalog features (the SDK's
    ``ThinkingConfigParam``; budget rule from its docstring: "Must be >=1024 and less than
    `max_tokens`")."""
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled", "adaptive", "between_tools"):
        raise invalid("thinking.type: Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'")
    if kind == "disabled":
        if spec.supports("thinking_always_on"):
            raise invalid(f"thinking: thinking cannot be disabled for {spec.id}")
        return
    if not spec.supports(THINKING_FEATURES[kind]):
        raise invalid(f"thinking.type: '{kind}' is not supported for {spec.id}")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise invalid("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= max_tokens:
            raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                          "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                          "#max-tokens-and-context-window-size")


@dataclass
class _MessageCheck:
    role: str
    blocks: list[dict[str, Any]]
    cache_controls: list[tuple[str, Any]]
    uses_tools: bool


def _check_message(i: int, m: Any, is_last: bool) -> _MessageCheck:
    """The rules that concern one message alone."""
    where = f"messages.{i}"
    if not isinstance(m, dict):
        raise invalid(f"{where}: Input should be a valid dictionary")
    role = m.get("role")
    if role not in ("user", "assistant"):
        raise invalid(f"{where}.role: Input should be 'user' or 'assistant'")
    extra = set(m) - {"role", "content"}
    if extra:
        raise invalid(f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted")
    if "content" not in m:
        raise invalid(f"{where}.content: Field required")
    blocks = _blocks(m["content"], where)
    is_final_assistant = is_last and role == "assistant"
    if not blocks or (isinstance(m["content"], str) and not m["content"] and not is_final_assistant):
        raise invalid(f"{where}: all messages must have non-empty content except for the optional "
                      "final assistant message")
    allowed_types = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    uses_tools = False
    ccs: list[tuple[str, Any]] = []
    for j, b in enumerate(blocks):
        bw = f"{where}.content.{j}"
        kind = b["type"]
        if kind not in allowed_types:
            expected = ", ".join(f"'{t}'" for t in sorted(allowed_types))
            raise invalid(f"{bw}: Input tag '{kind}' found using 'type' does not match any of the "
                          f"expected tags for a {role} message: {expected}")
        if kind == "text" and not (is_final_assistant and isinstance(m["content"], str)):
            _check_text(b, bw)
        if kind in ("tool_use", "tool_result"):
            uses_tools = True
        if kind == "tool_use" and not (isinstance(b.get("id"), str) and isinstance(b.get("name"), str)
                                       and isinstance(b.get("input"), dict)):
            raise invalid(f"{bw}: tool_use blocks need a string 'id', a string 'name' and an object 'input'")
        if kind == "tool_result" and not isinstance(b.get("tool_use_id"), str):
            raise invalid(f"{bw}.tool_use_id: Field required")
        if "cache_control" in b:
            if kind in NO_CACHE_CONTROL:
                raise invalid(f"{bw}.cache_control: cache_control cannot be set on {kind} blocks")
            ccs.append((bw, b["cache_control"]))
    return _MessageCheck(role, blocks, ccs, uses_tools)


def _starts_with_compaction(message: dict[str, Any]) -> bool:
    """A compaction block sent back first in ``messages`` (the beta ``compaction`` request's
    result, "which later requests send first in `messages`") may open the conversation."""
    return message["role"] == "assistant" and message["content"][0]["type"] == "compaction"


class ValidationMemo:
    """The previous request's messages and their per-message checks.

    Consecutive requests of a conversation repeat their history; messages equal to the
    previous request's (and not its last one, which may have been checked as a final
    assistant prefill) keep their earlier result instead of being checked again.
    """

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.results: list[_MessageCheck] = []

    def reusable(self, messages: list[Any]) -> int:
        limit = min(len(messages), len(self.messages) - 1)
        n = 0
        while n < limit and messages[n] == self.messages[n]:
            n += 1
        return n

    def remember(self, messages: list[Any], results: list[_MessageCheck]) -> None:
        self.messages, self.results = messages, results


def validate(body: Any, spec: Any, *, endpoint: str = "messages", beta: bool = False,
             memo: ValidationMemo | None = None) -> Checked:
    """Check ``body`` like ``POST /v1/messages`` (or ``count_tokens``) for the model ``spec``.

    ``spec`` is the catalog's ``ModelSpec`` (unknown models are rejected by the caller);
    ``memo`` (optional) skips re-checking messages equal to the previous request's.
    """
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    allowed = CREATE_FIELDS if endpoint == "messages" else COMMON_FIELDS
    for key in body:
        if key not in allowed or (key in BETA_FIELDS and not beta):
            raise invalid(f"{key}: Extra inputs are not permitted")

    if endpoint == "messages":
        mt = body.get("max_tokens")
        if mt is None:
            raise invalid("max_tokens: Field required")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 0:
            raise invalid("max_tokens: Input should be a valid non-negative integer")
        if mt > spec.max_output:
            raise invalid(f"max_tokens: {mt} > {spec.max_output}, which is the maximum allowed number "
                          f"of output tokens for {spec.id}")
        if body.get("thinking") is not None:
            _check_thinking(body["thinking"], spec, mt)
        for name, lo, hi in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
            v = body.get(name)
            if v is not None and not (isinstance(v, int | float) and lo <= v <= hi):
                raise invalid(f"{name}: Input should be between {lo} and {hi}")

    ttls: list[str] = []
    breakpoints = 0

    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    names: set[str] = set()
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

    tool_choice = body.get("tool_choice")
    if tool_choice is not None:
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

    system = body.get("system")
    if system is None or system == "":
        system_blocks: list[dict[str, Any]] = []
    elif isinstance(system, str):
        system_blocks = [{"type": "text", "text": system}]
    elif isinstance(system, list):
        system_blocks = system
        for j, b in enumerate(system):
            if not isinstance(b, dict) or b.get("type") != "text":
                raise invalid(f"system.{j}.type: Input should be 'text'")
            _check_text(b, f"system.{j}")
            breakpoints += _check_cache_control(b.get("cache_control"), f"system.{j}", ttls)
    else:
        raise invalid("system: Input should be a valid string or a list of text blocks")

    messages = body.get("messages")
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")

    merged: list[dict[str, Any]] = []
    runs = 0
    uses_tools = False
    reuse = memo.reusable(messages) if memo is not None else 0
    results: list[_MessageCheck] = []
    for i, m in enumerate(messages):
        checked_msg = memo.results[i] if i < reuse else _check_message(i, m, i == len(messages) - 1)
        results.append(checked_msg)
        role, blocks = checked_msg.role, checked_msg.blocks
        uses_tools = uses_tools or checked_msg.uses_tools
        for where, cc in checked_msg.cache_controls:
            breakpoints += _check_cache_control(cc, where, ttls)
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] = merged[-1]["content"] + list(blocks)
            merged[-1]["_sources"].append(i)
            merged[-1]["_tools"] = merged[-1]["_tools"] or checked_msg.uses_tools
            runs += 1
        else:
            merged.append({"role": role, "content": list(blocks), "_sources": [i], "_tools": checked_msg.uses_tools})
    if memo is not None:
        memo.remember(messages, results)

    if uses_tools and not tools:
        raise invalid("Requests which include `tool_use` or `tool_result` blocks must define tools.")
    if merged[0]["role"] != "user" and not _starts_with_compaction(merged[0]):
        raise invalid('messages: first message must use the "user" role')

    for k, m in enumerate(merged):
        if not m["_tools"] and (k == 0 or not merged[k - 1]["_tools"]):
            continue  # no tool block here, and no tool_use before it to answer
        where = f"messages.{m['_sources'][0]}"
        if m["role"] == "assistant":
            ids = [b["id"] for b in m["content"] if b["type"] == "tool_use"]
            if ids and k + 1 < len(merged):
                nxt = merged[k + 1]["content"]
                lead = []
                for b in nxt:
                    if b["type"] != "tool_result":
                        break
                    lead.append(b["tool_use_id"])
                missing = [t for t in ids if t not in lead]
                if missing:
                    raise invalid(f"{where}: `tool_use` ids were found without `tool_result` blocks immediately "
                                  f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                                  "`tool_result` block in the next message.")
        else:
            prev_ids = set()
            if k > 0:
                prev_ids = {b["id"] for b in merged[k - 1]["content"] if b["type"] == "tool_use"}
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

    last = merged[-1]
    if last["role"] == "assistant":
        if not spec.supports("prefill"):
            raise invalid(f"This model ({spec.id}) does not support assistant message prefill. "
                          "The conversation must end with a user message.")
        tail = last["content"][-1]
        if tail["type"] == "text" and tail.get("text", "") != tail.get("text", "").rstrip():
            raise invalid("messages: final assistant content cannot end with trailing whitespace")

    if body.get("cache_control") is not None:
        breakpoints += _check_cache_control(body["cache_control"], "cache_control", [*ttls])
    if breakpoints > MAX_BREAKPOINTS:
        raise invalid(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                      f"Found {breakpoints}.")

    for m in merged:
        del m["_sources"], m["_tools"]
    return Checked(body=body, system=system_blocks, messages=merged, tools=tools,
                   merged_runs=runs, breakpoints=breakpoints)
