"""Load and soak: one ``harness serve`` under 1,000 concurrent streaming clients.

What is run. One real ``harness serve --port 0 --speed S`` subprocess on the built-in
scenarios (127.0.0.1 only), driven by this process (or ``--workers`` processes) with
C concurrent clients (default 1,000) for D seconds (default 60), in two phases:

1. ``plain``: each client loops over keep-alive connections of raw asyncio sockets
   speaking HTTP/1.1 (answers parsed chunk by chunk by the tests' reader,
   ``tests.rawhttp.AnswerReader``, h11).
   Each request picks a streaming scenario and a route: every built-in single-answer
   stream whose recorded pauses add up to at most 1 s, on its own route (OpenAI,
   Anthropic, Gemini: byte for byte) and, for Anthropic and Gemini, on the OpenAI
   route too (through the normalization pipeline). Scenarios that cut the connection
   on purpose are included: their cut is checked too.
2. ``faults`` (``--faults``, on by default as a second pass): the same, each request
   with one fault overlay in ``x-harness-faults``: one byte per write
   (``chunking=byte``), a keep-alive comment after every event (``keepalive_every=1``,
   not on the Gemini route, which refuses keep-alives), a 200 ms stall after the
   second event, or keep-alives plus seeded random re-chunking.

In both phases a fraction of the requests (``--hangup-fraction``, default 1/3) hangs
up at a random byte of the body (half with a FIN, half with a RST), and a fraction
(``--malformed-fraction``, default 0.05) is malformed: invalid JSON, a wrong content
type, an unknown scenario, a body over the 10 MiB limit; each must get a 4xx.

What is checked. The expected answer of every (scenario, route, overlay) is computed
here with harness's own replay code (``harness.mock.replay.build_plan``, the scenario's
faults merged with the overlay as the server does): the status, every byte, and the
chunk boundaries (one HTTP chunk per planned write). A completed stream must equal it
byte for byte, with the same chunks; a planned cut must end without the terminating
chunk after exactly the planned bytes; a hang-up must have received a prefix of it.
The server is watched through ``GET /_harness/stats`` on one keep-alive connection of
its own (one sample a second): asyncio tasks, open streams, answers by status class,
resident memory.

Criteria, per phase (PASS/FAIL): zero 5xx (seen by clients and counted by the
server); zero byte-identity failures; zero other failures (unexpected status,
connection errors, timeouts, a malformed request not answered with a 4xx); resident
memory after the run (clients gone) within 1.10x of its level after the warm-up
(``--warmup`` seconds, default 10, and the server's journal full: it is a bounded
buffer of ~3 KB an entry, so the server runs with ``--journal-max 2000`` by default,
``--journal-max`` here; with the default 10,000 it takes longer than the run to fill
and its filling, not a leak, would dominate); the server's task count back to its idle baseline
(measured before the phase) within ``--settle`` seconds once every client is done;
no stream left open. Shown: requests by outcome, p50/p99 time to first byte (request
written to first body byte) and stream duration (to the terminating chunk), streams/s
and MB/s, each compared with the same run's first phase, and the client's CPU share
(near 100% means the client, not the server, limits the rate: add ``--workers``).

The run ends by itself: a watchdog kills the server and exits after
``2 x duration + 120 s`` per phase. Exit status 0 when every criterion passes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The answer reader is shared with the tests (tests/rawhttp.py): import it from the
# repository root, one level up, whatever the current directory.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.rawhttp import AnswerReader

HOST = "127.0.0.1"
RSS_LIMIT = 1.10
MAX_PAUSE = 1.0  # seconds of recorded pauses: longer scenarios (stalls) are left out
MODEL = "soak-model"
GEMINI_MODEL = "gemini-2.5-flash"
OVERLAYS = (
    "chunking=byte",
    "keepalive_every=1",
    "stall_after=2; stall_ms=200",
    "keepalive_every=1; chunking=random; seed=7",
)
MALFORMED = ("invalid_json", "content_type", "unknown_scenario", "oversized")


# --- what each request should get ------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One request: a scenario on a route, with an optional fault overlay."""

    scenario: str
    family: str  # the route's API family
    overlay: str
    path: str
    body: bytes
    status: int
    chunks: tuple[bytes, ...]  # the planned writes, empty ones left out
    abort: bool  # the plan cuts the connection after the writes

    @property
    def expected(self) -> bytes:
        return b"".join(self.chunks)


