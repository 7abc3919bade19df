"""The workshop's exercises, their checks, hints and worked solutions.

Each notebook from 01 on ends with one or two exercises; ``notebooks/07_workshop.ipynb`` holds
four more. ``check(key, answer, **data)`` runs an exercise's check and prints one line:
"correct", or a friendly "not yet" saying what is off and hinting how to get there. It never
raises (a wrong or broken answer is a line, not a traceback); ``None`` (not answered yet) is a
reminder, so a notebook runs top to bottom before anyone answers. ``grade`` does the same
without printing and returns a ``Grade`` (``passed``, ``line``). Numbers are accepted within the tolerance the task states, and every approach a hint
suggests passes. ``hint(key)`` and ``solution(key)`` print the hint and a worked answer;
``solutions_notebook()`` builds the instructor's notebook from the same solutions and checks;
``write_solutions_notebook()`` writes it to ``notebooks/instructor/solutions.ipynb`` (outside
``notebooks/*.ipynb``, so ``make report`` does not publish the answers).

Checks compute the right answer themselves, against a fresh simulated Claude: they never
depend on the wording of a simulated reply, only on what a request holds and what it costs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convolab.errors import ConvolabError
from convolab.model import Conversation
from convolab.pricing import cost_usd
from convolab.strategies.base import Strategy

MODEL = "claude-sonnet-4-6"
FACT = "Please remember: my locker code is 4417."
TUTOR_SYSTEM = "You are a patient tutor for a course on distributed systems. " * 33  # about 500 tokens
AGENDA_RULE = "The agenda must never start before 10:00, two of us fly in that morning."
OFFSITE_SCRIPT = (
    "Hi, I'm Priya. I'm planning the Porto offsite for my team of 14.",
    "My favourite venue style is a converted warehouse.",
    AGENDA_RULE,
    *(f"Logistics {i}: shuttle option {i} costs {120 + 15 * i} euros and takes {20 + i} minutes." for i in range(12)),
    "When can the agenda start?",
    "Which venue style do I like?",
)


class Miss(Exception):
    """An answer that is not right yet; the message says why, in one sentence."""


def tutor_question(turn: int) -> str:
    """Notebook 01's user message at ``turn`` (about 100 tokens)."""
    return f"Question {turn}: " + "how does consensus handle a partition between replicas " * 9


def travel_policy(rules: int = 89) -> str:
    """A system prompt of ``rules`` rules: 89 are over Claude Sonnet 4.6's 1,024-token minimum."""
    return "You are a concise travel assistant. " + " ".join(
        f"Rule {i}: quote fares in euros and name the airline for route {i}." for i in range(1, rules + 1))


def long_conversation(turns: int = 60) -> Conversation:
    """Exercises 07.1-07.3: a fact in turn 1, then ``turns`` turns of training logs, then a question."""
    conv = Conversation(system_prompt="You are a helpful gym assistant.", model=MODEL)
    conv.add("user", f"Hi, I'm Noor. {FACT}")
    conv.add("assistant", "Noted, Noor.")
    for t in range(turns):
        conv.add("user", f"Training log {t}: I ran {3 + t % 5} kilometres along the river, stretched for "
                         f"{10 + t % 7} minutes and lifted {40 + t} kilograms on day {t + 1}.")
        conv.add("assistant", f"Logged day {t + 1}.")
    conv.add("user", "What is my locker code?")
    return conv


# -- helpers the checks share ------------------------------------------------------------------
def _client(clock: Any = None) -> Any:
    from convolab.sim import Simulator

    return Simulator(clock=clock).client()


def _number(answer: Any, what: str) -> float:
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        raise Miss(f"The answer should be {what}, not {type(answer).__name__} {answer!r}.")
    return float(answer)


def _near(answer: Any, right: float, rel: float, what: str) -> None:
    value = _number(answer, what)
    if abs(value - right) > rel * abs(right):
        raise Miss(f"{value:,.6g} is more than {rel:.0%} away from the right figure.")


def _strategy(answer: Any) -> Strategy:
    if not isinstance(answer, Strategy):
        raise Miss(f"The answer should be a strategy object (from convolab.strategies), not {type(answer).__name__}.")
    return answer


