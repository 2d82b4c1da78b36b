"""Benchmark of the mock provider (``harness serve``): replay throughput and start-up.

What is measured. One scenario set is built in memory: an OpenAI stream of N content
chunks (``tok{i} ``), a ``finish_reason`` chunk and ``data: [DONE]`` (N + 2 events, one
``data:`` string each, so the bytes on the wire are known exactly), and a short one of
S chunks for the concurrent case. Three servers answer the same path with the same
bytes, each on its own event loop in a daemon thread of this process, on 127.0.0.1:0:

* ``harness``: ``ServerThread(ScenarioSet(...), ServerOptions(speed=0))``, the scenario selected by
  the ``/s/{name}/`` prefix, one write per event (the default ``chunking: event``).
* ``quart floor``: a minimal Quart app on the same Hypercorn runner
  (``harness.mock.serve.bind`` + ``_serve``): the route reads the body and returns an async
  generator yielding the pre-encoded event bytes, ``response.timeout = None``.
  Our stack's floor: what harness adds is the difference.
* ``raw asyncio``: ``asyncio.start_server`` writing a minimal HTTP/1.1 chunked
  response, one chunk per event, ``writer.write`` + ``await writer.drain()`` each.
  The physical reference.

The load generator is a separate process (this script with ``--client``): raw asyncio
sockets, the answer parsed by the tests' reader (``tests.rawhttp.AnswerReader``, h11),
events counted as ``b"\\n\\n"`` in the decoded body.
A stream is an error unless it is a 200 with exactly the expected bytes and events.

1. One stream: N + 2 events, time from request sent to the last byte; events/s.
2. C concurrent streams (C=200) of S + 2 events: aggregate events/s (all events /
   wall time from the first connect to the last byte), p50/p99 time to first byte
   (request sent to first body byte; of the best repeat), errors (all repeats).
3. Start-up, in a fresh process (``--startup``): the imports are timed separately,
   then ``ServerThread(...)`` + ``start()`` + one streamed request with httpx, best
   of 5 (the first of 5 is shown too: it pays one-time costs); floors likewise. And
   from the command line: ``harness serve`` started to the last byte of its first
   streamed answer (raw socket, the end of the chunked body), beside the same for the
   minimal Quart app and, when ``HARNESS_BENCH_AIMOCK`` names an installed aimock's
   ``llmock`` command, for aimock (the peer issue 17 names): a warm-up round, then 11
   rounds (5 with --quick) in a rotating order.
4. Replaying faster when chunk boundaries do not matter: the fault overlay
   ``x-harness-faults: chunking=coalesce`` joins the events into as few writes as
   possible (up to 64 KiB each; the pauses of merged events are summed before their
   write), measured as cases 1 and 2.
5. Where harness's time goes: ``harness.mock.state.build_plan`` is wrapped (in this
   process, timing only) to show what the per-request plan costs inside the server,
   in the event loop before the first byte: for the long stream, and summed over the
   C requests of one concurrent repeat (time during which no stream is written).

Targets: harness >= 1.0x the quart floor's events/s on one stream and on C streams
(issue 17; see docs/performance.md for where it stands), zero errors; start to first
answered request < 150 ms once imported (best of 5); harness serve, a fresh process,
to its first streamed answer <= 170 ms and run_server() with the built-ins <= 15 ms.

Reading the output: throughput is the median of R rounds after a warm-up, the servers
in a rotating order, with its spread; ratios are medians of per-round ratios (R=5;
--quick: R=3, N=5,000, S=200). ``vs quart`` and ``vs raw`` are
harness/floor for rates (higher is better) and floor/harness for times (so < 1 is
always worse for harness); the verdict is against the target (``bench/timing.py``:
PASS meets it; TIE misses it by less than half the range of the per-round ratios, the
machine's own scatter in this run, so the run cannot tell the two apart; FAIL misses
it by more), ``-`` means shown only.
The machine's cores are shared by the server under test and the client process. The
exit status is 0 unless something errored: a FAIL is a finding, not a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import timing  # bench/timing.py

# The answer reader is shared with the tests (tests/rawhttp.py): import it from the
# repository root, one level up, whatever the current directory. Only the load client
# imports it: the start-up process times its imports (h11 comes with Hypercorn's).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if TYPE_CHECKING:
    from tests.rawhttp import AnswerReader

HOST = "127.0.0.1"
TARGET_RATE = 1.0
TARGET_START_MS = 150.0
TARGET_SERVE_MS = 170.0
TARGET_RUN_SERVER_MS = 15.0
COALESCE = "chunking=coalesce"
CHUNK = (
    '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"m",'
    '"choices":[{"index":0,"delta":{"content":"tok%d "},"finish_reason":null}]}'
)
FINISH = (
    '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"m",'
    '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
)
REQUEST_BODY = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
Serve = Callable[[socket.socket, asyncio.Event, Callable[[], None]], Awaitable[None]]


def path_of(kind: str) -> str:
    return f"/s/bench/{kind}/v1/chat/completions"


def event_data(n: int) -> list[str]:
    """The ``data:`` payloads of a stream with ``n`` content chunks (n + 2 events)."""
    return [*(CHUNK % i for i in range(n)), FINISH, "[DONE]"]


def scenario(kind: str, n: int) -> Any:
    """The scenario ``bench/{kind}``, validated by the same model ``parse_scenario`` uses.

    Built as data, not YAML text: ``parse_scenario`` (pure-Python YAML) takes ~10 s
    for 20,000 events, which would dominate the run and is not what is measured here.
    """
    from harness.mock.scenario import Scenario

    events = [{"data": data} for data in event_data(n)]
    return Scenario.model_validate(
        {"version": 1, "name": f"bench/{kind}", "provider": "openai", "events": events}
    )


def wire_events(n: int) -> list[bytes]:
    return [f"data: {data}\n\n".encode() for data in event_data(n)]


# --- servers --------------------------------------------------------------------------


class LoopThread:
    """``serve(sock, stop, ready)`` on its own event loop in a daemon thread (harness's
    ``BackgroundLoop``), on a socket bound at start."""

    def __init__(self, name: str, serve: Serve) -> None:
        from harness.mock.serve import BackgroundLoop

        self.name = name
        self._serve = serve
        self._background = BackgroundLoop()
        self.port = 0

    def start(self) -> int:
        from harness.mock.serve import bind

        sock = bind(HOST, 0)
        self.port = sock.getsockname()[1]
        self._background.start(lambda stop, ready: self._serve(sock, stop, ready), self.name)
        return self.port

    def stop(self) -> None:
        self._background.stop()


def quart_floor(streams: dict[str, list[bytes]]) -> LoopThread:
    """The minimal Quart endpoint on harness's own Hypercorn runner."""
    from quart import Quart, Response, request

    from harness.mock.serve import _serve

    app = Quart("floor")

    @app.post("/s/bench/<kind>/v1/chat/completions")
    async def chat(kind: str) -> Response:
        await request.get_data()
        events = streams[kind]

        async def body() -> Any:
            for event in events:
                yield event

        response = Response(body(), content_type="text/event-stream; charset=utf-8")
        response.headers["cache-control"] = "no-cache"
        response.timeout = None
        return response

    return LoopThread("quart floor", lambda sock, stop, ready: _serve(app, sock, stop, ready))


