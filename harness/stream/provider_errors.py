"""Errors in each provider's own shape: HTTP error bodies and in-band stream error events.

A client's error handling keys on these shapes (the openai SDK reads
``error.message``/``type``/``code``, the anthropic SDK ``error.type``, google-genai
``error.status``), so harness never answers with a shape the client would not get
from the real provider. Pure data: no I/O.

Shapes (from the providers' API references):

* OpenAI: ``{"error": {"message", "type", "param", "code"}}``.
* Anthropic: ``{"type": "error", "error": {"type", "message"}}``; in a stream, the
  same object as ``event: error``.
* Gemini: ``{"error": {"code": <http status>, "message", "status": <RPC code>}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import _json
from harness.errors import UsageError
from harness.stream.formats import Provider

__all__ = [
    "ANTHROPIC_TYPES",
    "ERROR_SHAPES",
    "GEMINI_STATUSES",
    "OPENAI_TYPES",
    "ErrorShape",
    "Family",
    "error_body",
    "stream_error_event",
]

#: The API family of a route, which decides the shape of its errors: today one per
#: provider, so the same names as :data:`~harness.stream.formats.Provider`.
Family = Provider

#: OpenAI error ``type`` (and ``code``) per HTTP status.
OPENAI_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", None),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", None),
}

#: Anthropic error ``type`` per HTTP status (docs: "Errors", HTTP errors).
ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

#: Gemini (Google RPC) ``status`` per HTTP status.
GEMINI_STATUSES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES = {
    400: "Bad request.",
    404: "Not found.",
    413: "Request body too large.",
    415: "Unsupported content type.",
    429: "Rate limit reached. Please try again later.",
    500: "The server had an error while processing your request.",
    503: "The service is temporarily unavailable.",
    529: "Overloaded",
}


def error_body(
    family: Family, status: int, message: str | None = None, *, type: str | None = None
) -> dict[str, Any]:
    """The JSON body that ``family``'s API answers with for an HTTP ``status`` error.

    Args:
        family: whose shape to use (a key of :data:`ERROR_SHAPES`; another name is a
            :class:`~harness.errors.UsageError`).
        status: the HTTP status the body goes with.
        message: the human-readable message (a generic one per status by default).
        type: overrides the provider's error type (OpenAI ``type``, Anthropic
            ``error.type``, Gemini ``status``).
    """
    text = message or _DEFAULT_MESSAGES.get(status, f"HTTP {status}.")
    return _shape(family).body(status, text, type)


def stream_error_event(
    family: Family, *, type: str | None = None, message: str | None = None
) -> tuple[str | None, str]:
    """The in-band error event ``family`` sends inside an HTTP 200 stream.

    Returns:
        ``(event name or None, data)``: Anthropic names it ``error``; OpenAI and
        Gemini send a bare ``data:`` line.
    """
    return _shape(family).in_stream(type, message)


def _shape(family: str) -> ErrorShape:
    shape = ERROR_SHAPES.get(family)
    if shape is None:
        known = ", ".join(ERROR_SHAPES)
        raise UsageError(f"no error shape for family {family!r}; known: {known}")
    return shape


@dataclass(frozen=True)
class ErrorShape:
    """How one API family shapes its errors.

    Attributes:
        body: ``(status, message, type or None)`` -> the HTTP error body.
        in_stream: ``(type or None, message or None)`` -> the in-band error event
            ``(event name or None, data)`` it sends inside an HTTP 200 stream.
    """

    body: Callable[[int, str, str | None], dict[str, Any]]
    in_stream: Callable[[str | None, str | None], tuple[str | None, str]]


def _openai_body(status: int, text: str, type: str | None) -> dict[str, Any]:
    default_type, code = OPENAI_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": text, "type": type or default_type, "param": None, "code": code}}


def _openai_in_stream(type: str | None, message: str | None) -> tuple[str | None, str]:
    return None, _json.dumps(error_body("openai", 500, message, type=type or "server_error"))


def _anthropic_body(status: int, text: str, type: str | None) -> dict[str, Any]:
    kind = type or ANTHROPIC_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return {"type": "error", "error": {"type": kind, "message": text}}


def _anthropic_in_stream(type: str | None, message: str | None) -> tuple[str | None, str]:
    body = error_body("anthropic", 529, message or "Overloaded", type=type or "overloaded_error")
    return "error", _json.dumps(body)


def _gemini_body(status: int, text: str, type: str | None) -> dict[str, Any]:
    rpc = type or GEMINI_STATUSES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": status, "message": text, "status": rpc}}


def _gemini_in_stream(type: str | None, message: str | None) -> tuple[str | None, str]:
    body = error_body(
        "gemini",
        503,
        message or "The model is overloaded. Please try again later.",
        type=type or "UNAVAILABLE",
    )
    return None, _json.dumps(body)


#: The error shapes, by API family: adding a family is one entry here.
ERROR_SHAPES: dict[str, ErrorShape] = {
    "openai": ErrorShape(_openai_body, _openai_in_stream),
    "anthropic": ErrorShape(_anthropic_body, _anthropic_in_stream),
    "gemini": ErrorShape(_gemini_body, _gemini_in_stream),
}
