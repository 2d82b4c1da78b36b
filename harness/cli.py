"""The ``harness`` command line.

Each subcommand is a thin shell over a library function: it reads its arguments,
calls the library, and prints the result and an exit status. Subcommands import
what they need when they run, so that ``harness normalize`` loads only the pure core
and starts fast.

Exit codes (:data:`EXIT_CODES`, shown by ``--help``): 0 on success (``normalize``
included when the stream it produced ends in a ``stream_error`` chunk: reporting a
broken stream is its job; and any command whose reader closed standard output
early); 1 when an input could not be read or a check found a problem (``check``: a
golden differs, is missing, or is unused unless ``--warn-unused``; ``scan``: a
secret was found; ``record``: the cassette could not be written at the end); 2 for
unusable arguments; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import threading

    from harness.mock.scenario import ScenarioSet

__all__ = ["main"]

READ_SIZE = 65536

EXIT_CODES = """\
exit status: 0 on success; 1 when an input could not be read or a check found a
problem (a golden differs, a secret was found); 2 for unusable arguments (a bad flag,
nothing to scan); 130 on Ctrl-C. Each command's --help says more."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``harness`` command; returns the exit code."""
    given = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(given[0] if given else None)
    args = parser.parse_args(given)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.run(args, parser)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``harness normalize ... | head``): not an error of ours.
        _silence_stdout()
        return 0
    return code