def _request_of(name: str, family: str) -> tuple[str, bytes, str]:
    """The path, body and model of a streaming request for ``name`` on ``family``."""
    messages = [{"role": "user", "content": "hi"}]
    if family == "openai":
        body: dict[str, Any] = {"model": MODEL, "stream": True, "messages": messages}
        return f"/s/{name}/v1/chat/completions", json.dumps(body).encode(), MODEL
    if family == "anthropic":
        body = {"model": MODEL, "max_tokens": 64, "stream": True, "messages": messages}
        return f"/s/{name}/v1/messages", json.dumps(body).encode(), MODEL
    path = f"/s/{name}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    return path, json.dumps(body).encode(), GEMINI_MODEL


def build_targets(faults: bool) -> list[Target]:
    """Every request the clients may send in a phase, with its expected answer.

    The expected bytes come from the same plan code the server runs (the scenario's
    own faults merged field by field with the overlay, as the server merges them).
    """
    from harness.errors import FaultSpecError
    from harness.mock.replay import ReplayError, build_plan, parse_faults
    from harness.mock.scenario import Faults, load_scenarios

    targets = []
    for scenario in load_scenarios():
        if len(scenario.answers) != 1 or scenario.answers[0].events is None:
            continue  # sequences depend on per-test state; whole bodies are not streams
        answer = scenario.answers[0]
        routes = [scenario.provider] + (["openai"] if scenario.provider != "openai" else [])
        for family in routes:
            path, body, model = _request_of(scenario.name, family)
            for overlay in OVERLAYS if faults else ("",):
                merged = (answer.faults or Faults()).merged(
                    parse_faults(overlay) if overlay else None
                )
                try:
                    plan = build_plan(
                        scenario,
                        answer,
                        target=family,  # type: ignore[arg-type]
                        stream=True,
                        faults=merged,
                        options={"model": model},
                    )
                except (ReplayError, FaultSpecError):
                    continue  # e.g. keep-alives on the Gemini route: a 400 by design
                if sum(w.delay + w.stall for w in plan.writes) > MAX_PAUSE + 0.5 * bool(overlay):
                    continue
                if plan.status != 200 or not plan.streaming:
                    continue
                chunks = tuple(w.data for w in plan.writes if w.data)
                targets.append(
                    Target(
                        scenario.name, family, overlay, path, body, plan.status, chunks, plan.abort
                    )
                )
    return targets


# --- an HTTP/1.1 client over raw asyncio sockets -----------------------------------------


@dataclass
class Answer:
    """What one request got."""

    status: int = 0
    head: bytes = b""
    chunks: list[bytes] = field(default_factory=list)  # whole chunks (unchunked: the body)
    partial: bytearray = field(default_factory=bytearray)  # a chunk still arriving
    nbytes: int = 0
    complete: bool = False  # the body ended as HTTP says (terminating chunk or length)
    eof: bool = False  # the server closed the connection
    first: float = 0.0
    ended: float = 0.0
    close: bool = False  # the server said connection: close

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks) + self.partial


