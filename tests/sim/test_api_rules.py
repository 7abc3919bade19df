"""The API rules of the current docs (issue "The API as documented today"), each through the real
anthropic SDK: cache lookback and invalidation, the tool-use prompt, the window stop, compaction
counts, thinking/effort/sampling, system messages, earlier thinking, clear_thinking, limits and
the strictness gaps. Sources and dates: docs/simulator.md."""

from __future__ import annotations

from datetime import UTC, datetime

import anthropic
import pytest

from convolab.sim import ManualClock, SimTokenCounter, Simulator
from convolab.sim.responder import Reply


def reads_system(request: dict) -> Reply:
    """Repeats the last message's text and, in brackets, the system text it was given."""
    texts = [b.get("text", "") for b in request["messages"][-1]["content"] if b["type"] == "text"]
    system = " ".join(b["text"] for b in request.get("system") or [])
    return Reply([{"type": "text", "text": f"You said: {' '.join(texts)} [{system}]"}])


def user(content) -> dict:
    return {"role": "user", "content": content}


def big(word: str, n: int = 1500) -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def cached(text: str, ttl: str = "5m") -> dict:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}


# ---- 1. lookback: 20 positions, the breakpoint counted --------------------------------------
def blocks_marked(marks: set[int], n: int = 36) -> list[dict]:
    out = [{"type": "text", "text": big("fact") if k == 0 else f"note {k}"} for k in range(n)]
    for k in marks:
        out[k]["cache_control"] = {"type": "ephemeral"}
    return out


def test_lookback_is_20_positions_counting_the_breakpoint(client: anthropic.Anthropic):
    """The docs' example: writes at blocks 10 and 15; a breakpoint at block 35 looks back to
    block 16 and finds neither; one at block 34 reaches block 15."""
    first = client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[user(blocks_marked({10, 15}))])
    assert first.usage.cache_creation_input_tokens > 0
    miss = client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[user(blocks_marked({35}))])
    assert miss.usage.cache_read_input_tokens == 0
    hit = client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[user(blocks_marked({34}))])
    assert hit.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


# ---- 2. what invalidates which tier ---------------------------------------------------------
TOOL = {"name": "lookup", "description": big("Describe", 700), "input_schema": {"type": "object"},
        "cache_control": {"type": "ephemeral"}}


def tiered(**extra) -> dict:
    return {"model": "claude-sonnet-4-6", "max_tokens": 10, "tools": [TOOL],
            "system": [cached(big("rule"))], "messages": [user([cached(big("fact"))])], **extra}


def written(**body) -> int:
    """Tokens a cold simulator writes for ``body`` (the prefix up to its last breakpoint)."""
    client = Simulator(clock=ManualClock(), responder=lambda r: Reply([{"type": "text", "text": "ok"}])).client()
    return client.messages.create(**{**tiered(), "messages": [user("x")], **body}).usage.cache_creation_input_tokens


@pytest.mark.parametrize(("change", "kept"), [
    ({"tool_choice": {"type": "none"}}, "system"),
    ({"thinking": {"type": "adaptive"}}, "system"),
    ({"output_config": {"effort": "low"}}, "system"),
    ({"speed": "fast"}, "tools"),
    ({"output_config": {"effort": "high"}}, "messages"),  # the model's default effort: nothing changes
    ({"tool_choice": {"type": "auto"}}, "messages"),      # the default choice, said out loud
])
def test_request_settings_invalidate_their_tier_and_below(client: anthropic.Anthropic, change: dict, kept: str):
    first = client.messages.create(**tiered()).usage.cache_creation_input_tokens
    ends = {"tools": written(system=None), "system": written(), "messages": first}
    assert ends["tools"] < ends["system"] < ends["messages"]
    assert client.messages.create(**tiered(**change)).usage.cache_read_input_tokens == ends[kept]


# ---- 3. automatic caching and an explicit TTL on the last block -----------------------------
def test_automatic_caching_with_another_ttl_on_the_last_block_is_refused(client: anthropic.Anthropic):
    msgs = [user([cached(big("fact"), ttl="1h")])]
    with pytest.raises(anthropic.BadRequestError, match="last cacheable block"):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=msgs,
                               cache_control={"type": "ephemeral"})
    same = client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=msgs,
                                  cache_control={"type": "ephemeral", "ttl": "1h"})
    assert same.usage.cache_creation.ephemeral_1h_input_tokens > 0
    # the same TTL makes automatic caching a no-op: 4 explicit breakpoints plus it are not 5
    four = [user([cached(f"part {k}", ttl="1h") for k in range(4)])]
    client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=four,
                           cache_control={"type": "ephemeral", "ttl": "1h"})


# ---- 4. the tool-use prompt per model and tool_choice ---------------------------------------
def tool(name: str) -> dict:
    return {"name": name, "description": "Look a thing up", "input_schema": {"type": "object"}}


