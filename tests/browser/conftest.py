"""Headless Chromium through Playwright, and a throwaway JupyterLab server.

The browser is the system's Chromium (Debian package ``chromium``, installed by
``scripts/system-deps.sh``), driven by Playwright for Python (``pip install playwright``; its
own browser download, ``playwright install``, is never needed). Without either, these tests
are skipped with the reason, except with ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-gpu", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# JupyterLab settings for a quiet page: no news or update toasts in screenshots, no network; and
# every cell rendered (by default a long notebook renders only the cells in view, so outputs
# scrolled away would be invisible to the checks).
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False},
                "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"}}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """Skip (locally) or fail (CI=true) a test whose browser tooling is not installed."""
    if in_ci():
        pytest.fail(f"{what}; CI=true, so the browser tests must run (make test installs both: "
                    f"scripts/system-deps.sh and the dev extra)", pytrace=False)
    pytest.skip(what)


def find_chromium() -> str | None:
    """``$CONVOLAB_CHROMIUM``, else the first Chromium on PATH (Debian: /usr/bin/chromium)."""
    explicit = os.environ.get("CONVOLAB_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = find_chromium()
    if path is None:
        missing("Chromium is not installed (Debian: apt-get install chromium; or set CONVOLAB_CHROMIUM)")
    return path


@pytest.fixture(scope="module")  # not session: its event loop would stay current for later asyncio tests
def playwright_api(chromium_executable: str):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture
def screenshots() -> Path:
    """build/browser/, where the screenshots go (not committed)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    return BUILD


@pytest.fixture
def browser_context(playwright_api, chromium_executable: str, tmp_path: Path):
    """A fresh headless Chromium (new profile in tmp_path), 1280x900."""
    context = launch_chromium(playwright_api, chromium_executable, tmp_path / "chromium-profile")
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    base: str
    token: str
    root: Path
    log: Path

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _wait_until_up(lab: Lab, proc: subprocess.Popen, timeout: float) -> str | None:
    deadline, problem = time.monotonic() + timeout, "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"jupyter exited with code {proc.returncode}"
        try:
            req = urllib.request.Request(f"{lab.base}/api/status", headers={"Authorization": f"token {lab.token}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return None
        except (urllib.error.URLError, OSError) as e:
            problem = str(e)
        time.sleep(0.3)
    return f"timed out after {timeout:.0f}s ({problem})"


@contextmanager
def running_lab(notebooks: Path, workdir: Path) -> Iterator[Lab]:
    """JupyterLab on a free loopback port over a copy of ``notebooks`` (in ``workdir``), with no
    ``ANTHROPIC_*`` variable in its (and so its kernels') environment, fresh settings and
    workspaces; stopped on exit. Raises RuntimeError, with the server's log, if it does not start."""
    root = workdir / "root"
    shutil.copytree(notebooks, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = workdir / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(JUPYTER_RUNTIME_DIR=str(workdir / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"))
    port = free_port()
    lab = Lab(f"http://127.0.0.1:{port}", secrets.token_hex(16), root, workdir / "jupyter.log")
    root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={lab.token}",
           f"--ServerApp.root_dir={root}", *root_flag]
    with open(lab.log, "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        problem = _wait_until_up(lab, proc, timeout=120)
        if problem:
            raise RuntimeError(f"JupyterLab did not start: {problem}\n{lab.log_tail()}")
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def launch_chromium(playwright, executable: str, profile: Path, **options):
    """Headless Chromium on a fresh profile directory, with the network-quiet flags."""
    options = {"viewport": {"width": 1280, "height": 900}, **options}
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS, **options)


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory) -> Iterator[Lab]:
    """One JupyterLab for a whole test module (over a temp copy of notebooks/)."""
    try:
        with running_lab(ROOT / "notebooks", tmp_path_factory.mktemp("lab")) as lab:
            yield lab
    except RuntimeError as e:
        if not str(e).startswith("JupyterLab did not start"):
            raise
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def shared_chromium(playwright_api, chromium_executable: str, tmp_path_factory):
    """One headless Chromium for a whole test module."""
    context = launch_chromium(playwright_api, chromium_executable, tmp_path_factory.mktemp("profile"))
    context.set_default_timeout(60_000)
    yield context
    context.close()
