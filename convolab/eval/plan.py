"""What a live evaluation would send and cost, found by a dry run of the same payloads on the
simulator (nothing is sent).

``plan_eval`` runs the evaluation twice, once per mode (``replay``: every turn sent as a chat
would; ``qa``: the turns only counted, the questions asked on a cold cache), through the very
client a live run uses (``convolab.eval.live.LiveClient``: the same order, the same requests,
identical requests of two tasks sent once) with one in-process simulator as the API. Its
clock moves only by ``LIVE_LATENCY`` per request, as in a run sent in one go (the cache stays
warm between the dataset's sessions, as it does in a live run of a few minutes). What is sent
is totalled by kind (``convolab.eval.kinds``): the turns, the questions, the strategies' side
calls (summaries, memory extraction) and the judge's calls. Dollars are at the catalog's prices of ``priced_at``;
``usd_batch`` is what ``--batch`` pays: the questions and the judge's calls at the Message
Batches price, the turns and side calls (each depends on the one before) at the standard price.

The simulator's token counts approximate Claude's (``docs/simulator.md``) and its replies are
short, so output tokens, and the dollars they cost, are an estimate; ``docs/live-evaluation.md``
compares a plan with what was billed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from convolab.eval.kinds import KINDS
from convolab.eval.replay import UsageTotals
from convolab.pricing import batch_multiplier

__all__ = ["LIVE_LATENCY", "Plan", "plan_eval"]

#: Simulated seconds per request in the dry run: a rough latency of the real API.
LIVE_LATENCY = {"base": 1.5, "per_output_token": 0.02}
BATCHED = ("questions", "judge calls")  # the kinds --batch sends through the Message Batches API


@dataclass
class Plan:
    """Totals by mode (``replay``, ``qa``) and kind (``KINDS``) of what a live run would send."""

    kinds: dict[str, dict[str, UsageTotals]]
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def sent(self, mode: str) -> list[str]:
        """The kinds a run in ``mode`` sends (``qa`` only counts the turns)."""
        return [k for k in KINDS if not (mode == "qa" and k == "turns")]

    def total(self, mode: str) -> UsageTotals:
        out = UsageTotals()
        for k in self.sent(mode):
            out = out.plus(self.kinds[mode][k])
        return out

    def usd(self, mode: str, *, batch: bool = False) -> float:
        """Dollars of a run in ``mode``; ``batch``: questions and judge calls at the batch price."""
        share = batch_multiplier() if batch else 1.0
        return sum(self.kinds[mode][k].cost_usd * (share if k in BATCHED else 1.0) for k in self.sent(mode))

    def line(self, mode: str) -> str:
        """The plan's last line: ``plan: requests=<n> input_tokens=<n> output_tokens=<n> usd=<x> usd_batch=<y>``."""
        t = self.total(mode)
        return (f"plan: requests={t.requests} input_tokens={t.prompt_tokens} output_tokens={t.output_tokens} "
                f"usd={self.usd(mode):.4f} usd_batch={self.usd(mode, batch=True):.4f}")

    def table(self) -> str:
        """Every mode and kind: requests, input tokens (uncached, cache write, cache read),
        expected output tokens, dollars standard and with --batch (at most 120 columns)."""
        share = batch_multiplier()
        head = ("mode", "kind", "requests", "uncached", "cache write", "cache read", "output", "usd", "usd batch")
        rows = []
        for mode in ("replay", "qa"):
            for k in KINDS:
                lg = self.kinds[mode][k]
                name = "turns (counted)" if mode == "qa" and k == "turns" else k
                rows.append((mode, name, *self._cells(lg, lg.cost_usd * (share if k in BATCHED else 1.0))))
            total = self.total(mode)
            rows.append((mode, "total sent", *self._cells(total, self.usd(mode, batch=True), self.usd(mode))))
        widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
        fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
        return "\n".join(fmt.format(*r).rstrip() for r in (head, *rows))

    @staticmethod
    def _cells(lg: UsageTotals, batch_usd: float, usd: float | None = None) -> tuple[str, ...]:
        return (f"{lg.requests:,}", f"{lg.input_tokens:,}", f"{lg.cache_write_tokens:,}", f"{lg.cache_read_tokens:,}",
                f"{lg.output_tokens:,}", f"{lg.cost_usd if usd is None else usd:,.4f}", f"{batch_usd:,.4f}")

    def scaled(self, factor: float, kinds: Sequence[str] = KINDS) -> Plan:
        """``kinds`` (default: all) times ``factor``, requests and tokens rounded: a plan for
        more data of the same shape (``docs/live-evaluation.md`` states when that holds)."""
        def times(lg: UsageTotals) -> UsageTotals:
            return UsageTotals(**{k: round(v * factor) if isinstance(v, int) else v * factor for k, v in vars(lg).items()})
        return Plan({m: {k: times(lg) if k in kinds else lg for k, lg in ks.items()} for m, ks in self.kinds.items()},
                    f"{self.description} ({', '.join(kinds)} x {factor:g})", dict(self.config))

    def plus(self, other: Plan) -> Plan:
        """Both plans' totals together (two datasets planned apart)."""
        return Plan({m: {k: lg.plus(other.kinds[m][k]) for k, lg in ks.items()} for m, ks in self.kinds.items()},
                    f"{self.description} + {other.description}", dict(self.config))


def plan_eval(samples: Sequence[Any], strategies: Sequence[str], *, budget_tokens: int | None, model: str,
              priced_at: date, judge: str | None = None) -> Plan:
    """The plan of a live evaluation (see the module docstring); ``judge``: the judge's model,
    answered by the simulator's stand-in."""
    from convolab.eval.judge import Judge
    from convolab.eval.live import LiveClient, SimulatorSender
    from convolab.eval.recording import MemoryResponses
    from convolab.eval.run import run_eval
    from convolab.sim import ManualClock, Simulator

    kinds: dict[str, dict[str, UsageTotals]] = {}
    for mode in ("replay", "qa"):
        simulator = Simulator(clock=ManualClock(), keep_history=0, latency=LIVE_LATENCY)
        live = LiveClient(MemoryResponses(), sender=SimulatorSender(simulator), priced_at=priced_at)
        graded = Judge(judge, client=live.for_task()) if judge else None
        result = run_eval(samples, strategies, budget_tokens=budget_tokens, model=model, jobs=1, priced_at=priced_at,
                          mode=mode, live=live, judge=graded)
        kinds[mode] = {k: live.sent_by_kind.get(k, UsageTotals()) for k in KINDS}
        if mode == "qa":
            kinds[mode]["turns"] = result.kinds["turns"]  # counted by the cache model, not sent
    desc = (f"{len(samples)} conversation(s) x {len(strategies)} strategies ({', '.join(strategies)}) on {model}, "
            f"judge {judge or 'none'}, prices of {priced_at.isoformat()}")
    return Plan(kinds, desc, {"samples": [s.sample_id for s in samples], "strategies": list(strategies),
                              "model": model, "budget_tokens": budget_tokens, "priced_at": priced_at.isoformat(),
                              "judge": judge})
