"""``convolab chat``: a terminal chat on the embedded store, with tokens, cache and cost per turn.

Lines starting with ``/`` are commands for the chat itself and never reach the model
(``COMMANDS``); ``//text`` sends ``/text``. Empty lines are ignored. Ctrl-C cancels the line
being typed (or the request in flight), Ctrl-D quits; a message is stored before it is sent,
so neither loses one.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from convolab.commands.common import STORE_ERRORS, InputError, db_option, open_store

COMMANDS = {
    "/help": "this list",
    "/strategy NAME": "use another context strategy from the next message on (no NAME: list them)",
    "/payload": "what the last request sent: tokens by part, messages sent and left out",
    "/cost": "this conversation's requests, tokens and cost so far (from the ledger)",
    "/quit": "end the chat (also /exit or Ctrl-D)",
}
PREVIEW = 70  # characters of each message /payload shows


class StrategyName(click.ParamType):
    """A strategy's short name, checked against ``convolab.strategies.registry`` when used
    (importing the strategies at start would slow ``convolab --help``)."""

    name = "strategy"

    @staticmethod
    def names() -> tuple[str, ...]:
        from convolab.strategies.registry import NAMES

        return NAMES

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return f"[{'|'.join(self.names())}]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value in self.names():
            return value
        self.fail(f"{value!r} is not one of {', '.join(map(repr, self.names()))}.", param, ctx)


def turn_line(turn) -> str:
    """One line of figures for a turn: what was sent, cached, and what it cost."""
    u = turn.usage
    p = turn.payload
    left = len(p.left_out) if p is not None else 0
    return (f"[in {u.input_tokens:,} | cache read {u.cache_read_input_tokens or 0:,} | "
            f"cache write {u.cache_creation_input_tokens or 0:,} | out {u.output_tokens:,} | "
            f"${turn.cost_usd + turn.side_cost_usd:.5f} | left out {left} messages]")


def api_error_line(error: Exception) -> str:
    """An SDK error as one line: status, the API's error type and its message."""
    import anthropic

    if isinstance(error, anthropic.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("error") if isinstance(body.get("error"), dict) else {}
        kind = detail.get("type") or type(error).__name__
        text = detail.get("message") or error.message
        return f"API error {error.status_code} {kind}: {' '.join(str(text).split())}"
    return f"API error ({type(error).__name__}): {' '.join(str(error.message).split())}"


def payload_lines(payload) -> list[str]:
    """The last request in a few lines: input tokens by part, then each message sent, shortened."""
    from convolab.blocks import content_text

    parts = ", ".join(f"{k} {v:,}" for k, v in payload.breakdown.items() if v)
    lines = [f"last request ({payload.strategy}): {payload.input_tokens:,} input tokens ({parts}); "
             f"{len(payload.messages)} messages sent, {len(payload.left_out)} stored messages left out"]
    for m in payload.messages:
        text = " ".join(content_text(m["content"]).split()) or "(no text: tool blocks)"
        lines.append(f"  {m['role']:>9}: {text[:PREVIEW]}{'...' if len(text) > PREVIEW else ''}")
    return lines


def cost_line(stats: dict[str, Any]) -> str:
    return (f"{stats['requests']} requests ({stats['reply_requests']} replies): in {stats['input_tokens']:,} | "
            f"cache read {stats['cache_read_tokens']:,} | cache write {stats['cache_write_tokens']:,} | "
            f"out {stats['output_tokens']:,} | ${stats['cost_usd']:.5f} (side calls ${stats['side_cost_usd']:.5f})")


class Chat:
    """The loop's state: the session, its store and how to make strategies."""

    def __init__(self, session: Any, budget_tokens: int):
        self.session = session
        self.budget_tokens = budget_tokens

    def command(self, line: str) -> bool:
        """Run a ``/`` command; False when the chat should end."""
        from convolab.errors import ConvolabError
        from convolab.strategies.registry import NAMES, make_strategy

        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            for usage, what in COMMANDS.items():
                click.echo(f"  {usage:<15} {what}")
            click.echo("  //text          send '/text' (a message that starts with /)")
        elif name == "/strategy" and not arg:
            click.echo(f"strategy: {self.session.strategy.name}; choose from {', '.join(NAMES)}")
        elif name == "/strategy":
            try:
                self.session.switch_strategy(make_strategy(arg, budget_tokens=self.budget_tokens))
            except ConvolabError as e:
                click.echo(f"error: {e}", err=True)
            else:
                click.echo(f"strategy: {arg} from the next message on")
        elif name == "/payload":
            last = self.session.last
            lines = payload_lines(last.payload) if last and last.payload else ["no request sent yet in this chat"]
            click.echo("\n".join(lines))
        elif name == "/cost":
            click.echo(cost_line(self.session.stats))
        else:
            click.echo(f"unknown command {name}: /help lists them (//text sends a message starting with /)",
                       err=True)
        return True

    def send(self, text: str) -> None:
        """Send one message; an API error or Ctrl-C is one line, and the chat goes on."""
        import anthropic

        from convolab.errors import ConvolabError

        try:
            turn = self.session.send(text)
        except KeyboardInterrupt:
            click.echo(f"\ninterrupted: {self._fate()}", err=True)
        except anthropic.APIError as e:
            click.echo(f"{api_error_line(e)}; {self._fate()}", err=True)
        except ConvolabError as e:
            click.echo(f"error: {' '.join(str(e).split())}", err=True)
        else:
            click.echo(f"claude> {turn.reply}")
            click.echo(click.style(turn_line(turn), dim=True))

    def _fate(self) -> str:
        """What became of a message whose request failed."""
        if self.session.unanswered():
            return "your message is stored and goes again with the next one"
        return "your message is stored and will not be sent again"


@contextmanager
def _ctrl_c_to_this_thread() -> Iterator[None]:
    """Threads started inside (DuckDB's workers) never take SIGINT, so Ctrl-C reaches the main
    thread and interrupts the line it is reading (taken by a worker, it would leave ``input()``
    waiting for Enter)."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: Ctrl-C is delivered differently there
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def read_line() -> str | None:
    """The next line typed, or None at Ctrl-D (end of input); Ctrl-C cancels the line (gives '')."""
    try:
        return input("you> ")
    except EOFError:
        click.echo()
        return None
    except KeyboardInterrupt:
        click.echo("\n(line cancelled; Ctrl-D or /quit ends the chat)")
        return ""


@click.command("chat", epilog=f"Errors: an unknown --strategy or --resume id: one line, exit code 2. {STORE_ERRORS} "
                              "An API error during the chat is one line; the chat goes on.")
@click.option("--strategy", "strategy_name", type=StrategyName(), default="summarizing", show_default=True,
              help="The context strategy (switch later with /strategy NAME).")
@click.option("--budget-tokens", type=click.IntRange(min=1), default=4000, show_default=True,
              help="For the budgeted strategies.")
@click.option("--model", default="claude-sonnet-4-6", show_default=True)
@click.option("--system", "system_prompt", default="You are a helpful assistant.", show_default=True)
@db_option
@click.option("--user", "user_id", default="me", show_default=True)
@click.option("--resume", "resume_id", default=None, help="Continue a stored conversation by id.")
def chat(strategy_name: str, budget_tokens: int, model: str, system_prompt: str, db: str, user_id: str,
         resume_id: str | None) -> None:
    """Chat in the terminal; every message is stored before the reply is shown.

    Type /help for the chat's commands (/strategy NAME, /payload, /cost, /quit); they are
    never sent to the model. Empty lines are ignored; Ctrl-C cancels the line being typed,
    Ctrl-D quits.
    """
    session, store = _start(strategy_name, budget_tokens, model, system_prompt, db, user_id, resume_id)
    from convolab.clients import client_kind

    click.echo(f"conversation {session.conversation_id} ({client_kind()} Claude, strategy {session.strategy.name}, "
               f"store {db}); /help for commands, /quit to end")
    if session.recovered:
        click.echo(f"recovered: {session.recovered}")
    loop = Chat(session, budget_tokens)
    try:
        while (line := read_line()) is not None:
            text = line.strip()
            if not text:
                continue
            if text.startswith("/") and not text.startswith("//"):
                if not loop.command(text):
                    break
                continue
            loop.send(text[1:] if text.startswith("//") else text)
    finally:
        store.close()
    click.echo(f"resume with: convolab chat --db {db} --user {user_id} --resume {session.conversation_id}")


def _start(strategy_name: str, budget_tokens: int, model: str, system_prompt: str, db: str, user_id: str,
           resume_id: str | None) -> tuple[Any, Any]:
    """The session (new, or resumed) and its store; bad arguments are ``InputError`` (exit 2)."""
    from convolab.clients import client
    from convolab.errors import ConvolabError
    from convolab.session import ChatSession
    from convolab.strategies.registry import make_strategy

    with _ctrl_c_to_this_thread():
        store = open_store(db)
    try:
        strategy = make_strategy(strategy_name, budget_tokens=budget_tokens)
        if resume_id:
            session = ChatSession.resume(store, resume_id, user_id=user_id, strategy=strategy, client=client())
        else:
            session = ChatSession(store=store, user_id=user_id, strategy=strategy, client=client(),
                                  system_prompt=system_prompt, model=model)
    except ConvolabError as e:
        store.close()
        raise InputError(str(e)) from None
    return session, store
