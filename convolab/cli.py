"""The ``convolab`` command line. Each command lives in its own module under
``convolab/commands/`` and is registered here by name; a command module is imported only when
the command runs or its help is shown, and imports the SDK and polars only inside its function,
so ``convolab --help`` and ``convolab --version`` start quickly."""

from __future__ import annotations

from importlib import import_module

import click

from convolab import __version__

#: command name -> (module, attribute)
COMMANDS = {
    "chat": ("convolab.commands.chat", "chat"),
    "costs": ("convolab.commands.costs", "costs"),
    "eval": ("convolab.commands.eval", "eval_group"),
    "report": ("convolab.commands.report", "report"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attr = COMMANDS[name]
            self.add_command(getattr(import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="convolab")
def cli() -> None:
    """Measure multi-turn context strategies for Claude: tokens, cache hits, cost, recall.

    Runs offline against a simulated Claude unless ANTHROPIC_API_KEY is set. Bad arguments and
    unusable files are reported in one line with exit code 2 (each command's --help says which).
    """


def main() -> None:
    cli(prog_name="convolab")


if __name__ == "__main__":
    main()