def raw_floor(streams: dict[str, list[bytes]]) -> LoopThread:
    """asyncio.start_server: HTTP/1.1 chunked, one chunk per event, write + drain."""
    framed = {k: [b"%x\r\n%s\r\n" % (len(e), e) for e in v] for k, v in streams.items()}
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in request.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            kind = request.split(b" ", 2)[1].split(b"/")[3].decode()
            writer.write(head)
            for chunk in framed[kind]:
                writer.write(chunk)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def serve(sock: socket.socket, stop: asyncio.Event, ready: Callable[[], None]) -> None:
        server = await asyncio.start_server(handle, sock=sock, backlog=1024)
        ready()
        async with server:
            await stop.wait()

    return LoopThread("raw asyncio", serve)


# --- the load client (a separate process) ----------------------------------------------


class _Fetch(asyncio.Protocol):
    """One streamed request: status check, events and bytes counted as the body comes."""

    def __init__(self, done: asyncio.Future[None], reader: AnswerReader) -> None:
        self.done = done
        self.reader = reader
        self.events = 0
        self.nbytes = 0
        self.trailing_lf = False
        self.sent = 0.0
        self.first = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost: {exc}"))

    def _fail(self, message: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(message))
        assert self.transport is not None
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        while (got := reader.next()) is not None:
            if not isinstance(got, bytes):  # the head
                if got.status != 200 or not reader.chunked:
                    return self._fail(f"HTTP {got.status}: {got.raw[:300]!r}")
                continue
            if not self.first:
                self.first = time.perf_counter()
            self.events += got.count(b"\n\n")
            if self.trailing_lf and got[:1] == b"\n":
                self.events += 1
            self.trailing_lf = got[-1:] == b"\n" and got[-2:] != b"\n\n"
            self.nbytes += len(got)
        if reader.terminated:
            if not self.done.done():
                self.done.set_result(None)
            assert self.transport is not None
            self.transport.close()
        return None


