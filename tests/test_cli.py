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


# -- chat and costs ----------------------------------------------------------------------------

def test_chat_stores_the_conversation_and_costs_reads_the_ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    db = str(tmp_path / "cli.duckdb")
    result = CliRunner().invoke(cli, ["chat", "--db", db, "--user", "ada", "--strategy", "sliding"],
                                input="Hi, I live in Lisbon.\nWhere do I live?\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "claude> " in result.output and "Lisbon" in result.output.split("claude> ")[2]
    assert result.output.count("[in ") == 2 and "cache read" in result.output
    conv_id = result.output.split("--resume ")[1].split()[0]

    resumed = CliRunner().invoke(cli, ["chat", "--db", db, "--user", "ada", "--resume", conv_id],
                                 input="Say my name again.\n")
    assert resumed.exit_code == 0, resumed.output
    assert f"conversation {conv_id}" in resumed.output

    costs = CliRunner().invoke(cli, ["costs", "--user", "ada", "--db", db])
    assert costs.exit_code == 0, costs.output
    assert "claude-sonnet-4-6" in costs.output and "total: $" in costs.output
    assert "over 3 requests" in costs.output

    nobody = CliRunner().invoke(cli, ["costs", "--user", "bob", "--db", db])
    assert "no usage for user 'bob'" in nobody.output


def test_chat_unknown_strategy_and_other_users_conversation_exit_2(tmp_path):
    db = str(tmp_path / "cli.duckdb")
    bad = CliRunner().invoke(cli, ["chat", "--db", db, "--strategy", "magic"], input="/quit\n")
    assert bad.exit_code == 2 and "magic" in bad.output
    first = CliRunner().invoke(cli, ["chat", "--db", db, "--user", "ada"], input="hello\n/quit\n")
    conv_id = first.output.split("--resume ")[1].split()[0]
    other = CliRunner().invoke(cli, ["chat", "--db", db, "--user", "mallory", "--resume", conv_id], input="/quit\n")
    assert other.exit_code == 2 and "not found" in other.output
