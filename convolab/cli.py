"""The ``convolab`` command line. Each command group lives in its own module under
``convolab/commands/`` and is registered here."""

from __future__ import annotations

import click

from convolab import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="convolab")
def cli() -> None:
    """Measure multi-turn context strategies for Claude: tokens, cache hits, cost, recall.

    Runs offline against a simulated Claude unless ANTHROPIC_API_KEY is set.
    """


def _register() -> None:
    from convolab.commands.chat import chat
    from convolab.commands.costs import costs
    from convolab.commands.eval import eval_group
    from convolab.commands.report import report

    cli.add_command(chat)
    cli.add_command(costs)
    cli.add_command(eval_group)
    cli.add_command(report)


_register()


def main() -> None:
    cli(prog_name="convolab")


if __name__ == "__main__":
    main()