def replay_requests(strategy: Strategy, texts: tuple[str, ...] | list[str], *, system: str,
                    model: str = MODEL, client: Any = None) -> list[Any]:
    """Send ``texts`` one by one through ``strategy`` (building, sending, letting it observe
    each exchange) and return every payload it built."""
    client = client or _client()
    conv = Conversation(system_prompt=system, model=model)
    payloads = []
    for text in texts:
        conv.add("user", text)
        payloads.append(strategy.build(conv, client=client))
        reply = payloads[-1].create(client)
        conv.add("assistant", reply.content)
        strategy.observe(conv.turns()[-1], client=client, conversation=conv)
    return payloads


@functools.cache
def unmanaged_costs(turns: int) -> tuple[tuple[int, float], ...]:
    """Notebook 01's conversation sent whole, without caching: (input tokens, cost) per turn."""
    from convolab.strategies import FullHistory

    client, strategy = _client(), FullHistory(cache=False)
    conv = Conversation(system_prompt=TUTOR_SYSTEM, model=MODEL)
    out = []
    for t in range(1, turns + 1):
        conv.add("user", tutor_question(t))
        payload = strategy.build(conv)
        reply = payload.create(client)
        conv.add("assistant", reply.content)
        out.append((payload.input_tokens, cost_usd(MODEL, reply.usage)))
    return tuple(out)


def ttl_cost(ttl: str, *, turns: int = 20, gap_seconds: int = 600) -> float:
    """A ``turns``-turn conversation on ``travel_policy()`` with FullHistory(cache_ttl=ttl), a
    reply every ``gap_seconds`` on the simulator's clock: its total cost in USD."""
    from convolab.sim import ManualClock
    from convolab.strategies import FullHistory

    clock = ManualClock()
    client, strategy = _client(clock), FullHistory(cache_ttl=ttl)
    conv = Conversation(system_prompt=travel_policy(), model=MODEL)
    total = 0.0
    for t in range(turns):
        conv.add("user", f"Trip {t}: which airline flies route {t + 1}, and what is the fare in euros?")
        reply = strategy.build(conv).create(client)
        conv.add("assistant", reply.content)
        total += cost_usd(MODEL, reply.usage)
        clock.advance(gap_seconds)
    return total


@functools.cache
def strategy_costs(turns: int = 200, seed: int = 0, budget_tokens: int = 4000) -> dict[str, float]:
    """Notebook 02's replay: each strategy's cost over ``synthetic(turns, seed)``."""
    from convolab.datasets import synthetic
    from convolab.eval import replay_sample
    from convolab.strategies import NAMES

    sample = synthetic(turns, seed=seed)
    runs = [replay_sample(sample, name, budget_tokens=budget_tokens, model=MODEL, qa=[]) for name in NAMES]
    return {run.strategy: run.total.cost_usd for run in runs}


# -- the checks --------------------------------------------------------------------------------
def _check_turn_100(answer: Any) -> str:
    right = unmanaged_costs(100)[-1][0]
    _near(answer, right, 0.03, "a number of tokens")
    return f"turn 100 sends {right:,} tokens"


def _check_quadratic(answer: Any) -> str:
    costs = [c for _, c in unmanaged_costs(50)]
    right = sum(costs) / sum(costs[:25])
    _near(answer, right, 0.05, "a ratio (a number)")
    return f"the ratio is {right:.2f}: twice the turns, well over twice the bill"


def _check_cacheable_prompt(answer: Any) -> str:
    from convolab import catalog
    from convolab.strategies import FullHistory

    if not isinstance(answer, str) or not answer.strip():
        raise Miss("The answer should be the system prompt, a string.")
    model = "claude-haiku-4-5"
    minimum = catalog.get_model(model).min_cacheable_tokens
    client, strategy = _client(), FullHistory()
    conv = Conversation(system_prompt=answer, model=model)
    for text in ("I'm Ada.", "What is my name?"):
        conv.add("user", text)
        payload = strategy.build(conv)
        reply = payload.create(client)
        conv.add("assistant", reply.content)
    if not reply.usage.cache_read_input_tokens:
        raise Miss(f"The second request read nothing from the cache: the first one was {payload.input_tokens:,} "
                   f"tokens, and Haiku 4.5 caches nothing under {minimum:,}.")
    return f"the second request read {reply.usage.cache_read_input_tokens:,} tokens from the cache"


