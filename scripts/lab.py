"""Open JupyterLab on a notebook, or, where no one can look at it, prove that it starts.

Used by `make lab`. With a display (or on macOS) it hands over to `jupyter lab NOTEBOOK`.
With `CI=true`, or on Linux with neither DISPLAY nor WAYLAND_DISPLAY, it starts the server
on a free loopback port, waits until the server answers and serves the notebook, prints the
URL, stops the server and exits 0 (1 if the server did not come up, with its log).
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = str(Path(sys.executable).parent / "jupyter")


def headless() -> bool:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return True
    if platform.system() == "Darwin" or os.name == "nt":
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(base: str, token: str, notebook: str, proc: subprocess.Popen, timeout: float) -> str | None:
    """Return None once the server serves the notebook, else the last problem seen."""
    deadline = time.monotonic() + timeout
    problem = "no answer yet"
    url = f"{base}/api/contents/{notebook}?content=0"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"jupyter exited with code {proc.returncode}"
        try:
            req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                if resp.status == 200:
                    return None
        except urllib.error.HTTPError as e:
            problem = f"HTTP {e.code} for {url}"
        except OSError as e:
            problem = str(e)
        time.sleep(0.5)
    return f"timed out after {timeout:.0f}s ({problem})"


def main() -> int:
    notebook = sys.argv[1] if len(sys.argv) > 1 else "notebooks/00_quickstart.ipynb"
    if not (ROOT / notebook).exists():
        print(f"convolab: {notebook} not found under {ROOT}", file=sys.stderr)
        return 1
    root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    if not headless():
        os.chdir(ROOT)
        os.execv(JUPYTER, [JUPYTER, "lab", *root_flag, notebook])

    port, token = free_port(), secrets.token_hex(16)
    runtime = tempfile.mkdtemp(prefix="convolab-lab-")
    log_path = Path(runtime) / "jupyter.log"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=runtime)
    cmd = [
        JUPYTER, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", *root_flag,
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        problem = wait_until_served(base, token, notebook, proc, timeout=120)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    if problem:
        print(f"convolab: JupyterLab did not start: {problem}. Its log:", file=sys.stderr)
        print(log_path.read_text()[-4000:], file=sys.stderr)
        shutil.rmtree(runtime, ignore_errors=True)
        return 1
    shutil.rmtree(runtime, ignore_errors=True)
    print(f"JupyterLab started and served {notebook} at {base}/lab/tree/{notebook}")
    print("No display here (or CI=true), so it was stopped again. On a desktop, `make lab` opens it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
