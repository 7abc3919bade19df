"""``convolab report``: run notebooks offline on fresh kernels and export each as HTML that
opens with no network (checks in ``convolab/notebook_export.py``, guarantees in ``docs/reports.md``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click


@click.command("report")
@click.argument("notebooks", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("build/report"),
              show_default=True, help="Folder for <notebook>.html.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Notebooks run at once, each on its own kernel  [default: one per CPU]")
@click.option("--timeout", type=click.IntRange(min=1), default=300, show_default=True,
              help="Seconds a cell may run.")
def report(notebooks: tuple[Path, ...], out_dir: Path, jobs: int | None, timeout: int) -> None:
    """Run each NOTEBOOK top to bottom (offline: no ANTHROPIC_API_KEY reaches the kernel) and
    write OUT/<notebook>.html, with charts inline and nothing loaded from the network, and
    OUT/index.html linking each one with its title and first paragraph.

    Without NOTEBOOK, every notebooks/*.ipynb under the current folder. A notebook that raises,
    or whose HTML would load something or show a secret, gets no HTML and one line on stderr
    naming it and the cell; the exit code is then 1.
    """
    from convolab.notebook_export import export_reports, write_index

    if not notebooks:
        notebooks = tuple(sorted(Path("notebooks").glob("*.ipynb")))
        if not notebooks:
            raise click.UsageError("no NOTEBOOK given and no notebooks/*.ipynb here")
    start = time.monotonic()
    results = export_reports(notebooks, out_dir, jobs=jobs, timeout=timeout)
    failed = [r for r in results if not r.ok]
    for r in results:
        click.echo(r.line(), err=not r.ok)
    index = write_index(results, out_dir)
    click.echo(f"{len(results) - len(failed)} of {len(results)} notebooks exported to {out_dir} "
               f"in {time.monotonic() - start:.1f} s; index: {index}")
    if failed:
        sys.exit(1)
