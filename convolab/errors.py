"""convolab's errors. Every message says what went wrong and what to do next.

    ConvolabError
    ├── UnknownModel          a model id not in data/models.toml (names the closest ids)
    ├── NoPriceYet            a time before a model's first price row (names the dates)
    ├── NotFound              a conversation (or other record) missing, or another user's
    ├── InvalidConversation   a message sequence or content block that cannot be used
    │   └── InvalidMessage    a message to send that the API would refuse (names the field's path)
    ├── ContextOverflow       the newest turn alone cannot fit the budget or the window
    ├── BudgetExceeded        a request would push a user's daily spend past the limit
    ├── StoreLocked           a database file is held by another process
    ├── StoreUnreadable       a database file that cannot be opened or written as a convolab store
    ├── SpendCapReached       a live evaluation stopped before passing its --max-usd (resumable)
    ├── NotRecorded           a replay needs responses its recording does not hold
    ├── InvalidDataset        a dataset record that cannot be read in its format (names the record)
    └── ConfigurationError    a missing optional dependency or a bad setting (a strategy knob,
                              max_tokens past the model's limit, a strategy state of another version)

Errors raised by the anthropic SDK (``anthropic.BadRequestError`` and friends) are not
wrapped: they carry the API's own status and error type, which is what users search for.
"""

from __future__ import annotations


class ConvolabError(Exception):
    """Base class of every error convolab raises on purpose."""


class UnknownModel(ConvolabError, KeyError):
    """A model id that the catalog in ``data/models.toml`` does not know."""

    def __init__(self, model: str, suggestions: list[str] | tuple[str, ...] = ()):
        self.model = model
        self.suggestions = list(suggestions)
        hint = f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        super().__init__(
            f"unknown model {model!r}.{hint} Known models and their prices are listed in "
            f"data/models.toml; add a row there (with its source) to use a new one."
        )

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class NoPriceYet(ConvolabError, ValueError):
    """A time before the first price row of a model."""


class NotFound(ConvolabError, LookupError):
    """A record that does not exist, or that belongs to another user (indistinguishable)."""

    def __init__(self, what: str, ident: str, *, hint: str = ""):
        self.what = what
        self.ident = ident
        super().__init__(
            f"{what} {ident!r} not found for this user. "
            + (hint or "Check the id and the user_id it was created with.")
        )


class InvalidConversation(ConvolabError, ValueError):
    """A message sequence or content block convolab cannot use as given."""


class InvalidMessage(InvalidConversation):
    """Content given to ``send`` that the API would refuse; nothing was stored.

    ``path`` names the bad field the way the content is written (``content[1].cache_control.type``),
    ``problem`` says what is wrong with it and what to do.
    """

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}. Nothing was stored; fix the message and send it again.")


class ContextOverflow(ConvolabError):
    """The newest turn alone does not fit into the token budget or the model's window."""

    def __init__(self, needed: int, available: int, *, what: str = "the newest turn", hint: str = ""):
        self.needed = needed
        self.available = available
        self.over_by = needed - available
        super().__init__(
            f"{what} needs {needed:,} input tokens but only {available:,} are available "
            f"(over by {self.over_by:,}). "
            + (hint or "Raise budget_tokens, lower max_tokens, shorten the message, or use a model with a larger window.")
        )


class BudgetExceeded(ConvolabError):
    """A request would push a user's spend for the day past its limit; it was not sent."""

    def __init__(self, user_id: str, spent_usd: float, reserved_usd: float, limit_usd: float, *,
                 kind: str = "reply"):
        self.user_id = user_id
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        self.limit_usd = limit_usd
        self.kind = kind  # what the refused request was for: "reply", "summary", "memory", ...
        what = "request" if kind == "reply" else f"{kind} request"
        super().__init__(
            f"daily budget for user {user_id!r} would be exceeded: spent ${spent_usd:.4f}, "
            f"this {what} may cost up to ${reserved_usd:.4f}, limit ${limit_usd:.4f}. "
            f"The {what} was not sent. Raise daily_budget_usd, lower max_tokens, or wait for the next day (UTC)."
        )


class StoreLocked(ConvolabError):
    """A database file is locked by another process."""


class StoreUnreadable(ConvolabError):
    """A database file that is not a convolab store, is damaged, or cannot be written."""


class InvalidDataset(ConvolabError, ValueError):
    """A dataset record (a LoCoMo or LongMemEval date, a turn) that cannot be read in its
    format; the message names the record and shows the expected form."""


class ConfigurationError(ConvolabError, ValueError):
    """A missing optional dependency or an invalid setting (a ``ValueError`` too: a bad value)."""


class SpendCapReached(ConvolabError):
    """A live evaluation stopped before a request that could take its spend past the cap.

    Nothing beyond the cap was sent; every answer so far is in the run's recording, so the same
    command with a higher ``--max-usd`` resumes where it stopped.
    """

    def __init__(self, spent_usd: float, next_usd: float, limit_usd: float):
        self.spent_usd = spent_usd
        self.next_usd = next_usd
        self.limit_usd = limit_usd
        super().__init__(
            f"stopped at ${spent_usd:.4f} of --max-usd {limit_usd:.2f}: the next request could cost up to "
            f"${next_usd:.4f}. Nothing more was sent; rerun with a higher --max-usd (and the same --cache) to resume.")


class NotRecorded(ConvolabError):
    """Requests a replay needs are not in its recording (``missing`` of ``total``)."""

    def __init__(self, path: str, missing: int, total: int):
        self.missing = missing
        self.total = total
        super().__init__(
            f"{missing} of {total} requests are not in {path}: it was recorded with other settings (dataset, "
            "strategies, models, judge, mode) or is incomplete; replay with the settings it was recorded with, "
            "or record the rest with --live --cache FILE")
