"""The pytest plugin: the mock provider as fixtures, scenarios as markers.

Installing harness registers this module under the ``pytest11`` entry point, so every
pytest run loads it; it imports only pytest and harness's pure core (no web stack),
and starts nothing until a test uses one of its fixtures. It holds hooks, options,
markers and fixtures only: the handle and the scenario selection are
:mod:`harness.testing`'s, which works without pytest. ``docs/pytest.md`` is the user guide.

* ``harness_server`` (session): the server of this pytest process
  (:func:`harness.testing.run_server` on ``--harness-port``, default 0: a free port).
  Under pytest-xdist every worker is its own process, so every worker has its own
  server on its own port (a fixed port is refused with more than one worker). A
  conftest may override it: it must give a :class:`harness.testing.RunningServer`,
  which then serves the tests at the session speed.
* ``harness_mock`` (function): a :class:`harness.testing.Harness` handle. Its base
  URLs carry the test's own id (``/t/{test_id}/``), so journal entries and
  ``responses`` sequences are kept per test without any header: unmodified clients
  are isolated through ``base_url``. ``harness`` is its deprecated old name (a test
  parameter of that name hides the ``harness`` package); it warns.
* ``@pytest.mark.scenario(NAME_OR_GLOB, ...)`` selects the test's scenario; a glob or
  several names parametrize the test over the matching scenarios.
* ``@pytest.mark.harness(speed=F, strict=False)`` per-test settings.
* After a test that used ``harness_mock``, a strict teardown fails the test when one of
  its requests matched no scenario or a ``responses`` sequence was not used up.

Settings, and where each can be given. When a setting is given in several places, the
command line wins over a fixture override, which wins over a marker::

    setting          command line            fixture override   marker
    replay speed     --harness-speed F       harness_speed      @pytest.mark.harness(speed=F)
    strict teardown  -                       harness_strict     @pytest.mark.harness(strict=False)
    scenario folder  --harness-scenarios DIR -                  -
    added scenarios  --harness-add-scenarios DIR (repeatable: added to the folder above)
    kit reports      --harness-report DIR    -                  -
    golden folder    --harness-goldens DIR   -                  -
    server port      --harness-port N        harness_server     -

(A ``harness_server`` override binds its own port: the plugin cannot move it, so a
``--harness-port`` it does not listen on is an error rather than silently ignored.)

(``harness_mock.strict = False`` inside a test also turns its teardown checks off.) The
scenario folder is needed at collection, when markers are expanded and before any
fixture runs, and the golden folder at the end of the session on the xdist
controller, where no fixture runs: both come from the command line only (put them in
``addopts``). There are no ini options: ``addopts`` is where a project sets these.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.mock.scenario import ScenarioSet
    from harness.testing import Harness as Harness
    from harness.testing import RunningServer
    from harness.testing import node_test_id as node_test_id
    from harness.testing import select_scenarios as select_scenarios

# Kept importable from here for code written before they moved to harness.testing.
# Loaded on first access (module __getattr__): a run that uses no fixture of harness
# never imports harness.testing and what it loads (scenarios, YAML, pydantic).
__all__ = ["Harness", "node_test_id", "select_scenarios"]

#: The name of the fixture that gives a test its :class:`harness.testing.Harness`.
FIXTURE = "harness_mock"

_STATE = pytest.StashKey["_State"]()
_CALL_PASSED = pytest.StashKey[bool]()


def __getattr__(name: str) -> Any:
    """The names that moved to :mod:`harness.testing`, imported on first access."""
    if name in __all__:
        from harness import testing

        return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        "--harness-add-scenarios",
        metavar="DIR",
        action="append",
        default=[],
        help="a scenario folder to add to the served ones (repeatable; names must be unique)",
    )
    group.addoption(
        "--harness-report",
        metavar="DIR",
        default=None,
        help="write the conformance kit's results there: results.json, junit.xml, report.html",
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
    """A speed factor: a finite number >= 0 (for the option, the marker and the fixture).

    Raises:
        InvalidValueError: anything else (a ``ValueError`` too).
    """
    from harness._args import speed
    from harness.errors import InvalidValueError

    try:
        return speed(value)
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from exc.__cause__


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
            f"{FIXTURE}.base_url()) or -n 1."
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


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller: forget the kit results an interrupted run left behind."""
    config = session.config
    report = config.getoption("harness_report")
    if report is None or hasattr(config, "workerinput"):
        return
    import shutil

    shutil.rmtree(config.invocation_params.dir / str(report) / ".parts", ignore_errors=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Expand ``@pytest.mark.scenario`` (and the conformance kit) into parameters."""
    if FIXTURE not in metafunc.fixturenames:  # the closure: the old name's alias counts
        return
    from harness.testing import PARAMETERS_ATTR, is_glob, select_scenarios

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
            # The conformance kit's cells: a scenario, and a fault when the test takes one.
            argnames = "harness_scenario"
            if "harness_fault" in metafunc.fixturenames:
                argnames += ",harness_fault"
            metafunc.parametrize(argnames, parameters(scenarios))
            return
        assert marker is not None
        names = select_scenarios(scenarios, marker.args, state.describe_folder())
    except (HarnessError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise pytest.Collector.CollectError(f"{where}{exc}") from None
    if len(marker.args) == 1 and not is_glob(marker.args[0]):
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
    """On the controller only: find the goldens no loaded scenario has, and write the
    conformance kit's reports (each xdist worker leaves its results for it)."""
    config = session.config
    state = config.stash[_STATE]
    state.close()
    report = config.getoption("harness_report")
    if report is not None:
        _kit_results(config, config.invocation_params.dir / str(report))
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


def _kit_results(config: pytest.Config, folder: Path) -> None:
    """A worker writes its results under ``folder/.parts``; the controller (or a run
    without xdist) merges them with its own and writes the reports."""
    import json
    import platform
    import shlex

    from harness import __version__
    from harness.atomic import write_atomic
    from harness.conformance.report import write_reports
    from harness.conformance.results import CaseResult, Run
    from harness.conformance.runner import RESULTS

    parts = folder / ".parts"
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is not None:
        data = json.dumps([result.to_json() for result in RESULTS]).encode()
        write_atomic(parts / f"{worker}.json", data)
        return
    results = list(RESULTS)
    for part in sorted(parts.glob("*.json")) if parts.is_dir() else []:
        results.extend(CaseResult.from_json(item) for item in json.loads(part.read_bytes()))
        part.unlink()
    if parts.is_dir():
        parts.rmdir()
    if not results:
        return
    run = Run(
        results=sorted(results, key=lambda r: (r.client, r.route, r.scenario, r.fault)),
        harness=__version__,
        python=platform.python_version(),
        command="pytest " + shlex.join(config.invocation_params.args),
    )
    write_reports(run, folder)


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
            from harness.mock.scenario import combine_scenarios, load_scenarios

            base = self.config.invocation_params.dir
            added = [
                load_scenarios(base / str(folder))
                for folder in self.config.getoption("harness_add_scenarios")
            ]
            self._scenarios = combine_scenarios(load_scenarios(self.folder()), *added)
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


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def harness_server(pytestconfig: pytest.Config) -> Iterator[RunningServer]:
    """The mock provider of this pytest process, at the session speed (``--harness-speed``).

    On 127.0.0.1, port ``--harness-port`` (default 0: a free one). Started on first
    use, stopped at the end of the session. Each xdist worker is its own process with
    its own server on its own free port (a fixed port is refused with several workers).

    A conftest may override this fixture: it must give a
    :class:`harness.testing.RunningServer` (``with run_server(...) as server: yield
    server``), which ``harness_mock`` then uses for the tests at the session speed; see
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
def harness_mock(
    request: pytest.FixtureRequest,
    harness_server: RunningServer,
    harness_scenario: str | None,
    harness_speed: float,
    harness_strict: bool,
) -> Iterator[Harness]:
    """This test's view of the mock provider: base URLs, journal, assertions, goldens.

    A :class:`harness.testing.Harness` on the session server (or on a server of the
    test's speed), with this test's own id. At teardown (when the test itself passed
    and ``strict`` is on), fails the test if one of its requests matched no scenario
    or a ``responses`` sequence it used was not used up.
    """
    from harness.testing import Harness, get_scenario, node_test_id

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
        scenario = get_scenario(server.scenarios, harness_scenario, state.describe_folder())
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
            f"@pytest.mark.harness(strict=False) or set {FIXTURE}.strict = False in it.",
            pytrace=False,
        )


@pytest.fixture(name="harness")
def _deprecated_harness(request: pytest.FixtureRequest, harness_mock: Harness) -> Harness:
    """Deprecated: the old name of ``harness_mock`` (the same handle).

    A test parameter named ``harness`` hides the ``harness`` package inside the test
    (``harness.testing``, ``harness.errors`` ...), so the fixture was renamed.
    """
    path, line, _ = request.node.reportinfo()
    warnings.warn_explicit(  # reported at the test that asks for the old name
        f"the pytest fixture 'harness' is deprecated: a parameter of that name hides the "
        f"harness package in the test; use '{FIXTURE}' (the same handle) instead",
        DeprecationWarning,
        filename=str(path),
        lineno=(line or 0) + 1,
    )
    return harness_mock


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
