"""The two-command set-up a newcomer relies on: README, Makefile, .ci/run and `make lab`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def code_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```[a-z]*\n(.*?)```", markdown, flags=re.S)]


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    before_prose = readme.split("\n\n", 3)
    assert before_prose[0].startswith("# convolab")
    assert code_blocks(readme)[:2] == ["make lab", "make test"]
    first_prose = readme.index("`make lab` sets")
    assert readme.index("make test") < first_prose


def test_ci_runs_exactly_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    commands = [ln.strip() for ln in script.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert commands[-1] == "make test"
    assert not any(c.startswith(("pip ", "python ", "pytest")) for c in commands), commands


def test_makefile_lists_its_targets_in_help():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for target in ("setup", "lab", "test"):
        assert re.search(rf"make {target}\s+\S", out), out


def test_make_lab_headless_starts_jupyter_and_exits_zero():
    env = dict(os.environ, CI="true")
    proc = subprocess.run([sys.executable, "scripts/lab.py", "notebooks/00_quickstart.ipynb"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"http://127\.0\.0\.1:\d+/lab/tree/notebooks/00_quickstart\.ipynb", proc.stdout)


def test_make_lab_reports_a_missing_notebook():
    env = dict(os.environ, CI="true")
    proc = subprocess.run([sys.executable, "scripts/lab.py", "notebooks/nope.ipynb"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "notebooks/nope.ipynb not found" in proc.stderr


README_BLOCKS = re.findall(r"```(\w*)\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
README_EXAMPLES = [(code, README_BLOCKS[k + 1][1]) for k, (lang, code) in enumerate(README_BLOCKS) if lang == "python"]


def test_readme_has_examples():
    assert len(README_EXAMPLES) >= 2


@pytest.mark.parametrize(("code", "expected"), README_EXAMPLES, ids=["quickstart", "sessions"][:len(README_EXAMPLES)])
def test_readme_example_prints_what_the_readme_says(code, expected):
    """Each README example runs as shown, offline, and prints exactly the output quoted after it."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == expected


def test_environment_yml_lists_every_pyproject_dependency():
    """conda users get the same set as `pip install -e '.[lab,postgres,dev,bench,cluster]'`."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    names = {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower() for d in wanted}
    env = (ROOT / "environment.yml").read_text().lower()
    listed = {re.split(r"[\[<>=!~ ]", line.strip()[2:], maxsplit=1)[0] for line in env.splitlines()
              if line.strip().startswith("- ")}
    assert names - listed == set()
