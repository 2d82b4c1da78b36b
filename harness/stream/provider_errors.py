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
* OpenAI Responses: HTTP errors in OpenAI's shape; in a stream, ``event: error`` with
  the documented Responses error event ``{"type": "error", "code", "message",
  "param", "sequence_number"}`` (openai-python's ``ResponseErrorEvent``).
* Azure OpenAI (chat and Responses): OpenAI's shape, except content filtering
  (``type="content_filter"``): ``{"error": {"message", "type": null, "param":
  "prompt", "code": "content_filter", "status", "innererror": {"code":
  "ResponsibleAIPolicyViolation", "content_filter_result": {...}}}}``. In a stream,
  the in-band errors of OpenAI chat and Responses respectively.
* Vertex AI: Gemini's shape on its Gemini routes (Google RPC errors), Anthropic's on
  its Claude routes (``rawPredict`` passes the model's errors through).
* Bedrock (Claude through ``InvokeModel``): AWS's REST-JSON errors, ``{"message"}``
  with the exception's name in the ``x-amzn-errortype`` header (botocore reads it up
  to the first ``:``), e.g. ``ThrottlingException:http://internal.amazon.com/coral/
  com.amazon.bedrock/``; every HTTP error of the model takes it. In a stream, the
  Anthropic error event, which the route re-frames as an exception message
  (:mod:`harness.stream.bedrock`).
* Bedrock Converse: the same HTTP errors; in a stream, an exception message of the
  ``ConverseStreamOutput`` union (:data:`CONVERSE_EXCEPTIONS`): the event name is the
  ``:exception-type``, the data ``{"message"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from harness import _json
from harness.errors import FaultSpecError, UsageError
from harness.stream.formats import Provider

__all__ = [
    "ANTHROPIC_TYPES",
    "AZURE_CONTENT_FILTER_RESULT",
    "BEDROCK_EXCEPTIONS",
    "CONVERSE_EXCEPTIONS",
    "ERROR_SHAPES",
    "GEMINI_STATUSES",
    "OPENAI_TYPES",
    "ErrorShape",
    "Family",
    "error_body",
    "error_headers",
    "error_status",
    "same_http_errors",
    "stream_error_event",
]

#: The API family of a route, which decides the shape of its errors: one per provider
#: (the names of :data:`~harness.stream.formats.Provider`), Azure OpenAI's chat and
#: Responses APIs, which stream OpenAI's formats but shape some errors their own way, and
#: Vertex AI's Gemini and Claude, which answer as Gemini and Anthropic do.
Family = (
    Provider
    | Literal["azure", "azure-responses", "vertex-gemini", "vertex-anthropic", "bedrock-anthropic"]
)
# (Bedrock Converse is a provider as well as a family: "bedrock-converse".)

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

#: Bedrock's exception (``x-amzn-errortype``) per HTTP status (bedrock-runtime's
#: service model: each exception's ``httpStatusCode``).
BEDROCK_EXCEPTIONS: dict[int, str] = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    529: "ServiceUnavailableException",
}

#: The exceptions of Bedrock's ``ConverseStreamOutput`` union (the only ones a Converse
#: stream may carry: botocore reports any other with an empty error code) and the HTTP
#: status each stands for (its ``httpStatusCode``).
CONVERSE_EXCEPTIONS: dict[str, int] = {
    "internalServerException": 500,
    "modelStreamErrorException": 424,
    "validationException": 400,
    "throttlingException": 429,
    "serviceUnavailableException": 503,
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
            ``error.type``, Gemini ``status``); for Azure, ``content_filter`` is its
            content-filter body (with Azure's message unless ``message`` is given).
    """
    text = message or _default_message(status)
    return _shape(family).body(status, text, type)


def error_headers(family: Family, status: int, *, type: str | None = None) -> dict[str, str]:
    """The headers ``family``'s API sends with an HTTP ``status`` error, beside its
    content type (``{}`` for most; Bedrock's ``x-amzn-errortype``). ``type`` as for
    :func:`error_body`."""
    shape = _shape(family)
    return shape.headers(status, type) if shape.headers is not None else {}


def error_status(family: Family, status: int) -> int:
    """The HTTP status ``family``'s API answers an error of ``status`` with.

    The status itself, except where the family's errors are typed by name and each
    type has its own status: Bedrock's ``x-amzn-errortype`` names an exception whose
    service model declares the status (a 529 from the model is a
    ``ServiceUnavailableException``, 503, which botocore retries; a 502 an
    ``InternalServerException``, 500).
    """
    shape = _shape(family)
    return shape.status(status) if shape.status is not None else status


def _default_message(status: int) -> str:
    return _DEFAULT_MESSAGES.get(status, f"HTTP {status}.")


def same_http_errors(provider: str, family: str) -> bool:
    """Whether an HTTP error body recorded from ``provider``'s API is already in
    ``family``'s shape (then it goes as recorded; else the family re-shapes it)."""
    return _shape(provider).format == _shape(family).format


def stream_error_event(
    family: Family,
    *,
    type: str | None = None,
    message: str | None = None,
    sequence_number: int | None = None,
) -> tuple[str | None, str]:
    """The in-band error event ``family`` sends inside an HTTP 200 stream.

    Args:
        family: whose shape to use (a key of :data:`ERROR_SHAPES`).
        type: the provider's error type (OpenAI ``type``, Anthropic ``error.type``,
            Gemini ``status``, Responses ``code``).
        message: the human-readable message (a generic one by default).
        sequence_number: the number this event takes in a stream that numbers its
            events (the Responses API's ``sequence_number``: the one after the last
            event sent); an error event without that field ignores it.

    Returns:
        ``(event name or None, data)``: Anthropic and Responses name it ``error``;
        OpenAI and Gemini send a bare ``data:`` line.
    """
    name, data = _shape(family).in_stream(type, message)
    if sequence_number is not None and '"sequence_number"' in data:
        event = _json.loads(data)
        if isinstance(event, dict) and "sequence_number" in event:
            event["sequence_number"] = sequence_number
            data = _json.dumps(event)
    return name, data


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
            ``(event name or None, data)`` it sends inside an HTTP 200 stream. In a
            format that numbers its events, the data has a ``sequence_number``
            field, which :func:`stream_error_event` sets.
        format: the HTTP error body shape by name; families that share it
            (OpenAI's chat, Responses and Azure routes) pass each other's recorded
            error bodies on as they are, the others re-shape them.
        headers: ``(status, type or None)`` -> the headers of an HTTP error answer
            (``None``: none beyond the content type).
        status: the status -> the status the family answers it with (``None``: the same).
    """

    body: Callable[[int, str, str | None], dict[str, Any]]
    in_stream: Callable[[str | None, str | None], tuple[str | None, str]]
    format: str
    headers: Callable[[int, str | None], dict[str, str]] | None = None
    status: Callable[[int], int] | None = None


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


def _responses_in_stream(type: str | None, message: str | None) -> tuple[str | None, str]:
    # The documented ResponseErrorEvent; stream_error_event sets its sequence_number.
    event = {
        "type": "error",
        "code": type or "server_error",
        "message": message or _DEFAULT_MESSAGES[500],
        "param": None,
        "sequence_number": 0,
    }
    return "error", _json.dumps(event)


#: Azure's ``innererror`` of a prompt its content filters blocked (per category,
#: whether it was filtered and at which severity).
AZURE_CONTENT_FILTER_RESULT: dict[str, dict[str, Any]] = {
    "hate": {"filtered": True, "severity": "high"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}

_AZURE_FILTERED = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy. Please modify your prompt and retry. To learn more about our "
    "content filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)


def _azure_body(status: int, text: str, type: str | None) -> dict[str, Any]:
    if type != "content_filter":
        return _openai_body(status, text, type)
    if text == _default_message(status):
        text = _AZURE_FILTERED
    error = {
        "message": text,
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": status,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                category: dict(result) for category, result in AZURE_CONTENT_FILTER_RESULT.items()
            },
        },
    }
    return {"error": error}


def _bedrock_body(status: int, text: str, type: str | None) -> dict[str, Any]:
    del status, type
    return {"message": text}


def _bedrock_exception(status: int) -> str:
    return BEDROCK_EXCEPTIONS.get(
        status, "InternalServerException" if status >= 500 else "ValidationException"
    )


def _bedrock_headers(status: int, type: str | None) -> dict[str, str]:
    name = type or _bedrock_exception(status)
    return {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


#: The status bedrock-runtime's service model declares for each exception.
_BEDROCK_STATUS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}


def _bedrock_status(status: int) -> int:
    return _BEDROCK_STATUS[_bedrock_exception(status)]


def _converse_in_stream(type: str | None, message: str | None) -> tuple[str | None, str]:
    name = type or "modelStreamErrorException"
    if name not in CONVERSE_EXCEPTIONS:
        known = ", ".join(CONVERSE_EXCEPTIONS)
        raise FaultSpecError(
            f"error_type {name!r} is not an exception of a Bedrock Converse stream "
            f"(botocore's ConverseStreamOutput); expected one of {known}"
        )
    text = message or "The model stream failed. Try your request again."
    return name, _json.dumps({"message": text})


#: The error shapes, by API family: adding a family is one entry here.
ERROR_SHAPES: dict[str, ErrorShape] = {
    "openai": ErrorShape(_openai_body, _openai_in_stream, "openai"),
    "anthropic": ErrorShape(_anthropic_body, _anthropic_in_stream, "anthropic"),
    "gemini": ErrorShape(_gemini_body, _gemini_in_stream, "gemini"),
    "openai-responses": ErrorShape(_openai_body, _responses_in_stream, "openai"),
    "azure": ErrorShape(_azure_body, _openai_in_stream, "openai"),
    "azure-responses": ErrorShape(_azure_body, _responses_in_stream, "openai"),
    "vertex-gemini": ErrorShape(_gemini_body, _gemini_in_stream, "gemini"),
    "vertex-anthropic": ErrorShape(_anthropic_body, _anthropic_in_stream, "anthropic"),
    "bedrock-anthropic": ErrorShape(
        _bedrock_body, _anthropic_in_stream, "bedrock", _bedrock_headers, _bedrock_status
    ),
    "bedrock-converse": ErrorShape(
        _bedrock_body, _converse_in_stream, "bedrock", _bedrock_headers, _bedrock_status
    ),
}
