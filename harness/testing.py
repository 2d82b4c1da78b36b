"""Pytest-free helpers: the mock provider in-process, and a test's handle on it.

>>> from harness.testing import Harness, run_server
>>> with run_server() as server:  # doctest: +SKIP
...     mock = Harness(server, test_id="my-test")
...     client = openai.OpenAI(base_url=mock.base_url("openai/text"), api_key="x")
...     ...  # use the client
...     mock.assert_attempts(1)

The server runs on its own event loop in a daemon thread, bound to 127.0.0.1 on a
free port, with no pauses (speed 0) unless asked; a fault's stall is still kept.
:class:`Harness` is one test's view of it (base URLs carrying the test's id, the
journal, assertions on the client's behaviour, goldens); the pytest plugin
(:mod:`harness.pytest_plugin`) is a thin layer of fixtures and hooks over this module,
which never imports pytest.

Errors: the assertions of :class:`Harness` raise :class:`ClientAssertionError`, both a
:class:`~harness.errors.HarnessError` and an ``AssertionError`` (a test framework
reports it as a failed assertion)::

    HarnessError
    └── ClientAssertionError    a client under test did not behave as asserted
"""

from __future__ import annotations

import asyncio
import email.utils
import fnmatch
import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from harness.errors import HarnessError, UsageError
from harness.mock import golden
from harness.mock.families import get_family
from harness.mock.journal import Entry
from harness.mock.options import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    ServerOptions,
    Sleep,
)
from harness.mock.scenario import Faults, Scenario, ScenarioSet, load_scenarios
from harness.mock.state import MockState
from harness.stream.provider_errors import Family

if TYPE_CHECKING:
    from harness.mock.serve import ServerThread

__all__ = [
    "RETRY_AFTER_SLACK",
    "ClientAssertionError",
    "Harness",
    "RunningServer",
    "get_scenario",
    "is_glob",
    "node_test_id",
    "run_server",
    "select_scenarios",
]

#: How much earlier than its ``retry-after`` a retry may come and still count as
#: honouring it (clock granularity between the server thread and the client).
RETRY_AFTER_SLACK = 0.01

#: The attribute that the conformance kit sets on its test functions: a function that,
#: given the loaded scenarios, returns the parameters of ``harness_scenario``; the
#: pytest plugin reads it at collection (see :mod:`harness.conformance`).
PARAMETERS_ATTR = "_harness_parameters"

_GLOB_CHARS = re.compile(r"[*?\[\]]")


class ClientAssertionError(HarnessError, AssertionError):
    """A client under test did not behave as asserted (too many requests, an early
    retry, a request after an error...). The message lists the test's journal.

    Also an ``AssertionError``, so that pytest and unittest report a failed assertion.
    """


# --- the server -------------------------------------------------------------------------


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
        state: MockState = self._thread.app.config["HARNESS"]
        return state.scenarios

    def base_url(
        self,
        scenario: str | None = None,
        family: Family = "openai",
        *,
        test_id: str = "",
        faults: str = "",
    ) -> str:
        """The ``base_url`` to give an SDK of ``family`` to replay ``scenario``.

        OpenAI SDKs expect the ``/v1`` in their base URL; the Anthropic and
        google-genai SDKs add their version segment themselves. A ``test_id`` puts
        the requests in their own journal and sequence space (``/t/{test_id}/``), so
        an unmodified client is isolated without sending any header; ``faults`` (an
        overlay as the ``x-harness-faults`` header takes it: ``error_after=2;
        chunking=byte``) applies to every request through that URL (``/f/{faults}/``).
        """
        root = f"{self.url}/t/{test_id}" if test_id else self.url
        root = f"{root}/f/{quote(faults, safe='=;,')}" if faults else root
        root = f"{root}/s/{scenario}" if scenario else root
        return root + get_family(family).sdk_suffix

    def requests(self, test_id: str = "") -> list[dict[str, Any]]:
        """The journal entries recorded under ``test_id``, as ``GET /_harness/requests``
        gives them (copies)."""
        return [entry.to_dict() for entry in self.journal.entries(test_id)]

    def entries(self, test_id: str = "") -> list[Entry]:
        """The journal entries recorded under ``test_id``, typed (copies)."""
        return self.journal.entries(test_id)


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
    # Imported here: the web stack loads when a server starts, not when a test module
    # (or the conformance kit) imports this one.
    from harness.mock.serve import ServerThread

    reload = None
    if isinstance(scenarios, ScenarioSet):
        loaded = scenarios
    else:
        folder = scenarios
        loaded = load_scenarios(folder)

        def reload() -> ScenarioSet:
            return load_scenarios(folder)

    options = ServerOptions(
        speed=speed,
        sleep=sleep or asyncio.sleep,
        admin_token=admin_token,
        reload=reload,
        keep_alive_timeout=keep_alive_timeout,
        body_timeout=body_timeout,
    )
    thread = ServerThread(loaded, options, host=host, port=port)
    thread.start()
    try:
        yield RunningServer(thread)
    finally:
        thread.stop()