@pytest.mark.parametrize(("model", "auto", "forced"), [
    ("claude-sonnet-4-6", 497, 589), ("claude-opus-4-7", 675, 804), ("claude-opus-5", 286, 406),
    ("claude-haiku-4-5", 496, 588)])
def test_the_tool_prompt_is_the_models_and_forced_costs_more(sim: Simulator, model: str, auto: int, forced: int):
    def count(tools: list, choice: dict | None = None) -> int:
        return sim.count({"model": model, "messages": [user("hi")], "tools": tools,
                          **({"tool_choice": choice} if choice else {})})

    one, two = count([tool("aa")]), count([tool("aa"), tool("bb")])
    assert 2 * one - two - count([]) == auto  # the prompt, once the definitions' own tokens are taken out
    assert count([tool("aa")], {"type": "tool", "name": "aa"}) - one == forced - auto
    assert count([tool("aa")], {"type": "none"}) == one
    counter = SimTokenCounter()
    assert counter.count_tools([tool("aa")], model=model, tool_choice={"type": "any"}) - counter.count_tools(
        [tool("aa")], model=model) == forced - auto


# ---- 5. input + max_tokens over the window -------------------------------------------------
def test_from_claude_4_5_a_reply_stops_at_the_window(client: anthropic.Anthropic, sim: Simulator):
    n = sim.count({"model": "claude-haiku-4-5", "messages": [user("lorem " * 10)]})
    messages = [user("lorem " * (200_000 - n - 100))]
    total = sim.count({"model": "claude-haiku-4-5", "messages": messages})
    r = client.messages.create(model="claude-haiku-4-5", max_tokens=5000, messages=messages)
    assert r.stop_reason == "model_context_window_exceeded"
    assert r.usage.output_tokens <= 200_000 - total < 5000
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[user("lorem " * 200_500)])


# ---- 6. compaction: counted as billed, iterations on every response ------------------------
COMPACT = ["compact-2026-01-12"]


def test_count_tokens_applies_a_compaction_block_and_responses_carry_iterations(client: anthropic.Anthropic):
    history = [user(big("old")), {"role": "assistant", "content": big("said")}, user("and then?"),
               {"role": "assistant", "content": [{"type": "compaction", "content": "We spoke of Lisbon."}]},
               user("What now?")]
    counted = client.beta.messages.count_tokens(model="claude-sonnet-4-6", messages=history, betas=COMPACT)
    r = client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=history, betas=COMPACT)
    u = r.usage
    assert counted.input_tokens == u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens < 100
    assert [(i.type, i.input_tokens, i.output_tokens) for i in u.iterations] == [
        ("message", u.input_tokens, u.output_tokens)]
    plain = client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=[user("hi")],
                                        betas=["context-management-2025-06-27"])
    assert plain.usage.iterations is None  # only the compaction beta adds them


# ---- 7. thinking, effort and sampling -------------------------------------------------------
THINK = {"type": "enabled", "budget_tokens": 2048}
REFUSED = [
    ("claude-haiku-4-5", {"thinking": THINK, "tools": [tool("aa")], "tool_choice": {"type": "any"}},
     "Thinking may not be enabled when tool_choice forces tool use"),
    ("claude-haiku-4-5", {"thinking": THINK, "extra_body": {"temperature": 0.5}}, "may only be set to 1"),
    ("claude-haiku-4-5", {"thinking": THINK, "extra_body": {"top_k": 5}}, "`top_k` must be unset"),
    ("claude-haiku-4-5", {"thinking": THINK, "extra_body": {"top_p": 0.9}}, "greater than or equal to 0.95"),
    ("claude-opus-4-7", {"extra_body": {"temperature": 0.5}}, "does not accept sampling parameters"),
    ("claude-haiku-4-5", {"thinking": THINK, "messages": [user("x"), {"role": "assistant", "content": "Sure"}]},
     "must start with a thinking block"),
    ("claude-opus-5", {"thinking": {"type": "disabled"}, "output_config": {"effort": "xhigh"}},
     "only at effort 'high' or lower"),
    ("claude-sonnet-4-6", {"thinking": {"type": "disabled", "display": "summarized"}},
     "thinking.disabled.display: Extra inputs are not permitted"),
    ("claude-haiku-4-5", {"output_config": {"effort": "low"}}, "effort parameter is not supported"),
    ("claude-opus-4-6", {"output_config": {"effort": "xhigh"}}, "'xhigh' is not supported by claude-opus-4-6"),
    ("claude-sonnet-5-5", {"thinking": {"type": "between_tools"}, "output_config": {"effort": "max"}},
     "only at effort 'high' or lower"),
    ("claude-haiku-4-5", {"thinking": {"type": "enabled", "budget_tokens": 8000}}, "must be greater than"),
]


