"""Every request a session makes is reserved before it is sent and booked once it is settled.

``Metering`` holds a conversation's place in the ledger (store, user, conversation, daily limit).
A request's worst case (``costs.request_worst_case_usd``) is reserved before it is sent, with or
without a daily limit, so a crash always leaves a trace: a reservation still open on ``resume``
is booked as an *unconfirmed* ledger row at that amount (the request may have been billed; the
ledger never under-counts). A request that fails is settled by what the failure says
(``failure_kind``): the API answered with an error, so nothing was billed and the reservation is
released; or no answer came (connection lost, timeout, interrupted), so it is booked unconfirmed.

``SideCallClient`` is the client a session hands its strategy: ``client.messages.create`` (and
``client.beta.messages.create``) count the request, reserve its worst case in the same daily
budget as the turn's own request (``BudgetExceeded`` before anything is sent), send it with an
``Idempotency-Key`` and book its usage in the ledger in one transaction once it is answered.
Summaries, memory extraction and any side call a strategy makes are covered without the
strategy knowing about budgets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from convolab.costs import CostTracker, request_worst_case_usd, usage_event
from convolab.model import new_id
from convolab.stores.base import Reservation, Store, UsageEvent
from convolab.tokens import TokenCounter, count_request

IDEMPOTENCY_HEADER = "Idempotency-Key"
REJECTED_STATUSES = (400, 413)  # the request itself is at fault: sending it again cannot help
SDK_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout")

#: (request, betas, extra headers) -> the SDK's Message: how a driver sends a side call.
Sender = Callable[[dict[str, Any], list[str], dict[str, str]], Any]


def failure_kind(error: BaseException) -> str:
    """``"rejected"``: the API refused the request for good (a 400 ``invalid_request_error``, a 413);
    ``"refused"``: it answered with another error (429, 5xx, 401, ...), nothing was billed;
    ``"unknown"``: no answer (connection error, timeout, interruption), it may have been billed."""
    import anthropic  # imported late: the SDK is slow to import

    if not isinstance(error, anthropic.APIStatusError):
        return "unknown"
    if error.status_code == 413 or (error.status_code == 400 and api_error(error)[0] == "invalid_request_error"):
        return "rejected"
    return "refused"


def api_error(error: Any) -> tuple[str | None, str]:
    """(error type, message) of an SDK ``APIStatusError``, from the API's error body."""
    body = getattr(error, "body", None)
    detail = body.get("error") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        return detail.get("type"), str(detail.get("message") or error)
    return None, str(error)


class Metering:
    """A conversation's requests in the ledger: reserve, book, settle."""

    def __init__(self, store: Store, user_id: str, conversation_id: str, *, daily_budget_usd: float | None = None,
                 tracker: CostTracker | None = None):
        self.store = store
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.daily_budget_usd = daily_budget_usd
        self.tracker = tracker or CostTracker(store)

    def day_start(self) -> datetime | None:
        """The start of the budget's day (None without a daily limit)."""
        return self.tracker.day_start() if self.daily_budget_usd is not None else None

    def reservation(self, request: dict[str, Any], input_tokens: int, *, kind: str = "reply",
                    message_id: str | None = None) -> Reservation:
        """The worst case of ``request`` (``input_tokens`` counted), under a new request id."""
        return Reservation(new_id(), self.user_id, request_worst_case_usd(request, input_tokens),
                           conversation_id=self.conversation_id, message_id=message_id, model=request["model"],
                           metadata={} if kind == "reply" else {"kind": kind})

    def reserve(self, reservation: Reservation) -> None:
        """Hold ``reservation`` (``BudgetExceeded``, and nothing held, past the daily limit)."""
        self.store.reserve(reservation, daily_limit_usd=self.daily_budget_usd, day_start=self.day_start())

    def book(self, reservation: Reservation, response: Any, *, kind: str) -> UsageEvent:
        """Record the usage of an answered request and release its reservation (one transaction)."""
        event = usage_event(self.user_id, reservation.model or response.model, response.usage,
                            request_id=reservation.request_id, conversation_id=self.conversation_id, kind=kind,
                            response_id=response.id)
        self.store.finish_turn(self.conversation_id, [], user_id=self.user_id, usage=[event],
                               release=reservation.request_id)
        return event

    def settle_failure(self, request_id: str, error: BaseException) -> None:
        """After a request failed: release its reservation when the API answered (nothing billed),
        else book it unconfirmed at its reserved amount."""
        if failure_kind(error) == "unknown":
            self.store.book_reservation(request_id, user_id=self.user_id)
        else:
            self.store.release(request_id, user_id=self.user_id)


class SideCallClient:
    """What a session passes to its strategy as ``client``: side calls metered (module docstring).

    ``messages.create`` and ``beta.messages.create`` take the SDK's arguments and return its
    ``Message``; ``events`` lists the ledger rows of the calls made so far (``take`` empties it).
    """

    def __init__(self, metering: Metering, counter: TokenCounter, kind: Callable[[], str], send: Sender):
        self.metering = metering
        self.counter = counter
        self.kind = kind
        self.send = send
        self.events: list[UsageEvent] = []
        self.messages = _Endpoint(self, beta=False)
        self.beta = _Beta(_Endpoint(self, beta=True))

    def create(self, kwargs: dict[str, Any], *, beta: bool) -> Any:
        """Reserve, send, book (the module docstring); the request's failure settles its reservation."""
        options = {k: kwargs.pop(k) for k in SDK_OPTIONS if k in kwargs}
        betas = list(kwargs.pop("betas", ())) if beta else []
        request = kwargs
        tokens = count_request(self.counter, model=request["model"], system=request.get("system"),
                               tools=request.get("tools"), messages=request["messages"])
        kind = self.kind()
        reservation = self.metering.reservation(request, tokens, kind=kind)
        self.metering.reserve(reservation)
        headers = {**(options.pop("extra_headers", None) or {}), IDEMPOTENCY_HEADER: reservation.request_id}
        try:
            response = self.send({**request, **options}, betas, headers)
        except BaseException as error:
            self.metering.settle_failure(reservation.request_id, error)
            raise
        self.events.append(self.metering.book(reservation, response, kind=kind))
        return response

    def take(self) -> list[UsageEvent]:
        """The events booked since the last ``take``."""
        events, self.events = self.events, []
        return events


class _Endpoint:
    def __init__(self, client: SideCallClient, *, beta: bool):
        self._client = client
        self._beta = beta

    def create(self, **kwargs: Any) -> Any:
        return self._client.create(dict(kwargs), beta=self._beta)


class _Beta:
    def __init__(self, messages: _Endpoint):
        self.messages = messages


__all__ = ["IDEMPOTENCY_HEADER", "Metering", "SideCallClient", "api_error", "failure_kind"]