async def fetch(port: int, path: str, headers: dict[str, str], timeout: float) -> dict[str, Any]:
    """One streamed request; its timings, counts and error (``""`` for none)."""
    from tests.rawhttp import AnswerReader

    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(REQUEST_BODY)}\r\nconnection: close\r\n{extra}\r\n"
    ).encode() + REQUEST_BODY
    proto = _Fetch(done, AnswerReader())
    transport = None
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(lambda: proto, HOST, port)
            proto.sent = time.perf_counter()
            transport.write(request)
            await done
        error = ""
    except TimeoutError:
        error = "timeout"
    except (OSError, RuntimeError) as exc:
        error = str(exc)[:200]
    finally:
        if transport is not None:
            transport.close()
    ended = time.perf_counter()
    return {
        "time": ended - proto.sent if proto.sent else 0.0,
        "ttfb": proto.first - proto.sent if proto.first else None,
        "events": proto.events,
        "bytes": proto.nbytes,
        "error": error,
    }


def check(result: dict[str, Any], want: dict[str, int]) -> str:
    if result["error"]:
        return str(result["error"])
    if result["events"] != want["events"] or result["bytes"] != want["bytes"]:
        got = f"{result['events']} events, {result['bytes']} bytes"
        return f"got {got}, expected {want['events']} events, {want['bytes']} bytes"
    return ""


async def client(job: dict[str, Any]) -> dict[str, Any]:
    """Run every measurement of ``job`` against every target, interleaved per repeat."""
    targets, timeout = job["targets"], job["timeout"]
    out: dict[str, Any] = {"single": {}, "concurrent": {}}
    for name in targets:
        out["single"][name], out["concurrent"][name] = [], []
    names = list(targets)
    # One warm-up round, not recorded (first plans, connections, caches); then rounds
    # with the servers in a rotating order, so none always runs first or last.
    for round_ in range(-1, job["repeats"]):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            target = targets[name]
            long = job["long"]
            result = await fetch(target["port"], long["path"], target["headers"], timeout)
            result["error"] = check(result, long)
            if round_ >= 0:
                out["single"][name].append(result)
        for name in order:
            target = targets[name]
            short = job["short"]
            began = time.perf_counter()
            results = await asyncio.gather(
                *(
                    fetch(target["port"], short["path"], target["headers"], timeout)
                    for _ in range(job["concurrency"])
                )
            )
            wall = time.perf_counter() - began
            errors = [e for e in (check(r, short) for r in results) if e]
            if round_ < 0:
                continue
            out["concurrent"][name].append(
                {
                    "wall": wall,
                    "events": sum(r["events"] for r in results if not check(r, short)),
                    "ttfb": sorted(r["ttfb"] for r in results if r["ttfb"] is not None),
                    "errors": errors,
                }
            )
    return out


# --- start-up (a fresh process) ------------------------------------------------------


