"""Request and response helpers every route shares: control headers, the test id,
reading a JSON body, error answers in a family's shape, masking secrets.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from quart import Request
from quart.wrappers import Response as QuartResponse
from werkzeug.exceptions import HTTPException

from harness import _json
from harness._credentials import DEFAULT_HEADERS, DEFAULT_QUERY
from harness.stream.provider_errors import Family, error_body, error_headers

__all__ = [
    "ADMIN_TOKEN_HEADER",
    "FAULTS_HEADER",
    "HEADER_PREFIX",
    "NORMALIZE_HEADER",
    "SCENARIO_HEADER",
    "SPEED_HEADER",
    "TEST_ID_HEADER",
    "UNREAD_BODY",
    "admin_error",
    "drain",
    "error_response",
    "mask_headers",
    "mask_query",
    "read_json",
    "shown",
    "test_id_of",
]

#: Control headers harness reads (all optional).
HEADER_PREFIX = "x-harness-"
SCENARIO_HEADER = "x-harness-scenario"
FAULTS_HEADER = "x-harness-faults"
SPEED_HEADER = "x-harness-speed"
NORMALIZE_HEADER = "x-harness-normalize"
TEST_ID_HEADER = "x-harness-test-id"
ADMIN_TOKEN_HEADER = "x-harness-admin-token"
#: Where the console is served (:mod:`harness.mock.console`).
CONSOLE_PATH = "/_harness/ui/"
#: The cookie that holds the admin token a browser gave once (``?token=``).
TOKEN_COOKIE = "harness_admin_token"

#: Headers whose values are secrets: the journal masks them (the recorder's list).
SECRET_HEADERS = DEFAULT_HEADERS

#: Answers given before the request body was read in full (too large, too slow): the
#: rest of it is never read, so the connection cannot carry another request.
UNREAD_BODY = frozenset({408, 413})


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, secret values masked (the scheme of a credential kept)."""
    out = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in SECRET_HEADERS:
            scheme, sep, _ = value.partition(" ")
            value = f"{scheme} ***" if sep and scheme.lower() in ("bearer", "basic") else "***"
        out[lowered] = value
    return out


def mask_query(query: Mapping[str, str]) -> dict[str, str]:
    """Query parameters with secret values (``?key=``) masked."""
    return {k: ("***" if k.lower() in DEFAULT_QUERY else v) for k, v in query.items()}


def error_response(family: Family, status: int, message: str, **headers: str) -> QuartResponse:
    """An error answer in ``family``'s shape; ``connection: close`` if the body was left unread."""
    body = _json.dumps(error_body(family, status, message), ascii=True)
    response = QuartResponse(body, status=status, content_type="application/json")
    for name, value in error_headers(family, status).items():
        response.headers[name] = value
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    if status in UNREAD_BODY:
        response.headers["connection"] = "close"
    return response


def admin_error(status: int, kind: str, message: str, **extra: Any) -> QuartResponse:
    """An error answer of an admin endpoint: ``{"error": {"type", "message", ...}}``."""
    body = json.dumps({"error": {"type": kind, "message": message, **extra}})
    return QuartResponse(body, status=status, content_type="application/json")


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def test_id_of(req: Request) -> str:
    """The caller's test id: the ``/t/{id}/`` prefix, the header, or ``?test_id=``."""
    # The query string is parsed only when there is one (most requests have none).
    return str(
        req.scope.get("harness.test_id")
        or req.headers.get(TEST_ID_HEADER)
        or (req.args.get("test_id", "") if req.scope.get("query_string") else "")
    )


async def drain(req: Request) -> None:
    """Read (and drop) the request body before answering early.

    Answering before the body is read makes the server close a keep-alive connection
    without saying so, and a client that reuses it fails on its next request.
    """
    with contextlib.suppress(HTTPException):  # too large: the connection closes anyway
        await req.get_data(as_text=False)


def shown(value: str, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters: names from requests are echoed in
    error messages, and a request may carry a megabyte-long one."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...' ({len(value):,} chars)"


async def read_json(req: Request) -> tuple[Any, tuple[int, str] | None]:
    """The request's JSON object, or ``(None, (status, message))`` saying what is wrong."""
    content_type = req.headers.get("content-type", "")
    if content_type and "json" not in content_type.split(";")[0].lower():
        await drain(req)
        return None, (415, f"Content-Type must be application/json, got {content_type!r}.")
    try:
        raw = await req.get_data(as_text=False)
    except HTTPException as exc:
        if exc.code == 413:
            limit = req.max_content_length
            return None, (413, f"Request body too large: the limit is {limit} bytes.")
        if exc.code == 408:  # Quart's BODY_TIMEOUT: a client dribbling its body
            return None, (408, f"The request body did not arrive within {req.body_timeout} s.")
        raise
    if not raw:
        return None, (400, "The request body is empty: expected a JSON object.")
    try:
        # Strict: NaN and Infinity are not JSON; the providers refuse them, and the
        # journal must stay JSON that any client can read.
        body = _json.loads(raw, strict=True)
    except UnicodeDecodeError:
        return None, (400, "The request body is not valid UTF-8 JSON.")
    except json.JSONDecodeError as exc:
        return None, (
            400,
            f"The request body is not valid JSON: {exc.msg} "
            f"at line {exc.lineno} column {exc.colno}.",
        )
    except ValueError as exc:  # NaN, Infinity, 4300+ digits, nested too deeply
        return None, (400, f"The request body is not valid JSON: {str(exc).split(';')[0]}.")
    if not isinstance(body, dict):
        return None, (400, f"The request body must be a JSON object, got {type(body).__name__}.")
    return body, None