# --- choosing scenarios -----------------------------------------------------------------


def select_scenarios(scenarios: ScenarioSet, patterns: Sequence[object], where: str) -> list[str]:
    """The names that ``patterns`` (exact names or ``fnmatch`` globs) select, in load order.

    ``where`` names the scenario folder in the messages (``"the built-in library"``).

    Raises:
        UsageError: no pattern given, a pattern is not a string, an exact name is not
            loaded, or a glob matches nothing (naming the closest scenarios).
    """
    if not patterns:
        raise UsageError("give at least one scenario name or glob")
    chosen: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise UsageError(f"scenarios are selected by name, got {pattern!r}")
        if is_glob(pattern):
            found = [name for name in scenarios.names if fnmatch.fnmatchcase(name, pattern)]
            if not found:
                raise UsageError(
                    f"no scenario in {where} matches {pattern!r}."
                    f"{_closest(scenarios, _GLOB_CHARS.sub('', pattern))}"
                )
        else:
            found = [get_scenario(scenarios, pattern, where).name]
        chosen.extend(name for name in found if name not in chosen)
    return chosen


def get_scenario(scenarios: ScenarioSet, name: str, where: str = "") -> Scenario:
    """The scenario named ``name`` (``where``, if given, names the folder in the message).

    Raises:
        UsageError: there is no such scenario (naming the closest).
    """
    scenario = scenarios.get(name)
    if scenario is None:
        folder = f" in {where}" if where else ""
        raise UsageError(f"no scenario named {name!r}{folder}.{_closest(scenarios, name)}")
    return scenario


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` is an ``fnmatch`` glob (``*``, ``?``, ``[...]``), not a name."""
    return _GLOB_CHARS.search(pattern) is not None


def _closest(scenarios: ScenarioSet, name: str) -> str:
    close = scenarios.closest(name)
    return f" Closest: {', '.join(close)}." if close else ""


def node_test_id(nodeid: str) -> str:
    """The harness test id of a pytest node id: 16 hex digits of its SHA-256.

    Stable across runs and processes (so the same test has the same id on any xdist
    worker) and URL-safe.
    """
    return hashlib.sha256(nodeid.encode()).hexdigest()[:16]


# --- the handle -----------------------------------------------------------------------


class Harness:
    """One test's handle on the mock provider (the pytest fixture ``harness_mock``).

    Without pytest, build one on a :func:`run_server` server with an id of your own
    choosing (call ``server.journal.reset(test_id)`` before reusing an id).

    Attributes:
        server: the running server this test uses.
        test_id: this test's id (``/t/{test_id}/`` in its base URLs).
        scenario: the scenario selected by ``@pytest.mark.scenario``, if any.
        speed: the replay speed of ``server``.
        strict: whether the teardown checks run (set it to ``False`` to skip them).
        goldens: the golden folder.
        update_goldens: whether :meth:`assert_golden` writes instead of comparing.
    """

    def __init__(
        self,
        server: RunningServer,
        *,
        test_id: str,
        scenario: Scenario | None = None,
        speed: float = 0.0,
        strict: bool = True,
        goldens: Path = Path("tests/golden"),
        update_goldens: bool = False,
    ) -> None:
        self.server = server
        self.test_id = test_id
        self.scenario = scenario
        self.speed = speed
        self.strict = strict
        self.goldens = goldens
        self.update_goldens = update_goldens

    # -- URLs and the journal

    @property
    def url(self) -> str:
        """The server's root for this test (``{server}/t/{test_id}``), for raw HTTP clients."""
        return f"{self.server.url}/t/{self.test_id}"

    def base_url(
        self, scenario: str | None = None, family: Family = "openai", *, faults: str = ""
    ) -> str:
        """The ``base_url`` to give an SDK of ``family``, in this test's journal.

        ``{server}/t/{test_id}/s/{scenario}/v1`` for the OpenAI SDKs, without ``/v1``
        for the Anthropic and google-genai SDKs (they add their version themselves).
        ``scenario`` defaults to the test's marker scenario; with neither, the URL
        selects nothing and the scenarios' ``match`` rules decide. ``faults``: an
        overlay applied to every request through the URL (``/f/{faults}/``).

        Raises:
            UsageError: ``scenario`` is not a loaded scenario (naming the closest).
        """
        name = scenario if scenario is not None else self._name()
        if name is not None:
            get_scenario(self.server.scenarios, name)
        return self.server.base_url(name, family, test_id=self.test_id, faults=faults)

    def requests(self) -> list[dict[str, Any]]:
        """This test's journal entries, oldest first (copies; see ``docs/scenarios.md``)."""
        return self.server.requests(self.test_id)

    def attempts(self, scenario: str | None = None) -> int:
        """How many requests this test sent (to ``scenario`` only, when given)."""
        return len(self._entries(scenario))

    def assert_attempts(self, n: int, scenario: str | None = None) -> None:
        """Assert that this test sent exactly ``n`` requests (to ``scenario``, when given).

        Raises:
            ClientAssertionError: it sent another number (the journal listed).
        """
        __tracebackhide__ = True
        entries = self._entries(scenario)
        if len(entries) != n:
            to = f" to {scenario}" if scenario else ""
            raise ClientAssertionError(
                f"expected {n} request(s){to}, the client sent {len(entries)}"
                + self._listing(entries)
            )

    def assert_retry_after_honoured(self) -> None:
        """Assert that the client waited out every ``retry-after`` it was answered with.

        For each request answered with a ``retry-after`` (the answer's ``retry-after``
        or ``retry-after-ms`` header, or an ``http_error`` fault's ``retry_after``), the
        next request to the same scenario must start at least that many seconds later
        (journal times, with :data:`RETRY_AFTER_SLACK` of slack).

        Raises:
            ClientAssertionError: a retry came too early; or no such request was
                followed by a retry (then there was nothing to check).
        """
        __tracebackhide__ = True
        entries = self._entries(None)
        checked = 0
        early: list[str] = []
        for index, entry in enumerate(entries):
            wait = self._retry_after(entry)
            if wait is None:
                continue
            retry = next((e for e in entries[index + 1 :] if e.scenario == entry.scenario), None)
            if retry is None:
                continue
            checked += 1
            gap = retry.time - entry.time
            if gap + RETRY_AFTER_SLACK < wait:
                early.append(
                    f"request {index + 1} ({entry.scenario}, HTTP {entry.status}) said "
                    f"retry-after {wait:g} s, the retry came after {gap:.3f} s"
                )
        if not checked:
            raise ClientAssertionError(
                "no request of this test was answered with a retry-after and then retried: "
                "nothing to check" + self._listing(entries)
            )
        if early:
            raise ClientAssertionError(
                "the client retried too early:\n  " + "\n  ".join(early) + self._listing(entries)
            )

    def assert_stopped_after_error(self) -> None:
        """Assert that the client sent no further request after its first error answer.

        An error answer is a request answered with HTTP status >= 400, cut by a fault
        (``disconnected_by_fault``), given an ``error_after``/``disconnect_after*``
        fault, or given the last answer of a scenario whose ``expect.error`` is set
        (an in-band error, a clean cut). Passes when no later request went to the same
        scenario. What the client did with the rest of the stream is not measurable
        here: the server writes the whole answer whatever the client reads.

        Raises:
            ClientAssertionError: a later request went to that scenario; or no request
                got an error answer (then there was nothing to check).
        """
        __tracebackhide__ = True
        entries = self._entries(None)
        first = next((i for i, e in enumerate(entries) if self._is_error(e)), None)
        if first is None:
            raise ClientAssertionError(
                "no request of this test was answered with an error: nothing to check"
                + self._listing(entries)
            )
        name = entries[first].scenario
        later = [e for e in entries[first + 1 :] if e.scenario == name]
        if later:
            raise ClientAssertionError(
                f"after the error answer to request {first + 1} ({name}, HTTP "
                f"{entries[first].status}, {entries[first].outcome}) the client sent "
                f"{len(later)} more request(s) to it" + self._listing(entries)
            )

    # -- goldens

    def assert_golden(
        self, data: bytes, name: str | None = None, kind: golden.Kind = "raw"
    ) -> None:
        """Assert that ``data`` is the golden ``<goldens>/<name>.<kind>.sse``.

        ``name`` is a scenario name (default: the test's scenario), so that the
        unused-golden report knows every golden; ``kind`` is ``raw`` (the provider's
        own format), ``openai`` (OpenAI chat, normalized) or ``responses`` (the
        Responses API, normalized). Volatile values (ids,
        timestamps) are masked. With ``update_goldens`` (pytest:
        ``--harness-update-goldens``) the golden is written instead (atomically; never
        deleted).

        Raises:
            GoldenMismatch: the golden is missing or differs (with a unified diff).
            UsageError: no name and no marker scenario, or an unknown scenario name.
        """
        __tracebackhide__ = True
        name = name if name is not None else self._name()
        if name is None:
            raise UsageError("assert_golden needs a scenario name (or @pytest.mark.scenario)")
        if self.server.scenarios.get(name) is None:
            raise UsageError(
                f"assert_golden: goldens are named after scenarios, and there is no scenario "
                f"{name!r}.{_closest(self.server.scenarios, name)}"
            )
        path = golden.golden_path(self.goldens, name, kind)
        try:
            golden.assert_golden(data, path, update=self.update_goldens)
        except golden.GoldenMismatch as exc:
            if exc.diff:
                message = (
                    f"{path}: the output differs from the golden (run pytest with "
                    f"--harness-update-goldens to accept it)\n{exc.diff}"
                )
            else:
                message = (
                    f"no golden file {path}: run pytest with --harness-update-goldens to write it"
                )
            raise golden.GoldenMismatch(message, path=path, diff=exc.diff, scenario=name) from None

    # -- the strict teardown

    def problems(self) -> list[str]:
        """What the strict teardown reports: unmatched requests, unused ``responses``."""
        out = [
            f"{entry.method} {entry.path} matched no scenario (404): "
            f"{entry.error or ''} Select one with harness_mock.base_url(NAME) or "
            "@pytest.mark.scenario(NAME)."
            for entry in self._entries(None)
            if entry.status == 404 and entry.outcome == "rejected"
        ]
        for name, used in self.server.journal.positions(self.test_id).items():
            scenario = self.server.scenarios.get(name)
            if scenario is None or used >= len(scenario.answers):
                continue
            statuses = " then ".join(str(answer.status) for answer in scenario.answers)
            out.append(
                f"scenario {name} has {len(scenario.answers)} responses ({statuses}) but "
                f"the client sent only {used} request(s) to it: the rest of the sequence "
                "was never requested (did the client give up instead of retrying?)."
            )
        return out

    # -- helpers

    def _name(self) -> str | None:
        return self.scenario.name if self.scenario is not None else None

    def _entries(self, scenario: str | None) -> list[Entry]:
        entries = self.server.entries(self.test_id)
        if scenario is None:
            return entries
        return [entry for entry in entries if entry.scenario == scenario]

    def _listing(self, entries: list[Entry]) -> str:
        if not entries:
            return "\nthis test's journal is empty"
        start = entries[0].time
        lines = [
            f"  {number}. +{entry.time - start:.3f}s {entry.method} {entry.path} -> "
            f"{entry.scenario or '(no scenario)'}"
            + (f" answer {entry.answer + 1}" if entry.answer is not None else "")
            + f": HTTP {entry.status}, {entry.outcome}"
            for number, entry in enumerate(entries, 1)
        ]
        return "\nthis test's journal:\n" + "\n".join(lines)

    def _answer(self, entry: Entry) -> tuple[Scenario, int, Faults | None] | None:
        """The scenario, answer index and effective faults of a journaled request."""
        name, index = entry.scenario, entry.answer
        scenario = self.server.scenarios.get(name) if name else None
        if scenario is None or index is None:
            return None
        # entry.faults is the answer's own merged with the x-harness-faults header; it is
        # None when the request was rejected before its answer was planned (a bad header
        # answered 400): then only the answer's own faults count.
        faults = entry.faults if entry.faults is not None else scenario.answers[index].faults
        return scenario, index, faults

    def _retry_after(self, entry: Entry) -> float | None:
        found = self._answer(entry)
        if found is None:
            return None
        scenario, index, faults = found
        if faults is not None and faults.http_error is not None:
            return faults.retry_after
        headers = {k.lower(): v for k, v in scenario.answers[index].headers.items()}
        if "retry-after-ms" in headers:
            return _seconds(headers["retry-after-ms"], entry.time, scale=0.001)
        if "retry-after" in headers:
            return _seconds(headers["retry-after"], entry.time)
        return None

    def _is_error(self, entry: Entry) -> bool:
        if entry.scenario is None:
            return False  # rejected by harness itself (the strict teardown reports it)
        if (entry.status or 0) >= 400 or entry.outcome == "disconnected_by_fault":
            return True
        found = self._answer(entry)
        if found is None:
            return False
        scenario, index, faults = found
        if faults is not None and any(
            value is not None
            for value in (
                faults.error_after,
                faults.disconnect_after,
                faults.disconnect_after_bytes,
            )
        ):
            return True
        last = index == len(scenario.answers) - 1
        return last and scenario.expect is not None and scenario.expect.error is not None


def _seconds(value: str, sent: float, scale: float = 1.0) -> float | None:
    """A ``retry-after`` value in seconds: a number, or an HTTP date (``None`` if neither).

    A date counts from ``sent``, when the answer was sent.
    """
    try:
        return max(float(value) * scale, 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - sent, 0.0)
