"""An error answer of the simulated API: HTTP status, the API's error type and message.

The server turns an ``ApiError`` into the API's error JSON (``{"type": "error", "error": {"type",
"message", "details"?}, "request_id"}``), so the anthropic SDK raises the same exception class as
against the real API (400 ``invalid_request_error`` -> ``BadRequestError``, 404
``not_found_error`` -> ``NotFoundError``, 413 ``request_too_large``, 429 ``rate_limit_error``,
504 ``timeout_error``, 529 ``overloaded_error``).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error response: HTTP ``status``, API error ``type``, ``message``, optional ``details``
    (e.g. ``{"error_code": "enforced_spend_limit_reached"}``) and extra response headers."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers or {}
        self.details = details

    def body(self, request_id: str) -> dict[str, Any]:
        """The API's error JSON for this error."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"type": "error", "error": error, "request_id": request_id}


def invalid(message: str) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, "invalid_request_error", message)