def _check_ttl_saving(answer: Any) -> str:
    right = ttl_cost("5m") - ttl_cost("1h")
    _near(answer, right, 0.02, "an amount in USD (a number)")
    return f"the 1-hour TTL saves ${right:.4f} over these 20 turns"


def _check_cheapest(answer: Any) -> str:
    costs = strategy_costs()
    if answer not in costs:
        raise Miss(f"The answer should be one of the strategy names {', '.join(costs)}, not {answer!r}.")
    cheapest = min(costs.values())
    if costs[answer] > cheapest * 1.0001:
        raise Miss(f"{answer} cost ${costs[answer]:.4f}; one strategy cost less.")
    return f"{answer} cost ${costs[answer]:.4f}, full history ${costs['full']:.4f}"


def _check_agenda_rule(answer: Any) -> str:
    strategy = _strategy(answer)
    payloads = replay_requests(strategy, OFFSITE_SCRIPT[:-1], system="You are an event planner.")
    largest = max(p.input_tokens for p in payloads)
    if largest > 500:
        raise Miss(f"One of its requests had {largest:,} input tokens; the limit is 500.")
    if AGENDA_RULE not in payloads[-1].to_json():
        raise Miss("The last request does not hold the rule word for word.")
    return f"its largest request had {largest:,} tokens and the rule went along verbatim"


def _check_message_count(answer: Any, *, store: Any, conversation_id: str, user_id: str = "ada") -> str:
    right = len(store.get_messages(conversation_id, user_id=user_id))
    if _number(answer, "a number of messages") != right:
        raise Miss(f"{answer!r} is not the number of messages stored for that conversation.")
    return f"{right} messages, the unanswered one included"


def _check_recovery(answer: Any, *, store: Any, user_id: str = "ada") -> str:
    if not hasattr(answer, "resent") or not hasattr(answer, "payload"):
        raise Miss(f"The answer should be what send() returned (a SentTurn), not {type(answer).__name__}.")
    if not answer.resent:
        raise Miss("That turn sent no unanswered message along: send it from the resumed session.")
    open_ones = store.open_reservations(user_id)
    if open_ones:
        raise Miss(f"{len(open_ones)} reservation(s) are still open: resume the conversation first.")
    lost = answer.resent[0]
    if lost not in answer.payload.sent:
        raise Miss("The unanswered message was not in the request.")
    ids = [e.request_id for e in store.usage_events(user_id)]
    if len(ids) != len(set(ids)):
        raise Miss("A request was billed twice.")
    return "the lost message went along with the new one, and nothing was billed twice"


def budget_turns(limit: float, *, most: int = 4) -> int:
    """Exercise 05.1's loop on a fresh store with ``daily_budget_usd=limit``: the turns sent
    before ``BudgetExceeded`` (counting stops at ``most``)."""
    import convolab
    from convolab.strategies import FullHistory

    store = convolab.DuckDBStore(":memory:")
    try:
        chat = convolab.ChatSession(store=store, user_id="bob", client=_client(),
                                    strategy=FullHistory(max_tokens=1024), model="claude-opus-4-6",
                                    daily_budget_usd=limit)
        for sent in range(most):
            try:
                chat.send("Tell me more about the itinerary. " * 20)
            except convolab.BudgetExceeded:
                return sent
        return most
    finally:
        store.close()


def _check_budget(answer: Any) -> str:
    limit = _number(answer, "a daily budget in USD (a number)")
    turns = budget_turns(limit)
    if turns != 3:
        many = f"{turns} or more" if turns == 4 else str(turns)
        raise Miss(f"With ${limit:.4f} a day, {many} turn(s) went through before BudgetExceeded, not 3.")
    return "three turns fit, and the fourth was refused before it was sent"


