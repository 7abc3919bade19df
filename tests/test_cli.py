from __future__ import annotations

import subprocess
import sys

import pytest
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


# -- costs: missing and unusable files, unconfirmed rows ------------------------------------------

def test_costs_with_a_missing_db_exits_2_and_creates_nothing(tmp_path):
    db = tmp_path / "missing.duckdb"
    result = CliRunner().invoke(cli, ["costs", "--user", "ada", "--db", str(db)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: no database at {db}: nothing has been recorded there (convolab chat --db {db} creates it); "
        "check the path, --db or CONVOLAB_DB"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["costs", "--user", "ada"], ["chat"]])
def test_an_unusable_db_is_one_line_and_exit_2(tmp_path, command):
    garbage = tmp_path / "notes.duckdb"
    garbage.write_text("not a database\n" * 40)
    for db, says in ((garbage, "it is not a DuckDB database"), (tmp_path, "it is a folder")):
        result = CliRunner().invoke(cli, [*command, "--db", str(db)], input="/quit\n")
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: cannot open DuckDB database {db} as a convolab store")
        assert says in lines[0] and "Traceback" not in result.output


def test_costs_shows_unconfirmed_rows_apart(tmp_path):
    from dataclasses import replace

    from convolab.costs import usage_event
    from convolab.stores import DuckDBStore

    def ledger(path, unconfirmed=()):
        with DuckDBStore(path) as store:
            cid = store.create_conversation("ada", "s")
            for n in range(3):
                event = usage_event("ada", "claude-sonnet-4-6", {"input_tokens": 1000, "output_tokens": 100},
                                    request_id=f"r{n}", conversation_id=cid)
                store.record_usage(replace(event, confirmed=f"r{n}" not in unconfirmed))
        return path

    plain = CliRunner().invoke(cli, ["costs", "--user", "ada", "--db", ledger(str(tmp_path / "a.duckdb"))])
    assert plain.exit_code == 0 and "unconfirmed" not in plain.output
    # the ledger of a resumed crash: r1 booked at its estimate
    db = ledger(str(tmp_path / "b.duckdb"), unconfirmed={"r1"})
    result = CliRunner().invoke(cli, ["costs", "--user", "ada", "--db", db])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "requests" in line and "model" in line)
    assert header.rstrip(" │┆|").endswith("unconfirmed")
    assert "over 3 requests" in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("of which unconfirmed: $") and "over 1 interrupted request(s)" in last


# -- chat: commands, empty lines, API errors -----------------------------------------------------

def _ledger(db: str, user: str = "ada") -> list:
    from convolab.stores import DuckDBStore

    with DuckDBStore(db) as store:
        return store.usage_events(user)


def _user_texts(db: str, conv_id: str, user: str = "ada") -> list[str]:
    from convolab.stores import DuckDBStore

    with DuckDBStore(db) as store:
        return [m["content"] for m in store.get_messages(conv_id, user_id=user) if m["role"] == "user"]