@pytest.mark.parametrize(("model", "extra", "message"), REFUSED)
def test_thinking_effort_and_sampling_rules(client: anthropic.Anthropic, model: str, extra: dict, message: str):
    kwargs = {"model": model, "max_tokens": 4000, "messages": [user("x")], **extra}
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.create(**kwargs)


@pytest.mark.parametrize(("model", "extra"), [
    ("claude-haiku-4-5", {"thinking": THINK, "extra_body": {"top_p": 0.95}}),
    ("claude-sonnet-4-6", {"extra_body": {"temperature": 0.2}}),
    ("claude-opus-5", {"thinking": {"type": "disabled"}, "output_config": {"effort": "high"}}),
    ("claude-sonnet-5-5", {"thinking": {"type": "between_tools"}, "output_config": {"effort": "medium"}}),
    ("claude-haiku-4-5", {"tools": [tool("aa")], "tool_choice": {"type": "any"}}),  # forced, thinking off
])
def test_the_allowed_neighbours_of_those_rules(client: anthropic.Anthropic, model: str, extra: dict):
    assert client.messages.create(model=model, max_tokens=4000, messages=[user("x")], **extra).content


def test_interleaved_thinking_lets_the_budget_exceed_max_tokens(client: anthropic.Anthropic):
    kwargs = {"model": "claude-haiku-4-5", "max_tokens": 4000, "messages": [user("x")],
              "thinking": {"type": "enabled", "budget_tokens": 8000}}
    assert client.beta.messages.create(betas=["interleaved-thinking-2025-05-14"], **kwargs).content


# ---- 8. system messages inside messages ------------------------------------------------------
def test_system_messages_on_the_models_that_take_them():
    client = Simulator(clock=ManualClock(), responder=reads_system).client(max_retries=0)
    history = [user([cached(big("fact"))]), {"role": "assistant", "content": "Noted."}, user("Summarize.")]
    client.messages.create(model="claude-opus-4-8", max_tokens=200, messages=history)
    r = client.messages.create(model="claude-opus-4-8", max_tokens=200,
                               messages=[*history, {"role": "system", "content": "Answer tersely."}])
    assert "Answer tersely." in r.content[0].text  # read as an instruction, not as the user's turn
    assert r.usage.cache_read_input_tokens > 0  # the history before it stays cached
    with pytest.raises(anthropic.BadRequestError, match="role 'system' is not supported on this model"):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=20,
                               messages=[user("x"), {"role": "system", "content": "Be brief."}])


@pytest.mark.parametrize("messages", [
    [{"role": "system", "content": "Be brief."}, user("x")],
    [user("x"), {"role": "assistant", "content": "y"}, {"role": "system", "content": "Be brief."}],
    [user("x"), {"role": "system", "content": "Be brief."}, user("more")],
])
def test_system_message_placement(client: anthropic.Anthropic, messages: list):
    with pytest.raises(anthropic.BadRequestError, match="system message"):
        client.messages.create(model="claude-opus-4-8", max_tokens=20, messages=messages)


# ---- 9. earlier turns' thinking: stripped or kept -------------------------------------------
THOUGHT = {"type": "thinking", "thinking": big("pondering", 300), "signature": "sig"}


def with_thought(model: str, tail: list) -> dict:
    return {"model": model, "tools": [tool("aa")], "messages": [user("q1"), *tail]}


def test_earlier_thinking_is_stripped_or_billed_per_model(sim: Simulator):
    earlier = [{"role": "assistant", "content": [THOUGHT, {"type": "text", "text": "a1"}]}, user("q2")]
    bare = [{"role": "assistant", "content": [{"type": "text", "text": "a1"}]}, user("q2")]
    strips, keeps = "claude-haiku-4-5", "claude-sonnet-4-6"
    assert sim.count(with_thought(strips, earlier)) == sim.count(with_thought(strips, bare))
    assert sim.count(with_thought(keeps, earlier)) > sim.count(with_thought(keeps, bare)) + 300
    # in the current tool loop the thinking stays, on every model
    loop = [{"role": "assistant", "content": [THOUGHT, {"type": "tool_use", "id": "t1", "name": "aa", "input": {}}]},
            user([{"type": "tool_result", "tool_use_id": "t1", "content": "42"}])]
    loop_bare = [{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "aa", "input": {}}]},
                 loop[1]]
    assert sim.count(with_thought(strips, loop)) > sim.count(with_thought(strips, loop_bare)) + 300


# ---- 10. clear_thinking_20251015 -------------------------------------------------------------
CM = ["context-management-2025-06-27"]