def _check_cache_saving(answer: Any) -> str:
    usage = {"input_tokens": 1000, "output_tokens": 500, "cache_creation_input_tokens": 2000,
             "cache_read_input_tokens": 10000}
    uncached = {"input_tokens": 13000, "output_tokens": 500}
    right = cost_usd(MODEL, uncached) - cost_usd(MODEL, usage)
    _near(answer, right, 0.01, "an amount in USD (a number)")
    return f"caching saved ${right:.4f} on that request"


def _check_retrieval_find(answer: Any, *, result: Any) -> str:
    import polars as pl

    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise Miss("The answer should be a pair: (sample_id, qa_index).")
    sample_id, index = answer
    items = result.items.filter((pl.col("sample_id") == sample_id) & (pl.col("qa_index") == index))
    if items.is_empty():
        raise Miss(f"There is no question {index!r} of {sample_id!r} in the result.")
    by = {r["strategy"]: r["answer_in_context"] for r in items.iter_rows(named=True)}
    if by.get("sliding") is not False or by.get("retrieval") is not True:
        raise Miss(f"For that question sliding had it in context: {by.get('sliding')}, retrieval: "
                   f"{by.get('retrieval')}; look for False and True.")
    return "sliding had dropped the evidence, retrieval brought it back"


def _check_tokens(answer: Any) -> str:
    from convolab.sim import Simulator

    conv = long_conversation()
    right = Simulator().count({"model": conv.model, "system": conv.system_prompt, "messages": conv.to_api_messages()})
    if _number(answer, "a number of tokens") != right:
        raise Miss(f"{answer!r} is not what the request bills (it is exact: count it, do not estimate).")
    return f"{right:,} tokens"


def _check_window(answer: Any) -> str:
    strategy = _strategy(answer)
    if strategy.name != "sliding":
        raise Miss(f"The answer should be a SlidingWindow, not {type(answer).__name__}.")
    payload = strategy.build(long_conversation())
    if payload.input_tokens > 1500:
        raise Miss(f"Its request has {payload.input_tokens:,} input tokens; the limit is 1,500.")
    return f"its request has {payload.input_tokens:,} tokens"


def _check_locker(answer: Any) -> str:
    strategy = _strategy(answer)
    conv = long_conversation()
    texts = [m.text for m in conv.messages if m.role == "user"]
    client = _client()
    replay = Conversation(system_prompt=conv.system_prompt, model=conv.model)
    for turn in conv.turns()[:-1]:  # the recorded history, turn by turn, for the strategy to observe
        for m in turn.messages:
            replay.add(m.role, m.content)
        strategy.observe(replay.turns()[-1], client=client, conversation=replay)
    replay.add("user", texts[-1])
    payload = strategy.build(replay, client=client)
    if payload.input_tokens > 1000:
        raise Miss(f"Its last request has {payload.input_tokens:,} input tokens; the limit is 1,000.")
    if "4417" not in payload.to_json():
        raise Miss("The last request does not hold the locker code, so Claude cannot answer from it.")
    return f"the code travels in a {payload.input_tokens:,}-token request"


def _check_price(answer: Any) -> str:
    right = cost_usd("claude-haiku-4-5", {"input_tokens": 12000, "cache_creation_input_tokens": 3000,
                                          "cache_read_input_tokens": 40000, "output_tokens": 800})
    _near(answer, right, 0.01, "an amount in USD (a number)")
    return f"${right:.5f}"


# -- the exercises -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Exercise:
    """One exercise: its task, hint, worked ``solution`` (code that sets ``answer``), the
    ``setup`` code a fresh notebook needs before it (for the solutions notebook), the names of
    the data the check takes (``data``) and ``also``: other answers the hint suggests, each
    accepted (the tests run them)."""

    key: str
    title: str
    task: str
    hint: str
    solution: str
    check: Callable[..., str] = field(repr=False)
    setup: str = ""
    data: tuple[str, ...] = ()
    also: tuple[str, ...] = ()

    @property
    def notebook(self) -> str:
        return self.key.split(".")[0]