def test_chat_commands_and_blank_lines_never_reach_the_model(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    db = str(tmp_path / "cli.duckdb")
    lines = ["", "   ", "\t", "/help", "/cost", "/payload", "/strategy", "/frobnicate", "My cat is called Miso.",
             "/payload", "/strategy nope", "/strategy full", "/strategy", "//etc is a folder", "/cost", "/quit",
             "never sent"]
    result = CliRunner().invoke(cli, ["chat", "--db", db, "--user", "ada", "--strategy", "sliding"],
                                input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = result.output
    conv_id = out.split("--resume ")[1].split()[0]
    assert _user_texts(db, conv_id) == ["My cat is called Miso.", "/etc is a folder"]
    assert len(_ledger(db)) == 2  # two replies billed, nothing for the commands
    assert "/strategy NAME" in out and "/payload" in out and "/quit" in out  # /help
    assert "0 requests (0 replies)" in out and "no request sent yet in this chat" in out
    assert "strategy: sliding; choose from full, sliding" in out
    assert "unknown command /frobnicate: /help lists them" in out
    assert "last request (sliding):" in out and "user: My cat is called Miso." in out
    assert "unknown strategy 'nope'" in out and "strategy: full from the next message on" in out
    assert "strategy: full; choose from" in out
    assert "2 requests (2 replies)" in out
    assert "never sent" not in _user_texts(db, conv_id)


def test_chat_api_error_is_one_line_and_the_chat_goes_on(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    from convolab import clients
    from convolab.sim import simulated_client

    monkeypatch.setattr(clients, "client", lambda **kw: simulated_client(faults=[529, None], max_retries=0))
    db = str(tmp_path / "cli.duckdb")
    result = CliRunner().invoke(cli, ["chat", "--db", db, "--user", "ada"],
                                input="first try\nsecond try\n/quit\n")
    assert result.exit_code == 0, result.output + result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("API error 529 overloaded_error: ")
    assert errors[0].endswith("your message is stored and goes again with the next one")
    assert result.stdout.count("claude> ") == 1 and "Traceback" not in result.output
    conv_id = result.stdout.split("--resume ")[1].split()[0]
    assert _user_texts(db, conv_id) == ["first try", "second try"]  # nothing lost


# -- a quick start -------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["--version"], ["chat", "--help"], ["costs", "--help"]])
def test_help_and_version_import_neither_the_sdk_nor_polars(args):
    code = ("import sys\nfrom convolab.cli import cli\ntry:\n    cli(sys.argv[1:], prog_name='convolab')\n"
            "except SystemExit:\n    pass\nprint(sorted({m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True,
                         check=True)
    loaded = eval(out.stdout.strip().splitlines()[-1])
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    for heavy in ("anthropic", "polars", "duckdb", "pyarrow", "httpx", "httpx2"):
        assert heavy not in loaded and heavy not in imported


def test_every_public_name_is_importable():
    import importlib

    fresh = subprocess.run([sys.executable, "-c", "import convolab, sys; print('anthropic' in sys.modules, "
                            "'polars' in sys.modules)"], capture_output=True, text=True, check=True)
    assert fresh.stdout.split() == ["False", "False"]
    module = importlib.import_module("convolab")
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    namespace: dict = {}
    exec("from convolab import *", namespace)
    assert set(module.__all__) <= set(namespace)
    assert set(module.__all__) == {*module._EXPORTS, "__version__"}  # each name has a home
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        module.nope  # noqa: B018


# -- chat in a terminal: Ctrl-C and Ctrl-D ------------------------------------------------------

# becomes the session leader's controlling terminal (so Ctrl-C is SIGINT), then runs the command
TTY_WRAPPER = "import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); os.execv(sys.argv[1], sys.argv[1:])"


class Terminal:
    """A command on a pseudo-terminal: type into it and wait for what it prints."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        import os

        self.fd, slave = os.openpty()
        self.proc = subprocess.Popen([sys.executable, "-c", TTY_WRAPPER, *argv], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.seen = ""

    def type(self, data: bytes) -> None:
        import os

        os.write(self.fd, data)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        import os
        import select
        import time

        end = time.monotonic() + timeout
        while text not in self.seen:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.seen}")
            try:
                self.seen += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:  # the command ended
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.seen}") from None
        self.seen = self.seen.split(text, 1)[1]


def test_chat_in_a_terminal_ctrl_c_cancels_the_line_and_ctrl_d_quits(tmp_path):
    import os

    db = str(tmp_path / "tty.duckdb")
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    exe = sys.executable.rsplit("/", 1)[0] + "/convolab"
    term = Terminal([exe, "chat", "--db", db, "--user", "ada", "--strategy", "sliding"], env)
    try:
        term.wait_for("you> ")
        term.type(b"I live in Porto.\r")
        term.wait_for("claude> ")
        term.wait_for("you> ")
        term.type(b"half a thought")
        term.type(b"\x03")  # Ctrl-C
        term.wait_for("line cancelled")
        term.wait_for("you> ")
        term.type(b"Where do I live?\r")
        term.wait_for("claude> ")
        term.wait_for("you> ")
        term.type(b"\x04")  # Ctrl-D
        term.wait_for("resume with: ")
        assert term.proc.wait(timeout=60) == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
        os.close(term.fd)
    conv_id = term.seen.split("--resume ")[1].split()[0]
    assert _user_texts(db, conv_id) == ["I live in Porto.", "Where do I live?"]
    assert len(_ledger(db)) == 2