class _Conn(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection; parses one answer at a time (AnswerReader).

    Chunked bodies keep their chunk boundaries (the server writes one chunk per
    planned write); ``content-length`` bodies and bodies ended by EOF are read too.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""  # what came between answers
        self.answer = Answer()
        self.reader: AnswerReader | None = None  # while an answer is awaited
        self.waiter: asyncio.Future[None] | None = None
        self.stop_at: int | None = None  # hang up once this many body bytes arrived
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.answer.eof = True
        if self.reader is not None:
            self.reader.feed(b"")
            self._parse()
        self._finish()

    def _finish(self) -> None:
        if self.reader is not None:
            self.answer.chunks, self.answer.partial = self.reader.chunks, self.reader.partial
            self.answer.complete = self.reader.terminated
            self.buf, self.reader = self.reader.trailing, None
        if self.waiter is not None and not self.waiter.done():
            self.answer.ended = time.perf_counter()
            self.waiter.set_result(None)

    async def request(self, data: bytes, stop_at: int | None, timeout: float) -> Answer:
        """Send ``data``; return the answer (or what arrived before ``stop_at`` bytes)."""
        assert self.transport is not None
        self.answer = Answer()
        self.stop_at = stop_at
        self.reader, self.buf = AnswerReader(self.buf), b""
        self.waiter = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self.transport.write(data)
        if self.closed:
            self.connection_lost(None)
        else:
            self._parse()
        async with asyncio.timeout(timeout):
            await self.waiter
        answer = self.answer
        answer.first = answer.first - sent if answer.first else 0.0
        answer.ended = answer.ended - sent if answer.ended else 0.0
        return answer

    def data_received(self, data: bytes) -> None:
        if self.reader is None:
            self.buf += data  # between requests (or after a hang-up): keep for later
            return
        self.reader.feed(data)
        self._parse()

    def _parse(self) -> None:
        reader, answer = self.reader, self.answer
        assert reader is not None
        while (got := reader.next()) is not None:
            if not isinstance(got, bytes):  # the head
                answer.status, answer.head = got.status, got.raw
                answer.close = got.headers.get("connection", "").lower() == "close"
                continue
            if not answer.first:
                answer.first = time.perf_counter()
            answer.nbytes += len(got)
            if self.stop_at is not None and answer.nbytes >= self.stop_at:
                return self._finish()  # hang up
        if reader.done:
            self._finish()
        return None

    def close(self, reset: bool = False) -> None:
        if self.transport is not None and not self.closed:
            if reset:
                self.transport.abort()
            else:
                self.transport.close()
        self.closed = True


async def connect(port: int) -> _Conn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Conn, HOST, port)
    return conn


def http_request(
    port: int, path: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    length = headers.get("content-length")
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\n"
        + ("" if "content-type" in headers else "content-type: application/json\r\n")
        + ("" if length else f"content-length: {len(body)}\r\n")
        + extra
        + "\r\n"
    )
    return head.encode() + body


# --- one client process ---------------------------------------------------------------


@dataclass
class Tally:
    """What the clients of one process saw."""

    outcomes: Counter[str] = field(default_factory=Counter)
    ttfb: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    nbytes: int = 0
    examples: list[str] = field(default_factory=list)
    malformed: Counter[str] = field(default_factory=Counter)

    def fail(self, outcome: str, detail: str) -> None:
        self.outcomes[outcome] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{outcome}: {detail}")

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": dict(self.outcomes),
            "ttfb": self.ttfb,
            "durations": self.durations,
            "nbytes": self.nbytes,
            "examples": self.examples,
            "malformed": dict(self.malformed),
        }

    def merge(self, other: dict[str, Any]) -> None:
        self.outcomes.update(other["outcomes"])
        self.malformed.update(other["malformed"])
        self.ttfb.extend(other["ttfb"])
        self.durations.extend(other["durations"])
        self.nbytes += other["nbytes"]
        self.examples.extend(other["examples"][: max(0, 10 - len(self.examples))])


def _check_stream(target: Target, got: Answer, hang_at: int | None, tally: Tally) -> None:
    where = f"{target.scenario} on {target.family} [{target.overlay or 'no faults'}]"
    if got.status >= 500:
        tally.fail("5xx", f"{where}: HTTP {got.status}: {got.body[:200]!r}")
        return
    if got.status != target.status:
        tally.fail("unexpected_status", f"{where}: HTTP {got.status}: {got.body[:200]!r}")
        return
    body = got.body
    if hang_at is not None:
        if not target.expected.startswith(body):
            tally.fail("byte_mismatch", f"{where}: hang-up prefix differs at {_diff(body, target)}")
        elif got.complete:
            tally.outcomes["completed_before_hangup"] += 1
        else:
            tally.outcomes["hung_up"] += 1
        return
    if body != target.expected:
        tally.fail(
            "byte_mismatch",
            f"{where}: {len(body)} bytes, want {len(target.expected)}, first difference at "
            f"{_diff(body, target)}; complete={got.complete} eof={got.eof}",
        )
        return
    if tuple(got.chunks) != target.chunks and got.complete:
        tally.fail(
            "chunk_mismatch", f"{where}: {len(got.chunks)} chunks, want {len(target.chunks)}"
        )
        return
    if target.abort:
        if got.complete or not got.eof:
            tally.fail("cut_missing", f"{where}: a planned cut ended cleanly")
        else:
            tally.outcomes["cut_as_planned"] += 1
        return
    if not got.complete:
        tally.fail("incomplete", f"{where}: the body ended without its terminating chunk")
        return
    tally.outcomes["completed"] += 1
    tally.ttfb.append(got.first)
    tally.durations.append(got.ended)
    tally.nbytes += len(body)