def thinking_turns(n: int) -> list:
    out = [user("q0")]
    for k in range(n):
        out += [{"role": "assistant", "content": [THOUGHT, {"type": "text", "text": f"a{k}"}]}, user(f"q{k + 1}")]
    return out


def test_clear_thinking_keeps_the_last_turns_and_must_come_first(client: anthropic.Anthropic, sim: Simulator):
    msgs = thinking_turns(3)
    edit = {"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 1}}
    r = client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=msgs, betas=CM,
                                    thinking={"type": "adaptive"}, context_management={"edits": [edit]})
    [applied] = r.context_management.applied_edits
    assert (applied.type, applied.cleared_thinking_turns) == ("clear_thinking_20251015", 2)
    full = sim.count({"model": "claude-sonnet-4-6", "messages": msgs, "thinking": {"type": "adaptive"}})
    u = r.usage
    assert full - (u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens) == applied.cleared_input_tokens > 600
    keep_all = client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=msgs, betas=CM,
                                           context_management={"edits": [{**edit, "keep": "all"}]})
    assert keep_all.context_management.applied_edits == []
    with pytest.raises(anthropic.BadRequestError, match="must be listed first"):
        client.beta.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=msgs, betas=CM,
                                    context_management={"edits": [{"type": "clear_tool_uses_20250919"}, edit]})


# ---- 11. limits ------------------------------------------------------------------------------
def test_at_most_100000_messages(client: anthropic.Anthropic):
    many = [user("x") if k % 2 == 0 else {"role": "assistant", "content": "y"} for k in range(100_001)]
    with pytest.raises(anthropic.BadRequestError, match="at most 100,000 messages"):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=many)


def test_a_body_over_32_mb_is_a_413(client: anthropic.Anthropic):
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.count_tokens(model="claude-sonnet-4-6", messages=[user("x" * (33 * 1024 * 1024))])
    assert info.value.status_code == 413 and info.value.body["error"]["type"] == "request_too_large"


def test_504_is_a_timeout_error_the_sdk_retries(echo):
    sim = Simulator(responder=echo, faults=[504, None])
    r = sim.client(max_retries=1).messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[user("x")])
    assert r.content and [e.status for e in sim.history] == [504, 200]
    with pytest.raises(anthropic.InternalServerError) as info:
        Simulator(faults=[504]).client(max_retries=0).messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=[user("x")])
    assert info.value.status_code == 504 and info.value.body["error"]["type"] == "timeout_error"


def test_a_spend_limit_429_has_no_retry_after_and_names_the_day_access_returns():
    sim = Simulator(clock=ManualClock(datetime(2026, 12, 2, tzinfo=UTC)), faults=["spend_limit"])
    with pytest.raises(anthropic.RateLimitError) as info:
        sim.client(max_retries=0).messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[user("x")])
    e = info.value
    assert "retry-after" not in e.response.headers and "retry-after-ms" not in e.response.headers
    assert e.body["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}
    assert "2027-01-01 at 00:00 UTC" in e.body["error"]["message"]


# ---- 12. strictness gaps ----------------------------------------------------------------------
def test_max_tokens_0_prewarms_the_cache_and_refuses_what_the_docs_refuse(client: anthropic.Anthropic):
    kwargs = {"model": "claude-sonnet-4-6", "system": [cached(big("rule"))], "messages": [user("warmup")]}
    r = client.messages.create(max_tokens=0, **kwargs)
    assert (r.content, r.stop_reason, r.usage.output_tokens) == ([], "max_tokens", 0)
    assert r.usage.cache_creation_input_tokens > 0
    assert client.messages.create(max_tokens=10, **kwargs).usage.cache_read_input_tokens > 0
    for extra, name in (({"stream": True}, "stream"), ({"thinking": THINK}, "thinking"),
                        ({"tools": [tool("aa")], "tool_choice": {"type": "any"}}, "tool_choice")):
        with pytest.raises(anthropic.BadRequestError, match=f"cannot be combined with {name}"):
            client.messages.create(max_tokens=0, **{**kwargs, **extra})


@pytest.mark.parametrize(("block", "message"), [
    ({"type": "text", "text": "hi", "colour": "red"}, "messages.0.content.0.colour: Extra inputs are not permitted"),
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png"}}, "source.base64.data: Field required"),
    ({"type": "image"}, "messages.0.content.0.source: Field required"),
    ({"type": "image", "source": {"type": "url", "url": ""}}, "source.url.url: Field required"),
])
def test_malformed_blocks_are_refused(client: anthropic.Anthropic, block: dict, message: str):
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[user([block])])


def test_a_well_formed_image_is_accepted(client: anthropic.Anthropic):
    image = {"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.png"}}
    assert client.messages.create(model="claude-sonnet-4-6", max_tokens=10,
                                  messages=[user([image, {"type": "text", "text": "What is it?"}])]).content