def startup(n: int, repeats: int) -> dict[str, Any]:
    """Import times, then server start + one streamed request, per server."""
    began = time.perf_counter()
    import hypercorn.asyncio  # noqa: F401
    import quart  # noqa: F401

    framework = time.perf_counter()
    import harness.mock.app
    import harness.mock.serve

    ours = time.perf_counter()
    import httpx

    from harness.mock.options import ServerOptions
    from harness.mock.scenario import ScenarioSet

    out: dict[str, Any] = {
        "import_quart_hypercorn": framework - began,
        "import_harness": ours - framework,
        "runs": {"harness": [], "quart floor": [], "raw asyncio": []},
    }
    scenarios = ScenarioSet([scenario("tiny", n)])
    streams = {"tiny": wire_events(n)}
    expected = len(b"".join(streams["tiny"]))
    path = path_of("tiny")

    def harness_server() -> Any:
        server = harness.mock.serve.ServerThread(scenarios, ServerOptions(speed=0))
        server.start()
        return server, int(server.url.rsplit(":", 1)[1])

    def floor_server(make: Callable[[dict[str, list[bytes]]], LoopThread]) -> Any:
        server = make(streams)
        return server, server.start()

    makers: dict[str, Callable[[], Any]] = {
        "harness": harness_server,
        "quart floor": lambda: floor_server(quart_floor),
        "raw asyncio": lambda: floor_server(raw_floor),
    }
    with httpx.Client(timeout=10, trust_env=False) as http:
        # run_server() with the built-in library, as a test suite calls it (the
        # library is parsed once per process; the first call pays that).
        from harness.testing import run_server

        out["run_server_builtins"] = []
        for _ in range(repeats):
            start = time.perf_counter()
            with run_server():
                up = time.perf_counter() - start
            out["run_server_builtins"].append(up)
        for _ in range(repeats):
            for name, make in makers.items():
                start = time.perf_counter()
                server, port = make()
                response = http.post(
                    f"http://{HOST}:{port}{path}",
                    content=REQUEST_BODY,
                    headers={"content-type": "application/json"},
                )
                took = time.perf_counter() - start
                server.stop()
                if response.status_code != 200 or len(response.content) != expected:
                    raise SystemExit(f"bench: {name} start-up request failed: {response!r}")
                out["runs"][name].append(took)
    return out


# --- start-up from the command line -------------------------------------------------------

# Quart and Hypercorn only: nothing of harness is imported, so that this is the
# stack's own start (a socket bound here and handed to Hypercorn as fd://).
FLOOR_SERVER = """
import asyncio, socket
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request
app = Quart("floor")
CHUNKS = [b"data: {}\\n\\n" for _ in range(20)]
@app.post("/v1/chat/completions")
async def chat():
    await request.get_data()
    async def body():
        for chunk in CHUNKS:
            yield chunk
    response = Response(body(), content_type="text/event-stream")
    response.timeout = None
    return response
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
sock.set_inheritable(True)
config = Config()
config.bind = ["fd://%d" % sock.fileno()]
config.accesslog = None
config.errorlog = None
print("ready on http://127.0.0.1:%d" % sock.getsockname()[1], flush=True)
asyncio.run(serve(app, config))
"""


#: An installed aimock (``@copilotkit/aimock``, Node) to time beside harness serve, the
#: peer issue 17 names: its ``llmock`` command. Optional: the row is left out without it.
AIMOCK = os.environ.get("HARNESS_BENCH_AIMOCK")
AIMOCK_FIXTURES = {"fixtures": [{"match": {"userMessage": "hi"}, "response": {"content": "Hi!"}}]}


def _startup_commands(folder: Path) -> dict[str, tuple[list[str], str, str]]:
    """Each command timed from start to its first streamed answer: the argv, the path
    it answers, and what starts the line it prints once it listens (then its URL)."""
    commands = {
        "harness serve": (
            [sys.executable, "-m", "harness", "serve", "--port", "0", "--speed", "0"],
            "/s/openai/text/v1/chat/completions",
            "harness: serving",
        ),
        "quart floor": ([sys.executable, "-c", FLOOR_SERVER], "/v1/chat/completions", "ready on"),
    }
    if AIMOCK:
        fixtures = folder / "aimock.json"
        fixtures.write_text(json.dumps(AIMOCK_FIXTURES))
        argv = [AIMOCK, "-p", "0", "-f", str(fixtures), "--log-level", "info"]
        commands["aimock"] = (argv, "/v1/chat/completions", "[aimock] aimock server listening")
    return commands


