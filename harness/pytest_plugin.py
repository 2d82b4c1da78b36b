"""The pytest plugin: the mock provider as fixtures, scenarios as markers.

Installing harness registers this module under the ``pytest11`` entry point, so every
pytest run loads it; it imports only pytest and harness's pure core (no web stack),
and starts nothing until a test uses one of its fixtures. ``docs/pytest.md`` is the user guide.

* ``harness_server`` (session): the server of this pytest process
  (:func:`harness.testing.run_server` on ``--harness-port``, default 0: a free port).
  Under pytest-xdist every worker is its own process, so every worker has its own
  server on its own port (a fixed port is refused with more than one worker). A
  conftest may override it: it must give a :class:`harness.testing.RunningServer`,
  which then serves the tests at the session speed.
* ``harness`` (function): a :class:`Harness` handle. Its base URLs carry the test's
  own id (``/t/{test_id}/``), so journal entries and ``responses`` sequences are kept
  per test without any header: unmodified clients are isolated through ``base_url``.
* ``@pytest.mark.scenario(NAME_OR_GLOB, ...)`` selects the test's scenario; a glob or
  several names parametrize the test over the matching scenarios.
* ``@pytest.mark.harness(speed=F, strict=False)`` per-test settings.
* After a test that used ``harness``, a strict teardown fails the test when one of
  its requests matched no scenario or a ``responses`` sequence was not used up.

Settings, and where each can be given. When a setting is given in several places, the
command line wins over a fixture override, which wins over a marker::

    setting          command line            fixture override   marker
    replay speed     --harness-speed F       harness_speed      @pytest.mark.harness(speed=F)
    strict teardown  -                       harness_strict     @pytest.mark.harness(strict=False)
    scenario folder  --harness-scenarios DIR -                  -
    golden folder    --harness-goldens DIR   -                  -
    server port      --harness-port N        harness_server     -

(A ``harness_server`` override binds its own port: the plugin cannot move it, so a
``--harness-port`` it does not listen on is an error rather than silently ignored.)

(``harness.strict = False`` inside a test also turns its teardown checks off.) The
scenario folder is needed at collection, when markers are expanded and before any
fixture runs, and the golden folder at the end of the session on the xdist
controller, where no fixture runs: both come from the command line only (put them in
``addopts``). There are no ini options: ``addopts`` is where a project sets these.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from harness.mock.scenario import Faults, Scenario, ScenarioSet
    from harness.testing import RunningServer

__all__ = ["Harness", "node_test_id", "select_scenarios"]

Family = Literal["openai", "anthropic", "gemini"]
GoldenKind = Literal["raw", "openai"]

#: How much earlier than its ``retry-after`` a retry may come and still count as
#: honouring it (clock granularity between the server thread and the client).
RETRY_AFTER_SLACK = 0.01

#: A function that the conformance kit hangs on its test functions: given the loaded
#: scenarios, the parameters of ``harness_scenario`` (see harness.conformance).
PARAMETERS_ATTR = "_harness_parameters"

_GLOB_CHARS = re.compile(r"[*?\[\]]")
_STATE = pytest.StashKey["_State"]()
_CALL_PASSED = pytest.StashKey[bool]()


# --- options, markers, hooks --------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``harness`` option group."""
    group = parser.getgroup("harness", "harness mock LLM provider")
    group.addoption(
        "--harness-scenarios",
        metavar="DIR",
        default=None,
        help="scenario folder to serve (default: harness's built-in library)",
    )
    group.addoption(
        "--harness-speed",
        metavar="F",
        type=_speed_option,
        default=None,
        help="pause factor for replays: 0 no pauses (default), 1 recorded timing; "
        "wins over the harness_speed fixture and the harness(speed=) marker",
    )
    group.addoption(
        "--harness-port",
        metavar="N",
        type=_port_option,
        default=0,
        help="port of the session server on 127.0.0.1 (default 0: a free port); "
        "refused with more than one xdist worker, which cannot share a port",
    )
    group.addoption(
        "--harness-goldens",
        metavar="DIR",
        default=None,
        help="golden folder for harness.assert_golden (default: tests/golden under rootdir)",
    )
    group.addoption(
        "--harness-update-goldens",
        action="store_true",
        default=False,
        help="write goldens instead of comparing (each test writes its own, atomically)",
    )
    group.addoption(
        "--harness-strict-goldens",
        action="store_true",
        default=False,
        help="fail the run when the golden folder has goldens of no loaded scenario",
    )