def _diff(body: bytes, target: Target) -> int:
    want = target.expected
    for index, (a, b) in enumerate(zip(body, want, strict=False)):
        if a != b:
            return index
    return min(len(body), len(want))


async def _malformed(
    port: int, kind: str, targets: list[Target], tally: Tally, timeout: float
) -> None:
    target = targets[0]
    if kind == "invalid_json":
        data = http_request(port, target.path, b'{"stream": tru', {})
    elif kind == "content_type":
        data = http_request(port, target.path, target.body, {"content-type": "text/plain"})
    elif kind == "unknown_scenario":
        data = http_request(port, "/s/soak/no-such-scenario/v1/chat/completions", b"{}", {})
    else:  # a body over the limit: the head says so, the first 64 KiB follow
        size = 10 * 1024 * 1024 + 1
        data = http_request(port, target.path, b" " * 65536, {"content-length": str(size)})
    conn = None
    try:
        conn = await connect(port)
        got = await conn.request(data, None, timeout)
    except (OSError, TimeoutError) as exc:
        tally.fail("connection_error", f"malformed {kind}: {type(exc).__name__}: {exc}")
        return
    finally:
        if conn is not None:
            conn.close()
    if got.status >= 500:
        tally.fail("5xx", f"malformed {kind}: HTTP {got.status}")
    elif 400 <= got.status < 500 and got.complete:
        tally.outcomes["rejected_4xx"] += 1
        tally.malformed[f"{kind} {got.status}"] += 1
    else:
        tally.fail("malformed_not_4xx", f"{kind}: HTTP {got.status} complete={got.complete}")


async def client(
    port: int, targets: list[Target], job: dict[str, Any], rng: random.Random, tally: Tally
) -> None:
    """Loop until the deadline: one request at a time, keep-alive when possible."""
    deadline = job["deadline"]
    conn: _Conn | None = None
    try:
        while time.time() < deadline:
            if rng.random() < job["malformed_fraction"]:
                kind = rng.choice(MALFORMED)
                await _malformed(port, kind, targets, tally, job["request_timeout"])
                continue
            target = rng.choice(targets)
            headers = {"x-harness-faults": target.overlay} if target.overlay else {}
            hang_at = None
            if rng.random() < job["hangup_fraction"] and len(target.expected) > 1:
                hang_at = rng.randint(1, len(target.expected) - 1)
            try:
                if conn is None or conn.closed:
                    conn = await connect(port)
                got = await conn.request(
                    http_request(port, target.path, target.body, headers),
                    hang_at,
                    job["request_timeout"],
                )
            except TimeoutError:
                tally.fail("timeout", f"{target.scenario} on {target.family}")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            except OSError as exc:
                tally.fail("connection_error", f"{type(exc).__name__}: {exc}")
                conn = None
                await asyncio.sleep(0.05)
                continue
            _check_stream(target, got, hang_at, tally)
            if hang_at is not None or got.eof or got.close or not got.complete:
                conn.close(reset=hang_at is not None and rng.random() < 0.5)
                conn = None
    finally:
        if conn is not None:
            conn.close()


