"""Pytest-free helpers: the mock provider in-process on a loopback port.

>>> from harness.testing import run_server
>>> with run_server() as server:  # doctest: +SKIP
...     client = openai.OpenAI(base_url=server.base_url("openai/text", "openai"), api_key="x")

The server runs on its own event loop in a daemon thread, bound to 127.0.0.1 on a
free port, with no pauses (speed 0) unless asked; a fault's stall is still kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.mock.app import DEFAULT_BODY_TIMEOUT, Sleep
from harness.mock.scenario import ScenarioSet, load_scenarios
from harness.mock.serve import DEFAULT_KEEP_ALIVE_TIMEOUT, ServerThread
from harness.stream.provider_errors import Family

__all__ = ["RunningServer", "run_server"]


class RunningServer:
    """A started server: its URL, the per-family base URLs, and its journal."""

    def __init__(self, thread: ServerThread) -> None:
        self._thread = thread
        self.url = thread.url
        self.journal = thread.journal

    @property
    def port(self) -> int:
        """The port the server listens on (the free one picked for ``port=0``)."""
        return int(self.url.rsplit(":", 1)[1])  # http://host:port or http://[v6]:port

    @property
    def scenarios(self) -> ScenarioSet:
        """The scenarios served now (a ``POST /_harness/reload`` swaps them)."""
        current: ScenarioSet = self._thread.app.config["HARNESS_SCENARIOS"]
        return current

    def base_url(
        self, scenario: str | None = None, family: Family = "openai", *, test_id: str = ""
    ) -> str:
        """The ``base_url`` to give an SDK of ``family`` to replay ``scenario``.

        OpenAI SDKs expect the ``/v1`` in their base URL; the Anthropic and
        google-genai SDKs add their version segment themselves. A ``test_id`` puts
        the requests in their own journal and sequence space (``/t/{test_id}/``), so
        an unmodified client is isolated without sending any header.
        """
        root = f"{self.url}/t/{test_id}" if test_id else self.url
        root = f"{root}/s/{scenario}" if scenario else root
        return f"{root}/v1" if family == "openai" else root

    def requests(self, test_id: str = "") -> list[dict[str, Any]]:
        """The journal entries recorded under ``test_id`` (a copy)."""
        # list() copies the deque in one step under the GIL; iterating it directly
        # would race with the server thread appending ("deque mutated during iteration").
        return [dict(entry) for entry in list(self.journal.entries.get(test_id, ()))]


@contextmanager
def run_server(
    scenarios: ScenarioSet | str | Path | None = None,
    *,
    speed: float = 0.0,
    host: str = "127.0.0.1",
    port: int = 0,
    sleep: Sleep | None = None,
    admin_token: str | None = None,
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> Iterator[RunningServer]:
    """Serve ``scenarios`` (a set, a folder, or the built-ins) for the ``with`` block.

    ``sleep`` replaces :func:`asyncio.sleep` for the server's pauses, so a test can
    record the pauses a replay asks for instead of waiting them out.
    ``keep_alive_timeout`` (idle connection, or a request head not yet whole) and
    ``body_timeout`` (a request body not yet whole) are the slow-client bounds; a test
    of slow clients sets them short. Scenarios served
    from a folder (or the built-ins) can be reloaded with ``POST /_harness/reload``;
    a :class:`ScenarioSet` cannot (it answers 409).

    Raises:
        ScenarioError: a scenario folder is broken (every problem listed).
        UsageError: the address cannot be bound.
    """
    reload = None
    if isinstance(scenarios, ScenarioSet):
        loaded = scenarios
    else:
        folder = scenarios
        loaded = load_scenarios(folder)

        def reload() -> ScenarioSet:
            return load_scenarios(folder)

    thread = ServerThread(
        loaded,
        host=host,
        port=port,
        speed=speed,
        sleep=sleep or asyncio.sleep,
        admin_token=admin_token,
        reload=reload,
        keep_alive_timeout=keep_alive_timeout,
        body_timeout=body_timeout,
    )
    thread.start()
    try:
        yield RunningServer(thread)
    finally:
        thread.stop()