_RUN_01 = """\
import convolab
from convolab import workshop
from convolab.pricing import cost_usd
from convolab.strategies import FullHistory

def unmanaged(turns):
    client, strategy = convolab.client(), FullHistory(cache=False)
    conv = convolab.Conversation(system_prompt=workshop.TUTOR_SYSTEM, model="claude-sonnet-4-6")
    rows = []
    for t in range(1, turns + 1):
        conv.add("user", workshop.tutor_question(t))
        payload = strategy.build(conv)
        reply = payload.create(client)
        conv.add("assistant", reply.content)
        rows.append((payload.input_tokens, cost_usd(conv.model, reply.usage)))
    return rows
"""
_SETUP_04 = """\
import tempfile
from pathlib import Path

import convolab
from convolab import workshop
from convolab.model import Message
from convolab.stores.base import Reservation
from convolab.strategies import Summarizing

db = Path(tempfile.mkdtemp()) / "chats.duckdb"
store = convolab.DuckDBStore(str(db))
chat = convolab.ChatSession(store=store, user_id="ada", client=convolab.client(), model="claude-haiku-4-5",
                            strategy=Summarizing(budget_tokens=3000), system_prompt="You are a travel assistant.")
chat.send("I'm Ada, I fly to Lisbon on 12 May.")
lost = Message("user", "Also: my return flight is on 19 May.")
store.begin_turn(chat.conversation_id, [lost], user_id="ada",
                 reservation=Reservation("req-interrupted", "ada", 0.01, conversation_id=chat.conversation_id))
store.close()  # the process is gone
store = convolab.DuckDBStore(str(db))
"""
_SETUP_06 = """\
from convolab import workshop
from convolab.datasets import synthetic
from convolab.eval import frames, replay_sample

sample = synthetic(200, seed=0)  # the notebook uses LoCoMo when it is there; the check reads any result
result = frames([replay_sample(sample, name, budget_tokens=4000, qa=sample.qa[::2]) for name in ("sliding", "retrieval")])
"""

