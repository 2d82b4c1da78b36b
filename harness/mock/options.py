"""How a mock provider behaves: one :class:`ServerOptions` value, from the CLI or a test.

:func:`harness.mock.app.create_app`, :func:`harness.mock.serve.serve_forever` and
:class:`harness.mock.serve.ServerThread` all take one; the defaults below are the
ones ``harness serve --help`` states (a test checks that they agree).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.mock.journal import DEFAULT_JOURNAL_MAX
from harness.mock.scenario import ScenarioSet

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_JOURNAL_MAX",
    "DEFAULT_KEEP_ALIVE_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "ServerOptions",
    "Sleep",
]

#: The largest request body accepted (bytes); larger gets the provider's 413.
DEFAULT_MAX_BODY = 10 * 1024 * 1024
#: Seconds a request body may take to arrive in full (Quart's ``BODY_TIMEOUT``);
#: a slower one gets the provider's 408 and the connection is closed.
DEFAULT_BODY_TIMEOUT = 60.0
#: Seconds a connection may stay idle, or take to send a request's head (headers
#: dribbled byte by byte included): Hypercorn's keep-alive timer runs from the
#: connection's start (or the end of its last answer) until a whole head has arrived.
#: Longer than the idle time of the SDKs' connection pools, so the server is not the
#: one that closes a connection a client is about to reuse.
DEFAULT_KEEP_ALIVE_TIMEOUT = 75.0

#: The coroutine function the server pauses with (tests inject a recorder).
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class ServerOptions:
    """Everything about a mock provider but its scenarios and its address.

    Attributes:
        speed: pause factor: 1 replays recorded timing, 0 sends without pauses (a
            fault's stall is kept whatever the speed); ``x-harness-speed`` overrides
            it per request.
        sleep: the coroutine used to pause.
        max_body: the largest request body accepted, in bytes.
        body_timeout: seconds a request body may take to arrive (then a 408).
        keep_alive_timeout: seconds a connection may stay idle or take to send a
            request's head.
        journal_max: journal entries kept per test id.
        admin_token: when set, the admin endpoints (``/_harness/*`` but health)
            answer only requests carrying it as ``x-harness-admin-token`` or
            ``authorization: Bearer`` (for a server reachable from other machines).
        reload: loads the scenarios again (from the folder they came from) for
            ``POST /_harness/reload``; without it that endpoint answers 409.
        list_command: the command that lists these scenarios, named in 404 hints
            (``harness list --scenarios DIR`` for a folder).
        on_request: called with one line per request once it has ended (method, path
            with secrets masked, scenario, status, how it ended, bytes, duration):
            ``harness serve --log-requests``.
        goldens: the golden files the console's Goldens view compares with
            (``None``: that view says how to give them).
        report: a conformance run (``results.json`` as a JSON object) the console's
            Report view opens.
        serve_clients: serve the API routes; ``harness ui`` turns them off, leaving the
            console and the admin endpoints.
        scenarios_dir: the folder the scenarios came from (``None``: the built-ins), for
            the commands the console shows.
    """

    speed: float = 0.0
    sleep: Sleep = asyncio.sleep
    max_body: int = DEFAULT_MAX_BODY
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT
    journal_max: int = DEFAULT_JOURNAL_MAX
    admin_token: str | None = None
    reload: Callable[[], ScenarioSet] | None = None
    list_command: str = "harness list"
    on_request: Callable[[str], None] | None = None
    goldens: Path | None = None
    report: Mapping[str, Any] | None = None
    serve_clients: bool = True
    scenarios_dir: Path | None = None
