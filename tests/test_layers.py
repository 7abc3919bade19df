"""The import graph of ``convolab`` against the layers ``docs/architecture.md`` documents.

Every import counts: at module level, inside a function and under ``TYPE_CHECKING`` alike (a
lazy import still ties the two modules together). A module may import its own layer and the
layers below it, never one above; and no two modules import each other, directly or round a
longer loop.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "convolab"

# Bottom to top, as in docs/architecture.md ("Layers"). A name is a top-level module of
# convolab or one of its subpackages (everything inside it).
LAYERS: list[tuple[str, set[str]]] = [
    ("text", {"errors", "blocks", "dates", "stemming", "lexical", "embeddings"}),
    ("model", {"model", "repair", "validation"}),
    ("api", {"tokens", "catalog", "pricing", "history", "sending"}),
    ("sim", {"sim"}),
    ("strategies", {"strategies"}),
    ("stores", {"stores"}),
    ("sessions", {"costs", "metering", "steps", "turn", "session", "async_session", "clients"}),
    ("applications", {"datasets", "eval", "commands", "cli", "widgets", "workshop", "notebook_export", "__init__"}),
]
RANK = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The convolab modules ``path`` imports (``from convolab.x import y`` names module
    ``convolab.x.y`` when that is a module, else ``convolab.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("convolab"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("convolab"))
    return {m for m in found if m in known}


def concept(module: str) -> str:
    """The layer entry a module belongs to: ``convolab.sim.server`` -> ``sim``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(p, known) - {m} for m, p in known.items()}


def test_every_module_has_a_documented_layer():
    missing = sorted({concept(m) for m in modules()} - RANK.keys())
    assert not missing, f"add these to LAYERS and to docs/architecture.md: {missing}"


def test_the_documented_layers_are_the_ones_tested():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    section = doc.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\d+\. \*\*(\w+)\*\*", section, re.M)
    assert rows == [name for name, _ in LAYERS]


def test_no_module_imports_a_layer_above_its_own():
    upward = sorted(f"{m} -> {t}" for m, targets in graph().items() for t in targets
                    if RANK[concept(t)] > RANK[concept(m)])
    assert not upward


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while (w := stack.pop()) != v:
                comp.append(w)
            if comp:
                out.append(sorted([*comp, v]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert _cycles(edges) == [["a", "b", "c"]]