EXERCISES: dict[str, Exercise] = {e.key: e for e in [
    Exercise("01.1", "Predict a long conversation",
             "Every turn adds about the same number of tokens to the request. How many input tokens will turn 100 "
             "of the same unmanaged conversation send? (within 3%)",
             "Read the growth per turn off the measured table and extend the line, or run 100 turns and look.",
             "rows = unmanaged(50)\nper_turn = (rows[49][0] - rows[19][0]) / 30\n"
             "answer = rows[49][0] + 50 * per_turn",
             _check_turn_100, setup=_RUN_01, also=("answer = unmanaged(100)[-1][0]",)),
    Exercise("01.2", "Twice the turns, how much more money?",
             "Without caching, how many times more does the whole 50-turn conversation cost than its first 25 "
             "turns? (within 5%)",
             "Add up cost_usd over all 50 turns and over the first 25, and divide.",
             "costs = [c for _, c in unmanaged(50)]\nanswer = sum(costs) / sum(costs[:25])",
             _check_quadratic, setup=_RUN_01),
    Exercise("01b.1", "A prompt the cache will keep",
             "Write a system prompt that Claude Haiku 4.5 caches: with FullHistory(), the second request of a "
             "two-turn chat should read it from the cache.",
             "catalog.get_model('claude-haiku-4-5').min_cacheable_tokens is the minimum; count your prompt with "
             "SimTokenCounter().count_system(prompt, model=...) and make it longer (repeat some rules).",
             "from convolab import workshop\nanswer = workshop.travel_policy(400)",
             _check_cacheable_prompt, also=("answer = 'Answer briefly. ' * 2000",)),
    Exercise("01b.2", "Which TTL for a slow conversation?",
             "A 20-turn conversation on workshop.travel_policy() with FullHistory, one message every 10 minutes "
             "(simulated clock): how many USD does cache_ttl='1h' save over the default '5m'? (within 2%)",
             "Send the 20 turns twice, once per TTL, on a Simulator(clock=ManualClock()) whose clock you advance "
             "600 s after each reply; add up cost_usd. workshop.ttl_cost(ttl) does exactly that.",
             "from convolab import workshop\nanswer = workshop.ttl_cost('5m') - workshop.ttl_cost('1h')",
             _check_ttl_saving),
    Exercise("02.1", "The cheapest strategy",
             "Over the whole replay of synthetic(200, seed=0) with budget_tokens=4000, side calls included, which "
             "strategy cost least? (its name, as in convolab.strategies.NAMES)",
             "The comparison table's cost_usd column has it: pick the smallest.",
             "from convolab import workshop\ncosts = workshop.strategy_costs()\nanswer = min(costs, key=costs.get)",
             _check_cheapest),
    Exercise("03.1", "Keep a requirement word for word",
             "Configure a strategy that, on the offsite conversation, never sends more than 500 input tokens and "
             "still sends the agenda rule of turn 3 word for word in the request for 'When can the agenda start?'.",
             "A sliding window drops turn 3. Summarizing pins sentences with 'must' or 'never' verbatim; "
             "Retrieval brings the matching turn back. Give either a budget_tokens of 500 or less.",
             "from convolab.strategies import Summarizing\nanswer = Summarizing(budget_tokens=500)",
             _check_agenda_rule, also=("from convolab.strategies import Retrieval\n"
                                       "answer = Retrieval(budget_tokens=500)",
                                       "from convolab.strategies import Summarizing\n"
                                       "answer = Summarizing(budget_tokens=450, keep_recent_turns=2)")),
    Exercise("04.1", "Count with SQL",
             "How many messages are stored for the conversation now? Ask the store with SQL.",
             "store.sql('select count(*) from messages where conversation_id = ?', [chat.conversation_id])"
             ".fetchall(); the unanswered message is stored too.",
             "answer = store.sql('select count(*) from messages where conversation_id = ?', "
             "[chat.conversation_id]).fetchall()[0][0]",
             _check_message_count, setup=_SETUP_04, data=("store", "conversation_id"),
             also=("answer = len(store.get_messages(chat.conversation_id, user_id='ada'))",)),
    Exercise("04.2", "Recover from the crash",
             "Resume the crashed conversation with a new session and send 'Did you get my return date?'. The "
             "answer is what send() returned: the lost message must go along, and nothing may be billed twice.",
             "convolab.ChatSession.resume(store, chat.conversation_id, user_id='ada', strategy=..., client=...), "
             "then .send(...).",
             "again = convolab.ChatSession.resume(store, chat.conversation_id, user_id='ada', client=convolab.client(),\n"
             "                                    strategy=Summarizing(budget_tokens=3000))\n"
             "answer = again.send('Did you get my return date?')",
             _check_recovery, setup=_SETUP_04, data=("store",),
             also=("answer = convolab.ChatSession(store=store, user_id='ada', client=convolab.client(),\n"
                   "                              conversation_id=chat.conversation_id).send('Did you get my return date?')",)),
    Exercise("05.1", "A budget for three turns",
             "The loop in this notebook sends 'Tell me more about the itinerary. ' * 20 to Claude Opus 4.6 with "
             "FullHistory(max_tokens=1024) until the budget refuses. Pick a daily_budget_usd that lets exactly "
             "three turns through.",
             "Each turn reserves its worst case first (every input token at the cache-write price, max_tokens of "
             "output). Try values, or compute: three turns' costs plus the fourth's reservation must not fit.",
             "from convolab import workshop\n\n"
             "low, high = 0.0, 0.2  # the least budget that lets three turns through, by bisection\n"
             "for _ in range(10):\n"
             "    middle = (low + high) / 2\n"
             "    low, high = (low, middle) if workshop.budget_turns(middle) >= 3 else (middle, high)\n"
             "answer = high",
             _check_budget),
    Exercise("05.2", "What caching saved",
             "The request recorded for ada above (Sonnet 4.6: 1,000 input, 500 output, 2,000 cache-write and "
             "10,000 cache-read tokens): how many USD cheaper was it than the same 13,000 input tokens uncached? "
             "(within 1%)",
             "convolab.pricing.cost_usd(model, usage) prices both: the cached usage, and {'input_tokens': 13000, "
             "'output_tokens': 500}.",
             "from convolab.pricing import cost_usd\n"
             "answer = (cost_usd('claude-sonnet-4-6', {'input_tokens': 13000, 'output_tokens': 500})\n"
             "          - cost_usd('claude-sonnet-4-6', {'input_tokens': 1000, 'output_tokens': 500,\n"
             "                                           'cache_creation_input_tokens': 2000,\n"
             "                                           'cache_read_input_tokens': 10000}))",
             _check_cache_saving),
    Exercise("06.1", "Where retrieval helps",
             "Find a question that sliding did not have in context and retrieval did. The answer is its "
             "(sample_id, qa_index).",
             "Filter result.items for sliding rows with answer_in_context False and retrieval rows with True, and "
             "join them on sample_id and qa_index.",
             "import polars as pl\n"
             "items = result.items.select('strategy', 'sample_id', 'qa_index', 'answer_in_context')\n"
             "missed = items.filter(strategy='sliding', answer_in_context=False)\n"
             "found = items.filter(strategy='retrieval', answer_in_context=True)\n"
             "row = missed.join(found, on=['sample_id', 'qa_index']).row(0, named=True)\n"
             "answer = (row['sample_id'], row['qa_index'])",
             _check_retrieval_find, setup=_SETUP_06, data=("result",)),
    Exercise("07.1", "What does a request bill?",
             "How many input tokens will a request with the whole of long_conversation() bill, system prompt "
             "included?",
             "A strategy builds the request and counts it before it is sent: FullHistory().build(conv).input_tokens.",
             "from convolab import workshop\nfrom convolab.strategies import FullHistory\n"
             "answer = FullHistory().build(workshop.long_conversation()).input_tokens",
             _check_tokens),
    Exercise("07.2", "A budget",
             "Make a SlidingWindow whose requests never exceed 1,500 input tokens on long_conversation().",
             "SlidingWindow takes budget_tokens, which covers the system prompt as well as the turns; max_turns "
             "works too if you count.",
             "from convolab.strategies import SlidingWindow\nanswer = SlidingWindow(budget_tokens=1500)",
             _check_window, also=("from convolab.strategies import SlidingWindow\n"
                                  "answer = SlidingWindow(max_turns=10)",)),
    Exercise("07.3", "Keep the early fact",
             "The locker code is in turn 1. Pick and configure a strategy whose request for 'What is my locker "
             "code?' still holds it, with at most 1,000 input tokens per request.",
             "The window cannot reach turn 1: keep a summary (its pinned sentences keep 'please remember ...' "
             "verbatim), a memory, or retrieve it.",
             "from convolab.strategies import Retrieval\nanswer = Retrieval(budget_tokens=1000)",
             _check_locker, also=("from convolab.strategies import Summarizing\n"
                                  "answer = Summarizing(budget_tokens=1000)",
                                  "from convolab.strategies import StructuredMemory\n"
                                  "answer = StructuredMemory(budget_tokens=1000)")),
    Exercise("07.4", "The price of a cached request",
             "What does a Claude Haiku 4.5 response with 12,000 input, 3,000 cache-write, 40,000 cache-read and "
             "800 output tokens cost, in USD? (within 1%)",
             "convolab.pricing.cost_usd(model, usage_dict) prices every part, cache writes and reads included.",
             "from convolab.pricing import cost_usd\n"
             "answer = cost_usd('claude-haiku-4-5', {'input_tokens': 12000, 'cache_creation_input_tokens': 3000,\n"
             "                                       'cache_read_input_tokens': 40000, 'output_tokens': 800})",
             _check_price, also=("answer = 0.0238",)),
]}