def _first_answer(argv: list[str], path: str, ready: str) -> float:
    """Seconds from starting ``argv`` to the last byte of its first streamed answer (the
    end of the chunked body: a server may keep the connection open after it)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith(ready):
            line = proc.stdout.readline()
            if not line:
                raise SystemExit(f"bench: {argv[0]} ended before it listened")
        port = int(line.strip().rsplit(":", 1)[1])
        with socket.create_connection((HOST, port)) as sock:
            sock.sendall(
                b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (path.encode(), len(REQUEST_BODY), REQUEST_BODY)
            )
            answer = b""
            while not answer.endswith(b"\r\n0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        took = time.perf_counter() - start
        if not answer.startswith(b"HTTP/1.1 200") or b"data:" not in answer:
            raise SystemExit(f"bench: {argv[0]} did not stream an answer: {answer[:200]!r}")
        return took
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def command_startup(repeats: int) -> dict[str, list[float]]:
    """Seconds from starting a process to the end of its first streamed answer:
    ``harness serve`` (the built-in library, openai/text), a minimal Quart app on the
    same Hypercorn runner (the stack's floor) and, when installed, aimock; one warm-up
    round, then ``repeats`` rounds in a rotating order."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        commands = _startup_commands(Path(folder))
        names = list(commands)
        out: dict[str, list[float]] = {name: [] for name in names}
        # As timing.rounds, but each time is the one measured inside _first_answer: the
        # wall time of the call would add each server's shutdown (50-60 ms for the floor).
        for round_ in range(-1, repeats):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                took = _first_answer(*commands[name])
                if round_ >= 0:
                    out[name].append(took)
        return out


# --- the report -----------------------------------------------------------------------


def subprocess_json(args: list[str], payload: dict[str, Any], timeout: float) -> Any:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    proc = subprocess.run(
        cmd, input=json.dumps(payload), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode:
        raise SystemExit(f"bench: {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def div(a: float, b: float) -> float:
    """a / b, NaN when b is 0 (every run of a server failed): a finding, not a crash."""
    return a / b if b else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _spread(values: list[float]) -> float:
    """(max - min) / median of the finite values, as a fraction."""
    ok = [v for v in values if v == v]
    return div(max(ok) - min(ok), statistics.median(ok)) if ok else float("nan")


def _ratios(ours: list[float], floor: list[float]) -> list[float]:
    """ours / floor per round, each round's pair measured side by side."""
    return [div(a, b) for a, b in zip(ours, floor, strict=True)]


def rate_row(
    case: str,
    values: dict[str, float],
    target: float | None,
    *,
    spread: dict[str, float],
    ratios: dict[str, list[float]],
    name: str = "harness",
) -> None:
    h, q, r = values[name], values["quart floor"], values["raw asyncio"]
    ok = [p for p in ratios[name] if p == p]
    vs_q, vs_r = statistics.median(ok) if ok else float("nan"), div(h, r)
    verdict = "-" if target is None else timing.verdict(ratios[name], target)
    goal = f">={target}x" if target is not None else ""
    print(
        f"{case:<30} {h:>12,.0f} {q:>12,.0f} {r:>12,.0f} {vs_q:>7.2f}x {vs_r:>6.2f}x"
        f"  {goal:<8} {verdict}  (spread {spread[name]:.0%}, floor {spread['quart floor']:.0%})"
    )


def time_row(case: str, values: dict[str, float], target: float | None = None) -> None:
    h, q, r = values["harness"], values["quart floor"], values["raw asyncio"]
    verdict = "-" if target is None else ("PASS" if h < target else "FAIL")
    goal = f"<{target:.0f} ms" if target is not None else ""
    print(
        f"{case:<30} {h:>9.1f} ms {q:>9.1f} ms {r:>9.1f} ms {div(q, h):>7.2f}x {div(r, h):>6.2f}x"
        f"  {goal:<8} {verdict}"
    )


def start_row(commands: dict[str, list[float]], repeats: int) -> None:
    """The start-up rows: harness serve against its goal and the floor; aimock, if timed."""
    ms = {name: [t * 1000 for t in times] for name, times in commands.items()}
    serve, floor = ms["harness serve"], ms["quart floor"]
    verdict = timing.verdict(serve, TARGET_SERVE_MS, higher=False)
    print(
        f"{'harness serve -> 1st answer':<30} {timing.median(serve):>9.1f} ms "
        f"{timing.median(floor):>9.1f} ms {'':>12} {timing.ratio(floor, serve):>7.2f}x {'':>7}  "
        f"{'<170 ms':<8} {verdict}  (spread {timing.spread(serve):.0%}, floor "
        f"{timing.spread(floor):.0%}; median of {repeats}, a fresh process each; floor: a "
        "minimal Quart app, nothing of harness imported)"
    )
    if "aimock" in ms:
        peer = ms["aimock"]
        print(
            f"{'  aimock (peer) -> 1st answer':<30} {timing.median(peer):>9.1f} ms  "
            f"(harness serve / aimock {timing.ratio(serve, peer):.2f}x, quart floor / aimock "
            f"{timing.ratio(floor, peer):.2f}x; spread {timing.spread(peer):.0%}; {AIMOCK})"
        )
    else:
        print(f"{'  aimock (peer)':<30} not timed: set HARNESS_BENCH_AIMOCK (docs/performance.md)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=5,000, S=200, 1 repeat")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--startup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        json.dump(asyncio.run(client(json.load(sys.stdin))), sys.stdout)
        return 0
    if args.startup:
        options = json.load(sys.stdin)
        json.dump(startup(options["n"], options["repeats"]), sys.stdout)
        return 0

    n, short_n, repeats = (5_000, 200, 3) if args.quick else (20_000, 500, 5)
    concurrency, start_repeats = 200, (5 if args.quick else 11)
    began, load = time.perf_counter(), os.getloadavg()[0]

    import harness.mock.state
    from harness.mock.options import ServerOptions
    from harness.mock.replay import build_plan, parse_faults
    from harness.mock.scenario import Faults, ScenarioSet
    from harness.mock.serve import ServerThread

    sizes = {"long": n, "short": short_n}
    scenarios = {kind: scenario(kind, size) for kind, size in sizes.items()}
    streams = {kind: wire_events(size) for kind, size in sizes.items()}
    want = {
        kind: {"path": path_of(kind), "events": len(v), "bytes": len(b"".join(v))}
        for kind, v in streams.items()
    }
    # harness must send exactly the floors' bytes, one write per event.
    plans = {}
    for mode, faults in (("event", Faults()), ("coalesced", parse_faults(COALESCE))):
        long, took = scenarios["long"], []
        for _ in range(repeats):
            start = time.perf_counter()
            plan = build_plan(long, long.answers[0], target="openai", stream=True, faults=faults)
            count = len(plan.writes)  # a lazy plan makes its writes as they are read
            took.append(time.perf_counter() - start)
        plans[mode] = (min(took), count)
        if b"".join(w.data for w in plan.writes) != b"".join(streams["long"]):
            raise SystemExit(f"bench: harness plan ({mode}) differs from the floors' bytes")
    if plans["event"][1] != len(streams["long"]):
        raise SystemExit("bench: harness plan is not one write per event")

    # Timing only: how long each request's build_plan takes inside the server.
    plan_times: list[tuple[int, float]] = []

    def timed_build_plan(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        plan = build_plan(*args, **kwargs)
        plan_times.append((len(plan.writes), time.perf_counter() - start))
        return plan

    harness.mock.state.build_plan = timed_build_plan  # type: ignore[assignment]
    harness_server = ServerThread(ScenarioSet(list(scenarios.values())), ServerOptions(speed=0))
    floors = [quart_floor(streams), raw_floor(streams)]
    harness_server.start()
    ports = {"harness": int(harness_server.url.rsplit(":", 1)[1])}
    uvloop_server = None
    try:
        uvloop_server = ServerThread(
            ScenarioSet(list(scenarios.values())), ServerOptions(speed=0), loop="uvloop"
        )
        uvloop_server.start()
        ports["harness uvloop"] = int(uvloop_server.url.rsplit(":", 1)[1])
    except Exception as exc:  # uvloop not installed: that row is left out
        print(f"note: no --loop uvloop row ({exc})")
    try:
        for floor in floors:
            ports[floor.name] = floor.start()
        targets = {name: {"port": port, "headers": {}} for name, port in ports.items()}
        targets["harness coalesced"] = {
            "port": ports["harness"],
            "headers": {"x-harness-faults": COALESCE},
        }
        job = {
            "targets": targets,
            "long": want["long"],
            "short": want["short"],
            "repeats": repeats,
            "concurrency": concurrency,
            "timeout": 120.0,
        }
        results = subprocess_json(["--client"], job, timeout=1800)
    finally:
        harness_server.stop()
        if uvloop_server is not None:
            uvloop_server.stop()
        for floor in floors:
            floor.stop()
    start_info = subprocess_json(["--startup"], {"n": 20, "repeats": start_repeats}, timeout=300)
    commands = command_startup(start_repeats)

    nan = float("nan")
    single: dict[str, float] = {}
    errors: dict[str, int] = {}
    conc: dict[str, float] = {}
    p50: dict[str, float] = {}
    p99: dict[str, float] = {}
    # Per round: each server's rate; the figures are medians over the rounds, the
    # spread (max - min) / median, and the ratios medians of the per-round ratios
    # (servers measured side by side in one round share that round's noise).
    rates: dict[str, list[float]] = {}
    conc_rates: dict[str, list[float]] = {}
    for name, runs in results["single"].items():
        rates[name] = [want["long"]["events"] / r["time"] if not r["error"] else nan for r in runs]
        ok = [rate for rate in rates[name] if rate == rate]
        single[name] = statistics.median(ok) if ok else nan
        errors[name] = sum(1 for r in runs if r["error"])
        rounds = results["concurrent"][name]
        conc_rates[name] = [div(r["events"], r["wall"]) for r in rounds]
        conc[name] = statistics.median(conc_rates[name])
        p50[name] = statistics.median(percentile(r["ttfb"], 0.50) for r in rounds) * 1000
        p99[name] = statistics.median(percentile(r["ttfb"], 0.99) for r in rounds) * 1000
        errors[name] += sum(len(r["errors"]) for r in rounds)
    spread = {name: _spread(values) for name, values in rates.items()}
    conc_spread = {name: _spread(values) for name, values in conc_rates.items()}
    ratio = {name: _ratios(rates[name], rates["quart floor"]) for name in rates}
    conc_ratio = {name: _ratios(conc_rates[name], conc_rates["quart floor"]) for name in rates}
    first_errors = [
        e for runs in results["concurrent"].values() for r in runs for e in r["errors"]
    ] + [r["error"] for runs in results["single"].values() for r in runs if r["error"]]

    cpus = os.cpu_count() or 0
    python = sys.version.split()[0]
    print(
        f"N={n:,} (+2) events on one stream, {concurrency} streams x {short_n:,} (+2), "
        f"median of {repeats} rounds after a warm-up, Python {python}, {cpus} CPUs"
    )
    print(
        f"note: {cpus} cores shared: the servers (this process) and the load client (another "
        f"process) compete for them; 1-min load average at start {load:.2f}"
    )
    columns = ("harness", "quart floor", "raw asyncio", "vs quart", "vs raw", "target")
    header = f"{'case':<30} " + "{:>12} {:>12} {:>12} {:>8} {:>7}  {:<8} verdict".format(*columns)
    print(header)
    print("-" * len(header))
    rate_row("1 stream, events/s", single, TARGET_RATE, spread=spread, ratios=ratio)
    rate_row(
        f"{concurrency} streams, agg events/s",
        conc,
        TARGET_RATE,
        spread=conc_spread,
        ratios=conc_ratio,
    )
    if "harness uvloop" in single:
        rate_row(
            "1 stream, --loop uvloop",
            single,
            None,
            spread=spread,
            ratios=ratio,
            name="harness uvloop",
        )
        rate_row(
            f"{concurrency} streams, --loop uvloop",
            conc,
            None,
            spread=conc_spread,
            ratios=conc_ratio,
            name="harness uvloop",
        )
    time_row(f"{concurrency} streams, p50 TTFB", p50)
    time_row(f"{concurrency} streams, p99 TTFB", p99)
    base = ("harness", "quart floor", "raw asyncio")
    print(
        f"{'errors (all repeats)':<30} {errors['harness']:>12} {errors['quart floor']:>12} "
        f"{errors['raw asyncio']:>12} {'':>8} {'':>7}  {'0':<8} "
        + ("PASS" if errors["harness"] == 0 else "FAIL")
    )
    runs = start_info["runs"]
    time_row("start+1st answer, best of 5", {k: min(runs[k]) * 1000 for k in base}, 150)
    time_row("start+1st answer, 1st of 5", {k: runs[k][0] * 1000 for k in base})
    start_row(commands, start_repeats)
    builtins_ms = statistics.median(start_info["run_server_builtins"][1:]) * 1000
    first_ms = start_info["run_server_builtins"][0] * 1000
    print(
        f"{'run_server(), built-ins':<30} {builtins_ms:>9.1f} ms {'':>12} {'':>12} {'':>8} "
        f"{'':>7}  {'<15 ms':<8} "
        + ("PASS" if builtins_ms <= TARGET_RUN_SERVER_MS else "FAIL")
        + f"  (median after the first call; first {first_ms:.1f} ms parses the library)"
    )
    framework, ours = start_info["import_quart_hypercorn"], start_info["import_harness"]
    print(
        f"imports in a fresh process: quart+hypercorn {framework * 1000:.0f} ms, then "
        f"harness.mock.app+serve {ours * 1000:.0f} ms (not in the start-up times)"
    )

    coalesced = "harness coalesced"
    print(f"\nchunk boundaries do not matter: x-harness-faults: {COALESCE}")
    print(f"{'case':<30} {'per event':>12} {'coalesced':>12} {'speedup':>8}  writes/stream")
    print(
        f"{'1 stream, events/s':<30} {single['harness']:>12,.0f} {single[coalesced]:>12,.0f}"
        f" {div(single[coalesced], single['harness']):>7.2f}x  {plans['event'][1]:,} -> "
        f"{plans['coalesced'][1]:,}"
    )
    print(
        f"{f'{concurrency} streams, agg events/s':<30} {conc['harness']:>12,.0f} "
        f"{conc[coalesced]:>12,.0f} {div(conc[coalesced], conc['harness']):>7.2f}x  "
        f"(p99 TTFB {p99[coalesced]:.1f} ms, errors {errors[coalesced]})"
    )
    long_plans = [t for w, t in plan_times if w == want["long"]["events"]]
    short_plans = [t for w, t in plan_times if w == want["short"]["events"]]
    plan_time = min(long_plans, default=nan)
    stream_time = div(want["long"]["events"], single["harness"])
    without = div(div(want["long"]["events"], stream_time - plan_time), single["quart floor"])
    # The server caches plans: only the first request of each replay builds one.
    print(
        f"\nbuild_plan (first request of a replay only; later ones reuse the cached plan):"
        f" {n:,} events {plan_time * 1000:.0f} ms"
        f" ({plan_time / want['long']['events'] * 1e6:.1f} us/event; outside the server"
        f" {plans['event'][0] * 1000:.0f} ms) = {plan_time / stream_time:.0%} of one"
        f" stream's time; without it harness would be {without:.2f}x the quart floor"
    )
    print(
        f"build_plan for {concurrency} x {short_n:,} events: "
        f"{sum(short_plans) * 1000:.0f} ms in all repeats ({len(short_plans)} builds)"
    )
    if first_errors:
        print(f"first errors: {first_errors[:3]}")
    print(f"total {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
