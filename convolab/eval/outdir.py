"""The results folder: checked before an evaluation starts, filled all at once at its end.

``check_out(path)`` fails fast, before any replay, when the folder could never be written: an
empty path, a file in its place or in the way of one of its parents, a place this process
cannot write in (found by really making a folder there, so read-only file systems and
permissions both show). ``publish(out, write)`` lets ``write`` fill a temporary folder beside
``out`` (same file system), then moves the files into place; if ``write`` fails, the temporary
folder and any parent it made are removed, and ``out`` is as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from convolab.errors import ConfigurationError

__all__ = ["check_out", "publish"]


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_out(out: str | os.PathLike[str]) -> Path:
    """The results folder ``out`` as an absolute path, or ``ConfigurationError`` saying why no
    results could be written there. Creates nothing (a probe folder is made and removed)."""
    text = os.fspath(out)
    if not text.strip():
        raise ConfigurationError("--out is empty: give the folder to write the results into, e.g. --out out/eval")
    path = Path(text).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"--out {text}: a file of that name is in the way; give a folder")
    parent = path if path.exists() else _existing_parent(path)
    if not parent.is_dir():
        raise ConfigurationError(f"--out {text}: {parent} is a file, so no folder can be made under it")
    try:
        probe = tempfile.mkdtemp(prefix=".convolab-probe-", dir=parent)
        os.rmdir(probe)
    except OSError as e:
        raise ConfigurationError(f"--out {text}: cannot write in {parent} ({e.strerror or e}); "
                                 "pick a folder you can write to") from None
    return path


def _made_parents(path: Path) -> list[Path]:
    """Create ``path``'s missing parents; return them, deepest first."""
    made = []
    parent = path.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    for p in reversed(made):
        p.mkdir()
    return made


def publish(out: str | os.PathLike[str], write: Callable[[Path], list[Path]]) -> list[Path]:
    """Call ``write(folder)`` on a temporary folder beside ``out``, then move what it wrote into
    ``out`` (a rename of the whole folder when ``out`` does not exist yet); returns the final
    paths. On any error nothing is left behind and the error is raised."""
    out = Path(out).absolute()
    made = _made_parents(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        written = write(tmp)
        if not out.exists():
            os.replace(tmp, out)
        else:
            for p in written:
                os.replace(p, out / p.name)
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in made:
            if p.exists() and not any(p.iterdir()):
                p.rmdir()
        raise
    return [out / p.name for p in written]