def _speed(value: object) -> float:
    """A speed factor: a finite number >= 0 (for the option, the marker and the fixture)."""
    import math

    try:
        speed = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        speed = -1.0
    if not (speed >= 0 and math.isfinite(speed)):
        raise ValueError(f"a harness speed is a finite number >= 0, got {value!r}")
    return speed


def _speed_option(value: str) -> float:
    import argparse

    try:
        return _speed(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port_option(value: str) -> int:
    """A TCP port for ``--harness-port``: an integer 0..65535 (0: a free one)."""
    import argparse

    from harness._args import port

    try:
        return port(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _xdist_workers(config: pytest.Config) -> int:
    """How many xdist workers this run has (1 without xdist or without distribution).

    On a worker, the count the controller started; on the controller, the execution
    nodes of ``-n`` / ``--tx`` (``-n auto`` is resolved by then, in xdist's
    ``pytest_cmdline_main``).
    """
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        return int(workerinput.get("workercount", 1))
    specs: list[str] = config.getoption("tx", None) or []
    if config.getoption("dist", "no") == "no" or config.getoption("collectonly"):
        return 1
    count = 0
    for spec in specs:  # "3*popen" is three nodes
        times, star, _ = spec.partition("*")
        count += int(times) if star and times.isdigit() else 1
    return max(count, 1)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers and this process's (lazy) state.

    Raises:
        pytest.UsageError: a fixed ``--harness-port`` with more than one xdist worker.
    """
    port: int = config.getoption("harness_port")
    workers = _xdist_workers(config)
    if port and workers > 1:
        raise pytest.UsageError(
            f"--harness-port {port} cannot serve {workers} xdist workers: every worker is "
            "its own process with its own server, and only one of them can listen on one "
            "port. Use --harness-port 0 (a free port per worker; clients take "
            "harness.base_url()) or -n 1."
        )
    config.addinivalue_line(
        "markers",
        "scenario(*names): the harness scenario(s) of this test; a glob or several names "
        "parametrize the test over the matching scenarios (ids = scenario names)",
    )
    config.addinivalue_line(
        "markers",
        "harness(speed=None, strict=True): per-test harness settings: the replay speed, and "
        "strict=False to skip the checks of unmatched requests and unused responses",
    )
    config.stash[_STATE] = _State(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Expand ``@pytest.mark.scenario`` (and the conformance kit) into parameters."""
    if "harness" not in metafunc.fixturenames:
        return
    parameters: Callable[[ScenarioSet], Sequence[Any]] | None = getattr(
        metafunc.function, PARAMETERS_ATTR, None
    )
    marker = metafunc.definition.get_closest_marker("scenario")
    if parameters is None and marker is None:
        return
    from harness.errors import HarnessError

    state = metafunc.config.stash[_STATE]
    where = f"{metafunc.definition.nodeid}: "
    if parameters is None:
        where += "@pytest.mark.scenario: "
    try:
        scenarios = state.scenarios()
        if parameters is not None:
            metafunc.parametrize("harness_scenario", parameters(scenarios))
            return
        assert marker is not None
        names = select_scenarios(scenarios, marker.args, state.describe_folder())
    except (HarnessError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise pytest.Collector.CollectError(f"{where}{exc}") from None
    if len(marker.args) == 1 and not _GLOB_CHARS.search(marker.args[0]):
        return  # one exact name: no parametrization, harness_scenario reads the marker
    metafunc.parametrize("harness_scenario", names, ids=names)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember whether the test itself passed: strict teardown checks only then."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_PASSED] = bool(report.passed)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the controller only: find the goldens no loaded scenario has."""
    config = session.config
    state = config.stash[_STATE]
    state.close()
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller reports, once
    folder = state.goldens()
    if not folder.is_dir():
        return
    from harness.errors import HarnessError
    from harness.mock.golden import unused_goldens

    try:
        state.unused = unused_goldens(state.scenarios(), folder)
    except HarnessError:
        return  # a broken scenario folder has already been reported
    if state.unused and config.getoption("harness_strict_goldens"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The unused-golden report (a warning, or a failure with --harness-strict-goldens)."""
    state = config.stash.get(_STATE, None)
    if state is None or not state.unused:
        return
    strict = config.getoption("harness_strict_goldens")
    folder = state.goldens()
    terminalreporter.section("harness: unused goldens", yellow=not strict, red=strict)
    terminalreporter.line(
        f"{len(state.unused)} golden file(s) in {folder} belong to no scenario in "
        f"{state.describe_folder()} (renamed or deleted scenarios?); harness never deletes "
        "them: remove them yourself."
        + (" This fails the run (--harness-strict-goldens)." if strict else "")
    )
    for path in state.unused:
        terminalreporter.line(f"  {path.relative_to(folder).as_posix()}")


# --- state of one pytest process ------------------------------------------------------


class _State:
    """This process's scenario set and servers, loaded and started on first use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.unused: list[Path] = []
        self._scenarios: ScenarioSet | None = None
        self._servers: dict[float, RunningServer] = {}
        self._speeds: dict[int, float] = {}
        self._stack = ExitStack()

    def folder(self) -> Path | None:
        value = self.config.getoption("harness_scenarios")
        return None if value is None else self.config.invocation_params.dir / str(value)

    def describe_folder(self) -> str:
        folder = self.folder()
        return "the built-in library" if folder is None else str(folder)

    def goldens(self) -> Path:
        value = self.config.getoption("harness_goldens")
        if value is None:
            return self.config.rootpath / "tests" / "golden"
        return self.config.invocation_params.dir / str(value)

    def scenarios(self) -> ScenarioSet:
        if self._scenarios is None:
            from harness.mock.scenario import load_scenarios

            self._scenarios = load_scenarios(self.folder())
        return self._scenarios

    def session_speed(self) -> float:
        speed: float | None = self.config.getoption("harness_speed")
        return 0.0 if speed is None else speed

    def port(self) -> int:
        port: int = self.config.getoption("harness_port")
        return port

    def server(
        self, speed: float, scenarios: ScenarioSet | None = None, port: int = 0
    ) -> RunningServer:
        """The server replaying at ``speed`` (one per speed, started on first use).

        It serves ``scenarios`` (default: the ``--harness-scenarios`` folder) on ``port``
        (0: a free one; only the session server is given ``--harness-port``).
        """
        if speed not in self._servers:
            from harness.testing import run_server

            served = self.scenarios() if scenarios is None else scenarios
            server = self._stack.enter_context(run_server(served, speed=speed, port=port))
            self._servers[speed] = server
            self._speeds[id(server)] = speed
        return self._servers[speed]

    def speed_of(self, server: RunningServer) -> float | None:
        """The speed of a server this plugin started (``None``: not one of ours)."""
        speed = self._speeds.get(id(server))
        return speed if speed is not None and self._servers.get(speed) is server else None

    def close(self) -> None:
        self._servers.clear()
        self._speeds.clear()
        self._stack.close()


def select_scenarios(scenarios: ScenarioSet, patterns: Sequence[object], where: str) -> list[str]:
    """The names that ``patterns`` (exact names or ``fnmatch`` globs) select, in load order.

    Raises:
        UsageError: no pattern given, a pattern is not a string, an exact name is not
            loaded, or a glob matches nothing (naming the closest scenarios).
    """
    import fnmatch

    from harness.errors import UsageError

    if not patterns:
        raise UsageError("give at least one scenario name or glob")
    chosen: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise UsageError(f"scenarios are selected by name, got {pattern!r}")
        if _GLOB_CHARS.search(pattern):
            found = [name for name in scenarios.names if fnmatch.fnmatchcase(name, pattern)]
            if not found:
                raise UsageError(
                    f"no scenario in {where} matches {pattern!r}."
                    f"{_closest(scenarios, _GLOB_CHARS.sub('', pattern))}"
                )
        elif scenarios.get(pattern) is not None:
            found = [pattern]
        else:
            raise UsageError(
                f"no scenario named {pattern!r} in {where}.{_closest(scenarios, pattern)}"
            )
        chosen.extend(name for name in found if name not in chosen)
    return chosen


def _closest(scenarios: ScenarioSet, name: str) -> str:
    close = scenarios.closest(name)
    return f" Closest: {', '.join(close)}." if close else ""


def node_test_id(nodeid: str) -> str:
    """The harness test id of a pytest node id: 16 hex digits of its SHA-256.

    Stable across runs and processes (so the same test has the same id on any xdist
    worker) and URL-safe.
    """
    return hashlib.sha256(nodeid.encode()).hexdigest()[:16]


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def harness_server(pytestconfig: pytest.Config) -> Iterator[RunningServer]:
    """The mock provider of this pytest process, at the session speed (``--harness-speed``).

    On 127.0.0.1, port ``--harness-port`` (default 0: a free one). Started on first
    use, stopped at the end of the session. Each xdist worker is its own process with
    its own server on its own free port (a fixed port is refused with several workers).

    A conftest may override this fixture: it must give a
    :class:`harness.testing.RunningServer` (``with run_server(...) as server: yield
    server``), which ``harness`` then uses for the tests at the session speed; see
    ``docs/pytest.md``.
    """
    state = pytestconfig.stash[_STATE]
    try:
        yield _start_session_server(state)
    finally:
        state.close()


def _start_session_server(state: _State) -> RunningServer:
    """The session server on ``--harness-port``; a port that cannot be bound fails the test
    with the port, the reason and the fix (no traceback: nothing in the test is wrong)."""
    from harness.errors import UsageError

    port = state.port()
    try:
        return state.server(state.session_speed(), port=port)
    except UsageError as exc:  # harness.mock.serve.bind: "cannot listen on HOST:PORT: why"
        if not port or "cannot listen" not in str(exc):
            raise  # a broken scenario folder, reported as it is
        reason = str(exc).split(" (pass --port", 1)[0]  # the CLI's hint, not pytest's
    # Outside the except block, so that the report does not chain the bind error.
    pytest.fail(
        f"--harness-port {port}: the harness server {reason}.\n"
        "To fix it: stop what holds the port (another pytest run, `harness serve`, ...), "
        "choose another, or pass --harness-port 0 for a free one.",
        pytrace=False,
    )


@pytest.fixture
def harness_scenario(request: pytest.FixtureRequest) -> str | None:
    """The name of this test's scenario: the one exact name of ``@pytest.mark.scenario``.

    A glob or several names parametrize this fixture directly (one test per scenario).
    """
    marker = request.node.get_closest_marker("scenario")
    if marker is not None and len(marker.args) == 1 and isinstance(marker.args[0], str):
        return marker.args[0]
    return None


def _marker_setting(request: pytest.FixtureRequest, name: str) -> Any:
    marker = request.node.get_closest_marker("harness")
    if marker is None:
        return None
    unknown = set(marker.kwargs) - {"speed", "strict"}
    if marker.args or unknown:
        from harness.errors import UsageError

        raise UsageError(
            f"{request.node.nodeid}: @pytest.mark.harness takes only the keywords speed= "
            f"and strict=, got {marker.args!r} {sorted(unknown)!r}"
        )
    return marker.kwargs.get(name)


@pytest.fixture
def harness_speed(request: pytest.FixtureRequest) -> float:
    """This test's replay speed: ``@pytest.mark.harness(speed=F)``, else the session's.

    Override this fixture (in a conftest or a module) to set a speed for many tests;
    ``--harness-speed`` on the command line wins over both.
    """
    speed = _marker_setting(request, "speed")
    if speed is None:
        return float(request.config.stash[_STATE].session_speed())
    return _speed(speed)


@pytest.fixture
def harness_strict(request: pytest.FixtureRequest) -> bool:
    """Whether this test's teardown checks its requests: ``harness(strict=...)``, else on."""
    strict = _marker_setting(request, "strict")
    return True if strict is None else bool(strict)


@pytest.fixture
def harness(
    request: pytest.FixtureRequest,
    harness_server: RunningServer,
    harness_scenario: str | None,
    harness_speed: float,
    harness_strict: bool,
) -> Iterator[Harness]:
    """This test's view of the mock provider: base URLs, journal, assertions, goldens.

    At teardown (when the test itself passed and ``strict`` is on), fails the test if
    one of its requests matched no scenario or a ``responses`` sequence it used was
    not used up.
    """
    config = request.config
    state = config.stash[_STATE]
    command_line: float | None = config.getoption("harness_speed")
    speed = _speed(harness_speed) if command_line is None else command_line
    session_speed = state.speed_of(harness_server)
    if session_speed is None:  # a conftest overrides harness_server
        _check_override(harness_server, state.port())
        session_speed = state.session_speed()
    if speed == session_speed:
        server = harness_server
    else:  # a server of the plugin's at that speed, with the session server's scenarios
        server = state.server(speed, harness_server.scenarios)
    scenario = None
    if harness_scenario is not None:
        scenario = server.scenarios.get(harness_scenario)
        if scenario is None:
            from harness.errors import UsageError

            raise UsageError(
                f"no scenario named {harness_scenario!r} in {state.describe_folder()}."
                f"{_closest(server.scenarios, harness_scenario)}"
            )
    test_id = node_test_id(request.node.nodeid)
    server.journal.reset(test_id)  # a rerun of the same test starts afresh
    handle = Harness(
        server,
        test_id=test_id,
        scenario=scenario,
        speed=speed,
        strict=harness_strict,
        goldens=state.goldens(),
        update_goldens=bool(config.getoption("harness_update_goldens")),
    )
    yield handle
    if not handle.strict or not request.node.stash.get(_CALL_PASSED, False):
        return
    problems = handle.problems()
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        pytest.fail(
            f"harness strict teardown: {request.node.nodeid} did not use the mock provider "
            f"as its scenarios say:\n{listing}\n"
            "Fix the test or the client. To skip this check for a test, mark it "
            "@pytest.mark.harness(strict=False) or set harness.strict = False in it.",
            pytrace=False,
        )


def _check_override(server: object, port: int) -> None:
    """Fail the test, saying what to do, when a ``harness_server`` override cannot work.

    It must be a :class:`harness.testing.RunningServer` (not the ``run_server(...)``
    context manager itself, a ``ServerThread`` or a URL), and listen on
    ``--harness-port`` when one is given: the plugin cannot move a server it did not
    start, so it says so instead of letting the test talk to the wrong port.
    """
    __tracebackhide__ = True
    from harness.testing import RunningServer

    if not isinstance(server, RunningServer):
        pytest.fail(
            "the harness_server fixture must give a harness.testing.RunningServer, got "
            f"{type(server).__name__}. A fixture that overrides it starts one with\n"
            "    with harness.testing.run_server(...) as server: yield server\n"
            "(scope='session'; see docs/pytest.md).",
            pytrace=False,
        )
    if port and server.port != port:
        pytest.fail(
            f"--harness-port {port} is given, but the harness_server fixture that overrides "
            f"harness's listens on port {server.port}: an override binds its own port.\n"
            'Pass port=pytestconfig.getoption("harness_port") to run_server in it, or leave '
            "--harness-port out.",
            pytrace=False,
        )


# --- the handle -----------------------------------------------------------------------


class Harness:
    """One test's handle on the mock provider (the ``harness`` fixture).

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

    def base_url(self, scenario: str | None = None, family: Family = "openai") -> str:
        """The ``base_url`` to give an SDK of ``family``, in this test's journal.

        ``{server}/t/{test_id}/s/{scenario}/v1`` for the OpenAI SDKs, without ``/v1``
        for the Anthropic and google-genai SDKs (they add their version themselves).
        ``scenario`` defaults to the test's marker scenario; with neither, the URL
        selects nothing and the scenarios' ``match`` rules decide.

        Raises:
            UsageError: ``scenario`` is not a loaded scenario (naming the closest).
        """
        name = scenario if scenario is not None else self._name()
        if name is not None and self.server.scenarios.get(name) is None:
            from harness.errors import UsageError

            raise UsageError(f"no scenario named {name!r}.{_closest(self.server.scenarios, name)}")
        return self.server.base_url(name, family, test_id=self.test_id)

    def requests(self) -> list[dict[str, Any]]:
        """This test's journal entries, oldest first (copies; see ``docs/scenarios.md``)."""
        return self.server.requests(self.test_id)

    def attempts(self, scenario: str | None = None) -> int:
        """How many requests this test sent (to ``scenario`` only, when given)."""
        return len(self._entries(scenario))

    def assert_attempts(self, n: int, scenario: str | None = None) -> None:
        """Assert that this test sent exactly ``n`` requests (to ``scenario``, when given)."""
        __tracebackhide__ = True
        entries = self._entries(scenario)
        if len(entries) != n:
            to = f" to {scenario}" if scenario else ""
            raise AssertionError(
                f"expected {n} request(s){to}, the client sent {len(entries)}"
                + self._listing(entries)
            )

    def assert_retry_after_honoured(self) -> None:
        """Assert that the client waited out every ``retry-after`` it was answered with.

        For each request answered with a ``retry-after`` (the answer's ``retry-after``
        or ``retry-after-ms`` header, or an ``http_error`` fault's ``retry_after``), the
        next request to the same scenario must start at least that many seconds later
        (journal times, with :data:`RETRY_AFTER_SLACK` of slack). Fails too when no
        such request was followed by a retry: then there was nothing to check.
        """
        __tracebackhide__ = True
        entries = self._entries(None)
        checked = 0
        early: list[str] = []
        for index, entry in enumerate(entries):
            wait = self._retry_after(entry)
            if wait is None:
                continue
            retry = next(
                (e for e in entries[index + 1 :] if e["scenario"] == entry["scenario"]), None
            )
            if retry is None:
                continue
            checked += 1
            gap = retry["time"] - entry["time"]
            if gap + RETRY_AFTER_SLACK < wait:
                early.append(
                    f"request {index + 1} ({entry['scenario']}, HTTP {entry['status']}) said "
                    f"retry-after {wait:g} s, the retry came after {gap:.3f} s"
                )
        if not checked:
            raise AssertionError(
                "no request of this test was answered with a retry-after and then retried: "
                "nothing to check" + self._listing(entries)
            )
        if early:
            raise AssertionError(
                "the client retried too early:\n  " + "\n  ".join(early) + self._listing(entries)
            )

    def assert_stopped_after_error(self) -> None:
        """Assert that the client sent no further request after its first error answer.

        An error answer is a request answered with HTTP status >= 400, cut by a fault
        (``disconnected_by_fault``), given an ``error_after``/``disconnect_after*``
        fault, or given the last answer of a scenario whose ``expect.error`` is set
        (an in-band error, a clean cut). Passes when no later request went to the same
        scenario. What the client did with the rest of the stream is not measurable
        here: the server writes the whole answer whatever the client reads. Fails too
        when no request got an error answer: then there was nothing to check.
        """
        __tracebackhide__ = True
        entries = self._entries(None)
        first = next((i for i, e in enumerate(entries) if self._is_error(e)), None)
        if first is None:
            raise AssertionError(
                "no request of this test was answered with an error: nothing to check"
                + self._listing(entries)
            )
        name = entries[first]["scenario"]
        later = [e for e in entries[first + 1 :] if e["scenario"] == name]
        if later:
            raise AssertionError(
                f"after the error answer to request {first + 1} ({name}, HTTP "
                f"{entries[first]['status']}, {entries[first]['outcome']}) the client sent "
                f"{len(later)} more request(s) to it" + self._listing(entries)
            )

    # -- goldens

    def assert_golden(self, data: bytes, name: str | None = None, kind: GoldenKind = "raw") -> None:
        """Assert that ``data`` is the golden ``<goldens>/<name>.<kind>.sse``.

        ``name`` is a scenario name (default: the test's scenario), so that the
        unused-golden report knows every golden; ``kind`` is ``raw`` (the provider's
        own format) or ``openai`` (OpenAI-compatible). Volatile values (ids,
        timestamps) are masked. With ``--harness-update-goldens`` the golden is
        written instead (atomically; never deleted).

        Raises:
            GoldenMismatch: the golden is missing or differs (with a unified diff).
            UsageError: no name and no marker scenario, or an unknown scenario name.
        """
        __tracebackhide__ = True
        from harness.errors import UsageError
        from harness.mock.golden import GoldenMismatch, golden_path
        from harness.mock.golden import assert_golden as check

        name = name if name is not None else self._name()
        if name is None:
            raise UsageError("assert_golden needs a scenario name (or @pytest.mark.scenario)")
        if self.server.scenarios.get(name) is None:
            raise UsageError(
                f"assert_golden: goldens are named after scenarios, and there is no scenario "
                f"{name!r}.{_closest(self.server.scenarios, name)}"
            )
        path = golden_path(self.goldens, name, kind)
        try:
            check(data, path, update=self.update_goldens)
        except GoldenMismatch as exc:
            if exc.diff:
                message = (
                    f"{path}: the output differs from the golden (run pytest with "
                    f"--harness-update-goldens to accept it)\n{exc.diff}"
                )
            else:
                message = (
                    f"no golden file {path}: run pytest with --harness-update-goldens to write it"
                )
            raise GoldenMismatch(message, path=path, diff=exc.diff, scenario=name) from None

    # -- the strict teardown

    def problems(self) -> list[str]:
        """What the strict teardown reports: unmatched requests, unused ``responses``."""
        entries = self._entries(None)
        out = [
            f"{entry['method']} {entry['path']} matched no scenario (404): "
            f"{entry.get('error', '')} Select one with harness.base_url(NAME) or "
            "@pytest.mark.scenario(NAME)."
            for entry in entries
            if entry["status"] == 404 and entry["outcome"] == "rejected"
        ]
        positions = list(self.server.journal.positions.items())
        for (test_id, name), used in positions:
            if test_id != self.test_id:
                continue
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

    def _entries(self, scenario: str | None) -> list[dict[str, Any]]:
        entries = self.requests()
        if scenario is None:
            return entries
        return [entry for entry in entries if entry["scenario"] == scenario]

    def _listing(self, entries: list[dict[str, Any]]) -> str:
        if not entries:
            return "\nthis test's journal is empty"
        start = entries[0]["time"]
        lines = [
            f"  {number}. +{entry['time'] - start:.3f}s {entry['method']} {entry['path']} -> "
            f"{entry['scenario'] or '(no scenario)'}"
            + (f" answer {entry['answer'] + 1}" if entry["answer"] is not None else "")
            + f": HTTP {entry['status']}, {entry['outcome']}"
            for number, entry in enumerate(entries, 1)
        ]
        return "\nthis test's journal:\n" + "\n".join(lines)

    def _answer(self, entry: dict[str, Any]) -> tuple[Scenario, int, Faults | None] | None:
        """The scenario, answer index and effective faults of a journaled request."""
        from harness.errors import HarnessError
        from harness.mock.replay import parse_faults

        name, index = entry["scenario"], entry["answer"]
        scenario = self.server.scenarios.get(name) if name else None
        if scenario is None or index is None:
            return None
        faults = scenario.answers[index].faults
        overlay = entry["headers"].get("x-harness-faults")
        if overlay:
            try:
                extra = parse_faults(overlay)
            except HarnessError:
                return scenario, index, faults  # rejected with a 400: no overlay applied
            faults = extra if faults is None else faults.merged(extra)
        return scenario, index, faults

    def _retry_after(self, entry: dict[str, Any]) -> float | None:
        found = self._answer(entry)
        if found is None:
            return None
        scenario, index, faults = found
        if faults is not None and faults.http_error is not None:
            return faults.retry_after
        headers = {k.lower(): v for k, v in scenario.answers[index].headers.items()}
        if "retry-after-ms" in headers:
            return _seconds(headers["retry-after-ms"], entry["time"], scale=0.001)
        if "retry-after" in headers:
            return _seconds(headers["retry-after"], entry["time"])
        return None

    def _is_error(self, entry: dict[str, Any]) -> bool:
        if entry["scenario"] is None:
            return False  # rejected by harness itself (the strict teardown reports it)
        if (entry["status"] or 0) >= 400 or entry["outcome"] == "disconnected_by_fault":
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
