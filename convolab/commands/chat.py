"""``convolab chat``: a terminal chat on the embedded store, with tokens, cache and cost per turn."""

from __future__ import annotations

import click

from convolab.commands.common import db_option, open_store
from convolab.errors import ConvolabError
from convolab.strategies.registry import NAMES, make_strategy


def turn_line(turn) -> str:
    """One line of figures for a turn: what was sent, cached, and what it cost."""
    u = turn.usage
    p = turn.payload
    left = len(p.left_out) if p is not None else 0
    return (f"[in {u.input_tokens:,} | cache read {u.cache_read_input_tokens or 0:,} | "
            f"cache write {u.cache_creation_input_tokens or 0:,} | out {u.output_tokens:,} | "
            f"${turn.cost_usd + turn.side_cost_usd:.5f} | left out {left} messages]")


@click.command("chat")
@click.option("--strategy", "strategy_name", type=click.Choice(NAMES), default="summarizing", show_default=True)
@click.option("--budget-tokens", type=int, default=4000, show_default=True, help="For the budgeted strategies.")
@click.option("--model", default="claude-sonnet-4-6", show_default=True)
@click.option("--system", "system_prompt", default="You are a helpful assistant.", show_default=True)
@db_option
@click.option("--user", "user_id", default="me", show_default=True)
@click.option("--resume", "resume_id", default=None, help="Continue a stored conversation by id.")
def chat(strategy_name: str, budget_tokens: int, model: str, system_prompt: str, db: str, user_id: str,
         resume_id: str | None) -> None:
    """Chat in the terminal; every message is stored before the reply is shown. /quit ends."""
    from convolab.clients import client, client_kind
    from convolab.session import ChatSession

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
        raise click.UsageError(str(e)) from None
    click.echo(f"conversation {session.conversation_id} ({client_kind()} Claude, strategy {strategy.name}, "
               f"store {db}); /quit to end")
    if session.recovered:
        click.echo(f"recovered: {session.recovered}")
    try:
        while True:
            try:
                text = click.prompt("you", prompt_suffix="> ")
            except (EOFError, click.Abort):
                break
            if text.strip() in ("/quit", "/exit"):
                break
            try:
                turn = session.send(text)
            except ConvolabError as e:
                click.echo(f"error: {e}", err=True)
                continue
            click.echo(f"claude> {turn.reply}")
            click.echo(click.style(turn_line(turn), dim=True))
    finally:
        store.close()
    click.echo(f"resume with: convolab chat --db {db} --user {user_id} --resume {session.conversation_id}")