async def run_clients(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job["clients"]`` clients in this process; the tally as JSON."""
    # asyncio warns about every write to a socket this client has just dropped on purpose.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    targets = build_targets(job["faults"])
    tally = Tally()
    cpu = time.process_time()
    began = time.perf_counter()
    base = random.Random(job["seed"])
    await asyncio.gather(
        *(
            client(job["port"], targets, job, random.Random(base.random()), tally)
            for _ in range(job["clients"])
        )
    )
    out = tally.to_json()
    out["cpu"] = time.process_time() - cpu
    out["wall"] = time.perf_counter() - began
    return out


# --- the server and its stats ---------------------------------------------------------


class Server:
    """``harness serve --port 0`` in a subprocess; its URL read from its first line."""

    def __init__(self, speed: float, journal_max: int, log: Path) -> None:
        exe = Path(sys.executable).with_name("harness")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "harness"]
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [
                *cmd,
                "serve",
                "--port",
                "0",
                "--speed",
                f"{speed}",
                "--journal-max",
                f"{journal_max}",
            ],
            stdout=subprocess.PIPE,
            stderr=self._log_file,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().decode()
        if not first.startswith("harness: serving "):
            self.stop()
            raise SystemExit(f"soak: harness serve did not start: {first!r}\n{self.log_tail()}")
        self.url = first.rsplit(" ", 1)[-1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_file.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Stats:
    """``GET /_harness/stats`` on one keep-alive connection of its own.

    A fresh connection per sample would add its own tasks to the count it measures.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: _Conn | None = None
        self.samples: list[tuple[float, dict[str, Any]]] = []

    async def get(self, query: str = "") -> dict[str, Any]:
        for _ in range(2):
            if self.conn is None or self.conn.closed:
                self.conn = await connect(self.port)
            path = "/_harness/stats" + query
            got = await self.conn.request(
                http_request(self.port, path, b"", {}, method="GET"), None, 30
            )
            if got.complete and got.status == 200:
                stats: dict[str, Any] = json.loads(got.body)
                self.samples.append((time.time(), stats))
                return stats
            self.conn.close()
        raise RuntimeError(f"/_harness/stats answered HTTP {got.status}: {got.body[:200]!r}")

    async def settle(self, baseline: int, seconds: float) -> tuple[dict[str, Any], float]:
        """Poll until the task count is back to ``baseline`` (or ``seconds`` pass)."""
        began = time.perf_counter()
        while True:
            stats = await self.get()
            waited = time.perf_counter() - began
            if stats["tasks"] <= baseline and not stats["open_streams"]:
                return stats, waited
            if waited > seconds:  # what is left, by coroutine, for the report
                return await self.get("?tasks=1"), waited
            await asyncio.sleep(0.1)


# --- a phase --------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    tally: Tally
    wall: float
    cpu: float
    warm: dict[str, Any]
    after: dict[str, Any]
    before: dict[str, Any]
    settle_time: float
    peak_tasks: int
    peak_streams: int


async def run_phase(name: str, server: Server, args: argparse.Namespace, faults: bool) -> Phase:
    stats = Stats(server.port)
    before = await stats.get()
    job = {
        "port": server.port,
        "faults": faults,
        "deadline": time.time() + args.duration,
        "hangup_fraction": args.hangup_fraction,
        "malformed_fraction": args.malformed_fraction,
        "request_timeout": args.request_timeout,
    }
    per = [
        args.clients // args.workers + (i < args.clients % args.workers)
        for i in range(args.workers)
    ]
    began = time.perf_counter()
    if args.workers == 1:
        work: asyncio.Future[list[dict[str, Any]]] = asyncio.ensure_future(
            asyncio.gather(run_clients({**job, "clients": per[0], "seed": args.seed}))
        )
    else:
        work = asyncio.ensure_future(
            asyncio.gather(
                *(
                    _worker({**job, "clients": n, "seed": args.seed * 1000 + i})
                    for i, n in enumerate(per)
                )
            )
        )
    warm: dict[str, Any] | None = None
    peak_tasks = peak_streams = 0
    while not work.done():
        await asyncio.wait([work], timeout=1.0)
        if work.done():
            break
        sample = await stats.get()
        peak_tasks = max(peak_tasks, sample["tasks"])
        peak_streams = max(peak_streams, sample["open_streams"])
        # Warm-up: the time asked for, and the journal (a bounded buffer, ~3 KB an
        # entry) full, so what grows after it is not a buffer filling up.
        full = sample["journal_entries"] >= args.journal_max
        if warm is None and time.perf_counter() - began >= args.warmup and full:
            warm = sample
            warm["warm_at"] = time.perf_counter() - began
    results = work.result()
    wall = time.perf_counter() - began
    tally = Tally()
    cpu = 0.0
    for result in results:
        tally.merge(result)
        cpu += result["cpu"]
    after, settle_time = await stats.settle(before["tasks"], args.settle)
    if warm is None:  # a run shorter than the warm-up: compare with the end of the run
        warm = {**after, "warm_at": None}
    if stats.conn is not None:
        stats.conn.close()
    return Phase(name, tally, wall, cpu, warm, after, before, settle_time, peak_tasks, peak_streams)


async def _worker(job: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate(json.dumps(job).encode())
    if proc.returncode:
        raise RuntimeError(f"soak worker failed:\n{err.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


# --- the report -----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(phase: Phase, first: Phase | None, args: argparse.Namespace) -> bool:
    """Print one phase's figures and criteria; whether every criterion passed."""
    tally = phase.tally
    outcomes = tally.outcomes
    total = sum(outcomes.values())
    print(f"\n== phase {phase.name}: {args.clients} clients, {phase.wall:.1f} s ==")
    print(f"requests: {total:,} ({total / phase.wall:,.0f}/s)")
    for outcome, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {outcome:<26} {count:>9,}")
    if tally.malformed:
        shown = ", ".join(f"{k}: {v:,}" for k, v in sorted(tally.malformed.items()))
        print(f"  malformed answered with     {shown}")
    streams = outcomes["completed"]
    rate = streams / phase.wall
    mbps = tally.nbytes / phase.wall / 1e6
    ttfb50, ttfb99 = percentile(tally.ttfb, 0.5) * 1e3, percentile(tally.ttfb, 0.99) * 1e3
    dur50, dur99 = (
        percentile(tally.durations, 0.5) * 1e3,
        percentile(tally.durations, 0.99) * 1e3,
    )
    print(f"time to first byte  p50 {ttfb50:8.1f} ms   p99 {ttfb99:8.1f} ms")
    print(f"stream duration     p50 {dur50:8.1f} ms   p99 {dur99:8.1f} ms")
    print(
        f"client CPU {phase.cpu / phase.wall:.0%} of one core over {args.workers} process(es); "
        f"server peak: {phase.peak_tasks:,} tasks, {phase.peak_streams:,} open streams"
    )
    if first is not None:
        f_rate = first.tally.outcomes["completed"] / first.wall
        f_ttfb = percentile(first.tally.ttfb, 0.5) * 1e3
        f_dur = percentile(first.tally.durations, 0.5) * 1e3
        print(f"{'vs phase ' + first.name:<20} {'this':>10} {first.name:>10} {'ratio':>7}")
        print(f"{'streams/s':<20} {rate:>10,.0f} {f_rate:>10,.0f} {rate / f_rate:>6.2f}x")
        print(f"{'p50 ttfb ms':<20} {ttfb50:>10.1f} {f_ttfb:>10.1f} {ttfb50 / f_ttfb:>6.2f}x")
        print(f"{'p50 duration ms':<20} {dur50:>10.1f} {f_dur:>10.1f} {dur50 / f_dur:>6.2f}x")
    else:
        print(f"streams/s {rate:,.0f}, {mbps:.1f} MB/s of completed stream bodies")
    for line in tally.examples[:5]:
        print(f"  e.g. {line}")

    server_5xx = phase.after["requests"].get("5xx", 0) - phase.before["requests"].get("5xx", 0)
    warm_rss, after_rss = phase.warm["rss_bytes"], phase.after["rss_bytes"]
    ratio = after_rss / warm_rss if warm_rss and after_rss else float("nan")
    failures = sum(
        outcomes[k]
        for k in (
            "unexpected_status",
            "connection_error",
            "timeout",
            "malformed_not_4xx",
            "cut_missing",
            "incomplete",
            "chunk_mismatch",
        )
    )
    criteria = [
        ("zero 5xx (clients)", outcomes["5xx"] == 0, f"{outcomes['5xx']}"),
        ("zero 5xx (server's count)", server_5xx == 0, f"{server_5xx}"),
        (
            "byte-identical streams",
            outcomes["byte_mismatch"] == 0,
            f"{outcomes['byte_mismatch']} failures",
        ),
        ("no other failures", failures == 0, f"{failures}"),
        ("streams completed", streams > 0, f"{streams:,}"),
        (
            f"RSS after / after warm-up <= {RSS_LIMIT}",
            ratio <= RSS_LIMIT,
            f"{after_rss / 2**20:.1f} / {warm_rss / 2**20:.1f} MiB = {ratio:.3f}",
        ),
        (
            "tasks back to idle baseline",
            phase.after["tasks"] <= phase.before["tasks"],
            f"{phase.after['tasks']} (baseline {phase.before['tasks']}, "
            f"after {phase.settle_time:.1f} s)",
        ),
        ("no stream left open", phase.after["open_streams"] == 0, f"{phase.after['open_streams']}"),
    ]
    if "task_names" in phase.after:
        print(f"tasks left: {phase.after['task_names']}")
    warm_at = phase.warm.get("warm_at")
    print(
        "warm-up sample "
        + (f"at {warm_at:.1f} s" if warm_at is not None else "never taken (run too short)")
        + f", journal {phase.warm['journal_entries']:,} entries (cap {args.journal_max:,}); "
        f"after: {phase.after['journal_entries']:,} entries, {phase.after['plans_cached']} plans"
    )
    ok = True
    for name, passed, detail in criteria:
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {name:<34} {detail}")
    return ok


async def amain(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="harness-soak-") as tmp:
        server = Server(args.speed, args.journal_max, Path(tmp) / "server.log")
        watchdog = threading.Timer(args.hard_timeout, _give_up, (server,))
        watchdog.daemon = True
        watchdog.start()
        try:
            print(
                f"harness serve at {server.url} (pid {server.proc.pid}, speed {args.speed}); "
                f"{args.clients} clients x {args.duration:.0f} s per phase, hang-ups "
                f"{args.hangup_fraction:.2f}, malformed {args.malformed_fraction:.2f}, "
                f"seed {args.seed}, {args.workers} client process(es)"
            )
            targets = build_targets(False)
            families = Counter(t.family for t in targets)
            print(
                f"{len(targets)} stream targets ({dict(families)}); faults: {', '.join(OVERLAYS)}"
            )
            ok = True
            phases: list[Phase] = []
            names = (["plain"] if not args.faults_only else []) + (
                ["faults"] if args.faults else []
            )
            for name in names:
                phase = await run_phase(name, server, args, faults=name == "faults")
                ok &= report(phase, phases[0] if phases else None, args)
                phases.append(phase)
            log = server.log_tail()
            errors = log.count("Traceback") + log.count("internal error")
            print(f"\nserver log: {errors} tracebacks/internal errors")
            if errors:
                print(log[-2000:])
            ok &= errors == 0
            print(f"\nsoak: {'PASS' if ok else 'FAIL'}")
            return 0 if ok else 1
        finally:
            server.stop()
            watchdog.cancel()


def _give_up(server: Server) -> None:
    print("soak: hard timeout; killing the server", file=sys.stderr, flush=True)
    server.proc.kill()
    os._exit(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--hangup-fraction", type=float, default=1 / 3)
    parser.add_argument("--malformed-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=0.5, help="harness serve --speed")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before the RSS sample")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds for tasks to settle")
    parser.add_argument("--workers", type=int, default=1, help="client processes")
    parser.add_argument(
        "--journal-max",
        type=int,
        default=2000,
        help="harness serve --journal-max: the warm-up lasts until the journal is full",
    )
    parser.add_argument("--request-timeout", type=float, default=120.0, help="seconds")
    parser.add_argument(
        "--faults",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the fault-overlay phase after the plain one (default: yes)",
    )
    parser.add_argument("--faults-only", action="store_true", help="skip the plain phase")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(run_clients(json.load(sys.stdin)))))
        return 0
    phases = (not args.faults_only) + bool(args.faults)
    args.hard_timeout = phases * (2 * args.duration + args.request_timeout + 60)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