if TYPE_CHECKING:
    #: What ``add_subparsers`` returns: each ``_add_<command>`` adds one subcommand to it.
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line. With ``command``, the first word given: a known command's is the
    only subcommand built (the one that parses; ~1.5 ms of ``harness serve``'s start);
    anything else (none, ``--help``, a typo) builds all of them, so that help and "invalid
    choice" list every command. Built whole, the commands whose arguments need a module
    of their own (import, shrink) get them only when named or for ``harness --help``."""
    from harness import __version__

    parser = argparse.ArgumentParser(
        prog="harness",
        description="Record/replay testing harness and mock LLM provider.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    alone = _commands(full=True).get(command or "")
    if alone is not None:
        alone(sub)
    else:
        for add in _commands(full=command is None).values():
            add(sub)
    return parser


def _commands(*, full: bool) -> dict[str, Callable[[_Subparsers], None]]:
    """Each command's name and what adds its subcommand, in the order help lists them;
    ``full``: import's and shrink's arguments too (built alone, a command always is)."""
    return {
        "normalize": _add_normalize,
        "serve": _add_serve,
        "ui": _add_ui,
        "list": _add_list,
        "show": _add_show,
        "check": _add_check,
        "record": _add_record,
        "convert": _add_convert,
        "import": functools.partial(_add_import, full=full),
        "scan": _add_scan,
        "conformance": _add_conformance,
        "shrink": functools.partial(_add_shrink, full=full),
    }


def _add_normalize(sub: _Subparsers) -> None:
    # The formats' names, not the adapters' registry: every command would import every
    # adapter to build its parser (tests/test_cli.py holds the two to the same names).
    from harness.stream.formats import PROVIDERS

    norm = sub.add_parser(
        "normalize",
        help="turn a raw provider stream capture into OpenAI-compatible SSE",
        description=(
            "Read a raw provider stream from FILE (or standard input): SSE, or for "
            "bedrock-converse the binary AWS event stream; and write the normalized "
            "OpenAI chat.completion.chunk stream to standard output as the input "
            "arrives. A broken input stream ends in a stream_error chunk and exit "
            "status 0."
        ),
        epilog=(
            "exit status: 0 when a stream was produced (one that ends in a stream_error "
            "chunk included), 1 when the input could not be read, 2 for unusable arguments."
        ),
    )
    norm.add_argument(
        "--provider", "-p", required=True, choices=sorted(PROVIDERS), help="format of the input"
    )
    norm.add_argument(
        "file", nargs="?", metavar="FILE", help="the capture to read (default: standard input)"
    )
    norm.add_argument(
        "--prompt-tokens",
        type=int,
        default=None,
        metavar="N",
        help="prompt size to report when the stream carries no usage (default 0)",
    )
    norm.add_argument(
        "--no-usage", action="store_true", help="do not emit the usage chunk before [DONE]"
    )
    norm.set_defaults(run=_normalize)


def _add_serve(sub: _Subparsers) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the mock provider on the scenarios (the built-in library by default)",
        description=(
            "Serve the scenarios over the OpenAI, Anthropic and Gemini APIs. Select a "
            "scenario with the path prefix /s/NAME/ in a client's base URL, or the "
            "x-harness-scenario header. Ctrl-C stops it."
        ),
    )
    _scenarios_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback; the admin endpoints then need a token",
    )
    serve.add_argument(
        "--admin-token",
        default=None,
        metavar="TOKEN",
        help="token for /_harness/* when remote (default: $HARNESS_ADMIN_TOKEN, else random)",
    )
    serve.add_argument(
        "--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)"
    )
    serve.add_argument(
        "--log-requests",
        action="store_true",
        help="print a line per request on standard error: method, path, scenario, status, "
        "how it ended (secrets masked)",
    )
    serve.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="pause factor: 1 = recorded timing (default), 0 = no pauses, 0.5 = twice as fast",
    )
    serve.add_argument(
        "--journal-max",
        type=_positive_int,
        default=None,
        metavar="N",
        help="journal entries kept per test id, the oldest dropped first (default 10000)",
    )
    serve.add_argument(
        "--keep-alive-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="close a connection idle this long, or still sending its request head (default 75)",
    )
    serve.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop: Python's asyncio (default) or uvloop (pip install "
        "'harness[fast]'; see docs/performance.md)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="answer 408 to a request body not whole after this long (default 60)",
    )
    _goldens_option(serve)
    serve.set_defaults(run=_serve, ui=False)


def _goldens_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--goldens",
        metavar="DIR",
        default=None,
        help="golden files the console's Goldens view compares with (default: tests/golden "
        "under the current directory, when it exists)",
    )


def _add_ui(sub: _Subparsers) -> None:
    ui = sub.add_parser(
        "ui",
        help="open the console on a scenario folder or a conformance report (no mock routes)",
        description=(
            "Serve the console (/_harness/ui/) on loopback without the API routes: "
            "the scenarios of PATH (a folder of scenario files; the built-in library by "
            "default) as timelines, their goldens, and, when PATH is a conformance "
            "report (results.json, or the folder that holds it), its matrix. "
            "harness serve serves the same console beside the mock provider, with the "
            "live journal. Ctrl-C stops it. See docs/console.md."
        ),
    )
    ui.add_argument(
        "path",
        nargs="?",
        default=None,
        metavar="PATH",
        help="a scenario folder, or a conformance report: results.json or its folder",
    )
    ui.add_argument(
        "--scenarios", metavar="DIR", default=None, help="scenario folder (with a report PATH)"
    )
    _goldens_option(ui)
    ui.add_argument(
        "--port", type=_port, default=8090, help="port (default 8090; 0 picks a free one)"
    )
    ui.add_argument(
        "--open", action="store_true", help="open the console in the default web browser"
    )
    ui.set_defaults(
        run=_ui,
        ui=True,
        host="127.0.0.1",
        allow_remote=False,
        admin_token=None,
        log_requests=False,
        speed=1.0,
        journal_max=None,
        keep_alive_timeout=None,
        body_timeout=None,
        loop="asyncio",
    )


def _add_list(sub: _Subparsers) -> None:
    listing = sub.add_parser(
        "list",
        help="list the scenarios: name, provider, description",
        description="Print one line per scenario: its name (what /s/NAME/ selects), the "
        "provider whose stream it holds, and its description.",
    )
    _scenarios_option(listing)
    listing.set_defaults(run=_list)


def _add_show(sub: _Subparsers) -> None:
    show = sub.add_parser(
        "show",
        help="show one scenario's answers, events and timing",
        description="Print a scenario's answers: status, headers, faults, and each event "
        "as it goes on the wire with the time it is sent at speed 1, then its expect. "
        "Where an event-counting fault lands (the answer's own, or --faults) is marked "
        "after the event it follows.",
    )
    _scenarios_option(show)
    show.add_argument("name", help="the scenario name, as `harness list` prints it")
    show.add_argument(
        "--faults",
        metavar="OVERLAY",
        default="",
        help="a fault overlay as x-harness-faults takes it (error_after=2; ...): "
        "marks where each fault lands",
    )
    show.set_defaults(run=_show)


def _add_check(sub: _Subparsers) -> None:
    check = sub.add_parser(
        "check",
        help="compare every scenario's rendering with its golden files",
        description=(
            "Render every scenario three times (raw: its own route, byte for byte; openai: "
            "the OpenAI chat route, normalized; responses: the Responses route, normalized), "
            "mask volatile values, and compare with the goldens DIR/<scenario>.raw.sse, "
            ".openai.sse and .responses.sse. A mismatch prints a "
            "unified diff. Exit 0 when every golden matches; 1 on a mismatch, a missing "
            "golden, or a golden no scenario uses (unless --warn-unused); 2 for unusable "
            "arguments. See docs/goldens.md."
        ),
    )
    _scenarios_option(check)
    check.add_argument(
        "--goldens",
        metavar="DIR",
        default=None,
        help="folder of golden files (default: tests/golden under the current directory)",
    )
    check.add_argument(
        "--update",
        action="store_true",
        help="write the goldens that are missing or differ (atomically; never deletes)",
    )
    check.add_argument(
        "--warn-unused",
        action="store_true",
        help="report goldens no scenario uses as a warning instead of a failure",
    )
    check.set_defaults(run=_check)


def _add_record(sub: _Subparsers) -> None:
    record = sub.add_parser(
        "record",
        help="run a recording proxy in front of a real provider, writing a vcrpy cassette",
        description=(
            "Listen on loopback and forward every request to UPSTREAM with httpx, passing "
            "each response chunk to the client as it arrives and recording the bytes, "
            "chunk boundaries and arrival times. Secrets are filtered before anything is "
            "written. Ctrl-C stops it and writes the cassette."
        ),
    )
    record.add_argument("--upstream", required=True, metavar="URL", help="the real API's base URL")
    record.add_argument("--cassette", required=True, metavar="PATH", help="cassette file to write")
    record.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    record.add_argument("--port", type=_port, default=8081, help="port (default 8081; 0: any free)")
    record.add_argument(
        "--record-mode",
        choices=["none", "once", "new_episodes", "all"],
        default="once",
        help="vcrpy's modes: once (default) refuses an existing cassette, new_episodes "
        "appends, all overwrites, none records nothing",
    )
    record.add_argument(
        "--filter-header",
        action="append",
        default=[],
        metavar="NAME",
        help="another request or response header to drop (repeatable)",
    )
    record.add_argument(
        "--filter-query",
        action="append",
        default=[],
        metavar="NAME",
        help="another query parameter to drop (repeatable)",
    )
    record.set_defaults(run=_record)


def _add_convert(sub: _Subparsers) -> None:
    convert = sub.add_parser(
        "convert",
        help="turn one recorded interaction of a cassette into a scenario",
        description=(
            "Read a vcrpy cassette (harness record, vcrpy or pytest-recording) and write one "
            "interaction as a version 1 scenario: events re-derived with the SSE decoder, "
            "timing kept, a suggested expect from the normalization pipeline."
        ),
    )
    convert.add_argument("cassette", metavar="CASSETTE", help="the cassette file")
    convert.add_argument(
        "-o", "--output", metavar="PATH", help="scenario file to write (default: standard output)"
    )
    convert.add_argument(
        "--interaction",
        type=int,
        default=0,
        metavar="N",
        help="which interaction, counting from 0 in recording order (default 0)",
    )
    convert.add_argument("--name", help="the scenario's name (default: from the output path)")
    convert.add_argument("--force", action="store_true", help="overwrite an existing scenario file")
    convert.set_defaults(run=_convert)


def _add_import(sub: _Subparsers, *, full: bool = True) -> None:
    imp = sub.add_parser(
        "import",
        help="turn a pasted or saved stream capture into a scenario",
        description=(
            "Read a capture (raw SSE as pasted or printed by curl -N, curl -i or curl -v "
            "output, a HAR file, or a binary AWS event-stream) from FILE or standard input "
            "('-') and write a version 1 scenario that replays the captured body byte for "
            "byte, with a suggested expect from the normalization pipeline."
        ),
    )
    if full:
        from harness.record.importer import add_import_arguments

        add_import_arguments(imp)
    imp.set_defaults(run=_import)


def _import(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.record.importer import run_import

    return run_import(args)


def _add_scan(sub: _Subparsers) -> None:
    scan = sub.add_parser(
        "scan",
        help="find secrets (API keys, bearer tokens, cookies) in cassettes and scenarios",
        description="Exit 1 if any file holds something that looks like a secret (for CI).",
    )
    scan.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders to scan (default: cassettes scenarios)",
    )
    scan.set_defaults(run=_scan)


def _add_conformance(sub: _Subparsers) -> None:
    parser = sub.add_parser(
        "conformance",
        help="run a shipped client adapter on every scenario under every fault, with reports",
        description=(
            "Run a client library (a shipped adapter: openai, anthropic, google-genai, "
            "boto3-converse, litellm...) against the built-in scenarios (plus yours) under "
            "the fault matrix, with expectations harness derives for each cell. Exit 0 when "
            "every cell passed or is a known failure, 1 otherwise, 2 for unusable arguments."
        ),
    )
    parser.add_argument("--client", help="a shipped client (see --list)")
    parser.add_argument(
        "--route", default=None, help="the API family to point it at (default: its own)"
    )
    parser.add_argument(
        "--faults",
        default="default",
        help="a fault set (none, default, stream) or fault names joined by ',' (default: default)",
    )
    parser.add_argument(
        "--scenarios",
        action="append",
        default=[],
        metavar="DIR",
        help="a scenario folder to add to the built-ins (repeatable)",
    )
    parser.add_argument(
        "--no-builtins", action="store_true", help="run only the --scenarios folders"
    )
    parser.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="GLOB",
        help="run only the scenarios whose name matches (repeatable)",
    )
    parser.add_argument("--known", metavar="FILE", help="known failures (YAML, see docs)")
    parser.add_argument(
        "--report", metavar="DIR", help="write results.json, junit.xml, report.html"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per case (default 5)")
    parser.add_argument("--workers", type=int, default=4, help="cases run at once (default 4)")
    parser.add_argument("--list", action="store_true", help="list the shipped clients and exit")
    parser.set_defaults(run=_conformance)


def _add_shrink(sub: _Subparsers, *, full: bool = True) -> None:
    parser = sub.add_parser(
        "shrink",
        help="reduce a scenario to a minimal one on which a command still fails",
        description=(
            "Delta-debug SCENARIO against COMMAND: serve smaller and smaller versions of it "
            "on a loopback server and keep those on which COMMAND still exits non-zero. "
            "Exit 0 when the minimal scenario was written, 1 when a file cannot be read or "
            "written, 2 for unusable arguments or when COMMAND passes on the original."
        ),
    )
    if full:
        from harness.shrink import add_shrink_arguments

        add_shrink_arguments(parser)
    parser.set_defaults(run=_shrink)


def _shrink(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.shrink import run_shrink

    return run_shrink(args)


def _conformance(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.conformance.command import list_clients, run_command

    if args.list:
        return list_clients()
    return run_command(args)


def _scenarios_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenarios",
        metavar="DIR",
        default=None,
        help="folder of scenario YAML files (default: the built-in library)",
    )


def _number(
    text: str, *, cast: type[int] | type[float], low: float, inclusive: bool, noun: str
) -> float:
    """An argparse value: ``cast(text)``, finite, and at least ``low`` (above it when
    not ``inclusive``)."""
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
    if not (low <= value if inclusive else low < value) or value == float("inf"):
        bound = f"{'>=' if inclusive else '>'} {low:g}"
        raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}")
    return value


def _speed(text: str) -> float:
    """An argparse value: a replay speed factor, a finite number >= 0."""
    from harness._args import speed

    try:
        return speed(text)
    except ValueError as exc:
        # With a cause (float()'s own error) it is not a number at all; else out of range.
        bound = "" if exc.__cause__ is not None else " >= 0"
        raise argparse.ArgumentTypeError(f"expected a finite number{bound}, got {text!r}") from None


def _port(text: str) -> int:
    """An argparse value: a TCP port, 0 (any free port) to 65535."""
    from harness._args import port

    try:
        return port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_positive_int = functools.partial(_number, cast=int, low=1, inclusive=True, noun="a number")
_positive_float = functools.partial(
    _number, cast=float, low=0, inclusive=False, noun="a number of seconds"
)


def _load(args: argparse.Namespace) -> ScenarioSet | None:
    from harness.errors import ScenarioError
    from harness.mock.scenario import load_scenarios

    try:
        return load_scenarios(args.scenarios)
    except ScenarioError as exc:
        print(f"harness {args.command}: {exc}", file=sys.stderr)
        return None


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import gc

    # Start-up (the web stack's imports, the routes, the library) makes ~45,000
    # objects that live as long as the server and almost no garbage; the cyclic
    # collector, set off again and again by that growth, would go over all of them:
    # ~15 ms of a ~190 ms start (docs/performance.md). It is off until the socket
    # listens; then what start-up made is frozen (never scanned again) and collection
    # resumes (_ready), or resumes here if the server never got that far. A caller that
    # had turned the collector off itself (main() called in its process) keeps it off.
    args.collect_once_ready = gc.isenabled()
    gc.disable()
    try:
        return _serve_with_signals(args)
    finally:
        if args.collect_once_ready:
            gc.enable()


def _serve_with_signals(args: argparse.Namespace) -> int:
    import signal
    import threading

    # Ctrl-C or SIGTERM at any moment of start-up (imports, loading, binding) stops the
    # server as soon as it could serve, instead of racing asyncio's own SIGINT handling
    # (a signal that cancelled the start-up task could be lost, and the server ran on).
    stopping = threading.Event()
    kept = {
        sig: signal.signal(sig, lambda *_: stopping.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return _serve_until_stopped(args, stopping)
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def _ui(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``harness ui PATH``: PATH is a report (results.json or its folder) or scenarios."""
    args.report = None
    if args.path is not None:
        path = Path(args.path)
        found = path / "results.json" if path.is_dir() else path
        if path.is_file() or found.is_file():
            from harness.conformance.report import load_run
            from harness.errors import HarnessError

            try:
                args.report = load_run(found).to_json()
            except (HarnessError, OSError, ValueError) as exc:
                print(f"harness ui: {found}: {exc}", file=sys.stderr)
                return 2
        elif path.is_dir():
            if args.scenarios is not None:
                print(
                    "harness ui: give the scenario folder once (PATH or --scenarios)",
                    file=sys.stderr,
                )
                return 2
            args.scenarios = str(path)
        else:
            print(f"harness ui: {path}: no such file or folder", file=sys.stderr)
            return 2
    return _serve(args, parser)


def _serve_until_stopped(args: argparse.Namespace, stopping: threading.Event) -> int:
    from harness.errors import UsageError
    from harness.mock.app import unserved_match_paths
    from harness.mock.serve import is_loopback, serve_forever

    token = None
    if not is_loopback(args.host):
        if not args.allow_remote:
            print(
                f"harness serve: {args.host} is reachable from other machines; pass "
                "--allow-remote to mean it (the default, 127.0.0.1, is not)",
                file=sys.stderr,
            )
            return 2
        import secrets

        given = args.admin_token or os.environ.get("HARNESS_ADMIN_TOKEN")
        token = given or secrets.token_urlsafe(24)
        shown = "the token you gave" if given else token  # never echo a user's secret
        print(
            f"harness serve: WARNING: listening on {args.host}, reachable from other "
            f"machines; /_harness/* needs the header x-harness-admin-token: {shown}",
            file=sys.stderr,
        )
    scenarios = _load(args)
    if scenarios is None:
        return 1
    for warning in unserved_match_paths(scenarios):
        print(f"harness serve: warning: {warning}", file=sys.stderr)
    if not scenarios:
        where = args.scenarios or "the built-in library"
        print(
            f"harness serve: warning: no scenarios in {where}: every request will get a 404 "
            "(scenario files end in .yaml or .yml)",
            file=sys.stderr,
        )

    goldens = Path(args.goldens) if args.goldens else Path("tests", "golden")
    if args.goldens and not goldens.is_dir():
        print(f"harness {args.command}: --goldens {goldens}: not a folder", file=sys.stderr)
        return 2

    options = _server_options(args, token, goldens)
    try:
        serve_forever(
            scenarios,
            options,
            host=args.host,
            port=args.port,
            on_ready=functools.partial(_ready, args, scenarios),
            stop_requested=stopping,
            loop=args.loop,
        )
    except UsageError as exc:
        print(f"harness serve: {exc}", file=sys.stderr)
        return 2
    print("harness: stopped", file=sys.stderr)
    return 0


def _server_options(args: argparse.Namespace, token: str | None, goldens: Path) -> Any:
    from harness.mock.options import ServerOptions
    from harness.mock.scenario import load_scenarios

    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.log_requests else None
    # The defaults live in harness.mock.options; only what was given is passed.
    bounds = {
        name: value
        for name in ("keep_alive_timeout", "body_timeout", "journal_max")
        if (value := getattr(args, name)) is not None
    }
    return ServerOptions(
        speed=args.speed,
        admin_token=token,
        reload=lambda: load_scenarios(args.scenarios),
        list_command=_list_command(args),
        on_request=log,
        goldens=goldens.resolve() if goldens.is_dir() else None,
        report=getattr(args, "report", None),
        serve_clients=not args.ui,
        scenarios_dir=Path(args.scenarios).resolve() if args.scenarios else None,
        **bounds,
    )


def _ready(args: argparse.Namespace, scenarios: ScenarioSet, url: str) -> None:
    """What ``harness serve`` and ``harness ui`` print once the socket listens (and
    the cyclic collector, off during start-up, back on: see :func:`_serve`)."""
    import gc

    if getattr(args, "collect_once_ready", False):
        gc.freeze()
        gc.enable()
    from harness._text import plural

    console = f"{url}/_harness/ui/"
    count = len(scenarios)
    if args.ui:
        print(f"harness: console on {console}", flush=True)
        print(f"  {plural(count, 'scenario')}; Ctrl-C to stop.", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(console)
        return
    print(f"harness: serving {plural(count, 'scenario')} on {url}", flush=True)
    for line in _base_urls(scenarios, url):
        print(f"  {line}", flush=True)
    print(f"  console:   {console}", flush=True)
    print("  Ctrl-C to stop.", flush=True)


def _base_urls(scenarios: ScenarioSet, url: str) -> list[str]:
    """A ready-to-use base URL per route, each naming a scenario that exists (a ``text``
    one where there is one); a route with no scenario it can serve is left out."""
    from harness.mock.families import FAMILIES

    out = []
    for family in (family for family in FAMILIES if family.listed):
        # Its own provider's scenarios first; a family that renders any provider's
        # stream falls back to any scenario.
        output = family.output
        own = [s.name for s in scenarios if s.provider == output.provider]
        if not own:
            own = [s.name for s in scenarios if output.replays(s.provider)]
        if not own:
            continue
        name = next((n for n in own if n.endswith("/text") or n == "text"), own[0])
        where = f"{family.sdk_option}={url}/s/{name}{family.sdk_suffix}"
        out.append(f"{family.label + ':':<10} {where}")
    return out


def _list_command(args: argparse.Namespace) -> str:
    """How to list the scenarios being served, for 404 hints."""
    if args.scenarios is None:
        return "harness list"
    import shlex

    return f"harness list --scenarios {shlex.quote(args.scenarios)}"


def _list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    scenarios = _load(args)
    if scenarios is None:
        return 1
    width = max((len(s.name) for s in scenarios), default=4)
    kinds = max((len(s.provider) for s in scenarios), default=9)
    for scenario in scenarios:
        print(f"{scenario.name:<{width}}  {scenario.provider:<{kinds}}  {scenario.description}")
    return 0


def _show(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.errors import FaultSpecError
    from harness.mock.replay import parse_faults

    scenarios = _load(args)
    if scenarios is None:
        return 1
    scenario = scenarios.get(args.name)
    if scenario is None:
        close = scenarios.closest(args.name)
        hint = f"; closest: {', '.join(close)}" if close else ""
        print(f"harness show: no scenario named {args.name!r}{hint}", file=sys.stderr)
        return 2
    try:
        overlay = parse_faults(args.faults) if args.faults else None
    except FaultSpecError as exc:
        print(f"harness show: --faults: {exc}", file=sys.stderr)
        return 2
    print(f"{scenario.name}  ({scenario.provider})")
    if scenario.description:
        print(f"  {scenario.description}")
    if scenario.path is not None:
        print(f"  file: {scenario.path}")
    for number, answer in enumerate(scenario.answers, 1):
        if len(scenario.answers) > 1:
            print(f"answer {number} of {len(scenario.answers)}:")
        _show_answer(scenario, answer, overlay)
    if scenario.expect is not None:
        print(f"expect: {scenario.expect.model_dump(exclude_none=True)}")
    return 0


def _show_answer(scenario: Any, answer: Any, overlay: Any) -> None:
    from harness import _json
    from harness.mock.replay import EVENTSTREAM_PROVIDERS, answer_steps, encode_step, fault_marks
    from harness.mock.scenario import Faults

    print(f"  HTTP {answer.status}" + (f"  headers: {answer.headers}" if answer.headers else ""))
    faults = (answer.faults or Faults.unchecked()).merged(overlay)
    if faults.active:
        print(f"  faults: {faults.model_dump(exclude_defaults=True)}")
    if answer.events is None:
        print(f"  body: {answer.body!r}"[:400])
        return
    notes = {
        "http_error": "this answer is replaced by an HTTP error",
        "event_ids": "every event starts with id: 1, 2, ...",
        "drop_usage": "the provider's usage is removed from every event",
        "chunking": f"the bytes are re-cut into writes ({faults.chunking})",
    }
    for name, note in notes.items():
        if name in faults.model_dump(exclude_defaults=True):
            print(f"  ──▶ {name}: {note}")
    marks = fault_marks(answer_steps(scenario, answer), faults, scenario.provider)
    for mark in marks.get(-1, []):
        print(f"  {'':>12}  ──▶ {mark}")
    clock = 0.0
    first = True
    for index, step in enumerate(answer_steps(scenario, answer)):
        if step.kind == "sleep_ms":
            clock += step.sleep_ms or 0
            continue
        if not first:
            clock += answer.delay_ms
        first = False
        if step.kind == "disconnect":
            print(f"  {clock:>9.0f} ms  -- disconnect (no terminating chunk)")
            break
        if scenario.provider in EVENTSTREAM_PROVIDERS and step.data is not None:
            # One binary message: shown as its type and payload.
            data = step.data if isinstance(step.data, str) else _json.dumps(step.data)
            wire = f"[{step.event}] {data}".encode()
        else:
            wire = encode_step(step, answer.newline, provider=scenario.provider)
        text = wire.decode("utf-8", "backslashreplace").rstrip("\r\n")
        text = text.replace("\r", "\\r").replace("\n", " | ")
        print(f"  {clock:>9.0f} ms  {text}"[:200])
        for mark in marks.get(index, []):
            print(f"  {'':>12}  ──▶ {mark}")


#: ANSI colors of `harness check`, used only on a terminal without NO_COLOR.
_COLORS = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1"}


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pathlib import Path

    from harness.errors import ScenarioError, ScenarioSetError
    from harness.mock.golden import check
    from harness.mock.scenario import load_scenarios

    goldens = Path(args.goldens) if args.goldens is not None else Path("tests", "golden")
    if goldens.exists() and not goldens.is_dir():
        print(f"harness check: --goldens {goldens}: not a folder", file=sys.stderr)
        return 2
    if not goldens.exists() and not args.update:
        print(
            f"harness check: no goldens folder {goldens} (run from the repository root, "
            "pass --goldens DIR, or create the goldens with --update)",
            file=sys.stderr,
        )
        return 2
    try:
        scenarios = load_scenarios(args.scenarios)
    except ScenarioSetError as exc:
        print(f"harness check: {exc}", file=sys.stderr)
        return 1
    except ScenarioError as exc:  # no such scenarios folder
        print(f"harness check: {exc}", file=sys.stderr)
        return 2
    try:
        report = check(scenarios, goldens, update=args.update)
    except OSError as exc:
        print(f"harness check: {exc}", file=sys.stderr)
        return 1

    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def paint(text: str, name: str) -> str:
        return f"\033[{_COLORS[name]}m{text}\033[0m" if color else text

    for mismatch in report.mismatches:
        print(
            paint(f"MISMATCH {mismatch.scenario} ({mismatch.kind}): {mismatch.path}", "red")
            + "  (harness check --update rewrites it)"
        )
        for line in mismatch.diff.splitlines():
            if line.startswith(("---", "+++")):
                line = paint(line, "bold")
            elif line.startswith("@@"):
                line = paint(line, "cyan")
            elif line.startswith("-"):
                line = paint(line, "red")
            elif line.startswith("+"):
                line = paint(line, "green")
            print(line)
    for path in report.missing:
        print(paint(f"MISSING  {path}", "red") + "  (harness check --update creates it)")
    for path in report.written:
        print(paint(f"WROTE    {path}", "green"))
    for path in report.unused:
        label = "UNUSED (warning)" if args.warn_unused else "UNUSED  "
        print(
            paint(f"{label} {path}", "yellow" if args.warn_unused else "red")
            + "  (no scenario renders it; delete it if it is stale)"
        )
    failed = bool(report.mismatches or report.missing or (report.unused and not args.warn_unused))
    counts = [
        f"{len(report.mismatches)} mismatched",
        f"{len(report.missing)} missing",
        f"{len(report.unused)} unused",
    ]
    if args.update:
        counts.insert(0, f"{len(report.written)} written")
    summary = (
        f"harness check: {report.checked} goldens of {len(scenarios)} scenarios in {goldens}: "
        + ", ".join(counts)
    )
    print(paint(summary, "red" if failed else "green"))
    return 1 if failed else 0


def _normalize(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.stream.pipeline import normalize

    if args.file is None or args.file == "-":
        source: BinaryIO = sys.stdin.buffer
    else:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"harness normalize: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
    out = sys.stdout.buffer
    try:
        frames = normalize(
            args.provider,
            _read_chunks(source),
            prompt_tokens=args.prompt_tokens,
            include_usage=not args.no_usage,
        )
        for frame in frames:
            out.write(frame)
            out.flush()
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        print(f"harness normalize: error reading input: {exc}", file=sys.stderr)
        return 1
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    return 0


def _read_chunks(source: BinaryIO) -> Iterator[bytes]:
    # read1 returns what is available now (up to READ_SIZE) instead of waiting for a
    # full buffer, so output follows input as it arrives on a pipe.
    read = getattr(source, "read1", source.read)
    while chunk := read(READ_SIZE):
        yield chunk


def _silence_stdout() -> None:
    # Python would report the broken pipe again while flushing stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _record(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.record.recorder import run_record

    return run_record(args)


def _convert(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.record.convert import run_convert

    return run_convert(args)


def _scan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.secrets import run_scan

    return run_scan(args)