def _exercise(key: Any) -> Exercise | None:
    ex = EXERCISES.get(str(key))
    if ex is None:
        print(f"There is no exercise {key!r}; the exercises are {', '.join(EXERCISES)}.")
    return ex


@dataclass(frozen=True)
class Grade:
    """What a check found: ``passed`` (``None`` while not answered) and the one line it says."""

    key: str
    passed: bool | None
    line: str

    def __bool__(self) -> bool:
        return bool(self.passed)


def grade(key: str, answer: Any, **data: Any) -> Grade:
    """Check the answer to exercise ``key`` without printing; never raises. ``data`` is what
    the exercise's check reads from the notebook (e.g. ``store=store``)."""
    ex = EXERCISES.get(str(key))
    if ex is None:
        return Grade(str(key), False, f"There is no exercise {key!r}; the exercises are {', '.join(EXERCISES)}.")
    if answer is None:
        return Grade(key, None, f"Exercise {key} is waiting for your answer: {ex.task} "
                                f"(workshop.hint({key!r}) gives a hint)")
    missing = [name for name in ex.data if name not in data]
    if missing:
        return Grade(key, False, f"Exercise {key}: pass {', '.join(f'{n}=...' for n in missing)} to the check as well.")
    try:
        note = ex.check(answer, **data)
    except Miss as miss:
        return Grade(key, False, f"Exercise {key}: not yet. {miss} Hint: {ex.hint}")
    except ConvolabError as e:
        return Grade(key, False, f"Exercise {key}: not yet. Your answer did not run through: {type(e).__name__}: {e}")
    except Exception as e:  # a broken answer is still one line, never a traceback
        return Grade(key, False, f"Exercise {key}: not yet. Checking it raised {type(e).__name__}: {e}. "
                                 f"Hint: {ex.hint}")
    return Grade(key, True, f"Exercise {key}: correct ({note}).")


