from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

import convolab
from convolab.cli import cli


def test_version_matches_package_metadata():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"convolab, version {convolab.__version__}"
    assert convolab.__version__ != "0+unknown"  # installed, so metadata is found


def test_help_names_the_program_and_the_offline_default():
    result = CliRunner().invoke(cli, ["--help"], prog_name="convolab")
    assert result.exit_code == 0
    assert "Usage: convolab" in result.output
    assert "ANTHROPIC_API_KEY" in result.output


def test_console_script_is_installed():
    exe = sys.executable.rsplit("/", 1)[0] + "/convolab"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("convolab, version ")


def test_unknown_command_exits_2_with_one_clear_line():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output