def check(key: str, answer: Any, **data: Any) -> None:
    """Check the answer to exercise ``key`` and print one line: "correct", "not yet" with what
    is off and a hint, or a reminder while ``answer`` is None. Never raises; ``grade`` returns
    the same without printing."""
    print(grade(key, answer, **data).line)


def hint(key: str) -> None:
    """Print exercise ``key``'s hint."""
    ex = _exercise(key)
    if ex is not None:
        print(f"Exercise {key}: {ex.hint}")


def solution(key: str) -> None:
    """Print a worked answer to exercise ``key`` (code that sets ``answer``)."""
    ex = _exercise(key)
    if ex is not None:
        print(ex.solution)


def exercises(notebook: str) -> list[Exercise]:
    """The exercises of one notebook ("01", "01b", ..., "07")."""
    return [e for e in EXERCISES.values() if e.notebook == notebook]


def solutions_notebook() -> Any:
    """The instructor's notebook: for each exercise its task, the setup a fresh kernel needs,
    the worked solution and the same check the learners run (``nbformat`` notebook)."""
    import nbformat

    v4 = nbformat.v4
    cells = [v4.new_markdown_cell(
        "# Instructor's solutions\n\nEvery exercise of the workshop with a worked solution, checked by the same "
        "`workshop.check` the learners run. Generated by `convolab.workshop.solutions_notebook()` (do not edit "
        "by hand: change `convolab/workshop.py` and run `workshop.write_solutions_notebook()`). Each section "
        "stands alone, so you can run one by itself.",
        id="intro"),
        v4.new_code_cell("from convolab import workshop\nfrom convolab.widgets import setup_notebook\n\n"
                         "setup_notebook()  # notices as plain lines, charts as SVG", id="setup")]
    for ex in EXERCISES.values():
        slug = ex.key.replace(".", "-")
        cells.append(v4.new_markdown_cell(f"## {ex.key} · {ex.title}\n\n{ex.task}\n\n*Hint:* {ex.hint}", id=f"task-{slug}"))
        if ex.setup:
            cells.append(v4.new_code_cell(ex.setup.rstrip(), id=f"setup-{slug}"))
        data = {"store": "store", "conversation_id": "chat.conversation_id", "result": "result"}
        args = "".join(f", {name}={data[name]}" for name in ex.data)
        code = f"{ex.solution}\nworkshop.check({ex.key!r}, answer{args})"
        cells.append(v4.new_code_cell(code, id=f"solution-{slug}"))
    nb = v4.new_notebook(cells=cells)
    nb.metadata.update({"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                        "language_info": {"name": "python"}})
    return nb


def write_solutions_notebook(path: str = "notebooks/instructor/solutions.ipynb") -> None:
    """Write ``solutions_notebook()`` to ``path`` (run after changing an exercise)."""
    import nbformat

    nbformat.write(solutions_notebook(), path)
