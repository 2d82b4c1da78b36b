"""Benchmark of ``harness.normalize``: throughput against a JSON round-trip baseline.

What is measured (all inputs are synthetic SSE streams built below from the documented
shapes, fed in 64 KiB slices, as ``harness normalize`` reads a file):

* ``anthropic``: message_start, content_block_start, N ``text_delta`` events,
  content_block_stop, message_delta, message_stop (N + 5 events).
* ``openai``: N Chat Completions chunks (the first with ``role``), a ``finish_reason``
  chunk, a usage-only chunk and ``[DONE]`` (N + 3 events).
* ``gemini``: N ``streamGenerateContent?alt=sse`` chunks, each with one text part, the
  usage so far, the model version and the response id (as the API sends them), and a
  last chunk with ``finishReason`` and the whole usage (N + 1 events).
* ``openai-responses``: response.created, response.in_progress, output_item.added,
  content_part.added, N ``response.output_text.delta`` events, response.completed
  (N + 5 events). The in-process cases also run the Responses renderer
  (``renderer="openai-responses"``) on the Anthropic and Responses inputs.

1. In-process: wall time to consume ``normalize(provider, chunks)`` (the run fails
   unless the output ends in ``[DONE]``), against a baseline that does the least any
   normalizer must do over the same bytes: split the whole input on ``b"\\n\\n"``,
   split each event into lines, find the ``data: `` line and, unless it is ``[DONE]``,
   ``json.dumps(json.loads(payload))`` (nothing is encoded or kept).
2. Whole process: ``python -m harness normalize --provider P FILE > /dev/null`` against
   ``python -c BASELINE_SCRIPT FILE > /dev/null``, a script that reads FILE in 64 KiB
   reads, splits events, round-trips each payload through JSON and writes it as an SSE
   frame to stdout. Interpreter start-up is included in both.
3. Memory, Anthropic stream at several sizes: the tracemalloc peak of ``normalize``
   over input generated lazily in 64 KiB chunks (never held whole), and the peak RSS
   (VmHWM, Linux /proc) of one whole-process run each of harness and baseline.

Each case runs harness twice, with the standard library's JSON reader and, when
orjson is installed (``harness[fast]``, in the test environment), with it: rows ``+orjson``.

Target (issue 17): harness time <= 1.5x baseline time for each case (1 and 2) with the
standard library, <= 1.0x with orjson; memory "flat" means the largest tracemalloc
peak is < 2x the smallest (VmHWM is shown, not judged).

Reading the output: harness and baseline run side by side in R rounds after a
warm-up (R=5; --quick: R=3, N=20,000, smaller memory sizes; bench/timing.py): times
are medians over the rounds, ``spread`` is (max - min) / median of harness's, and
``ratio`` is the median of the per-round harness/baseline ratios: lower is better,
and the verdict is against the target (PASS; TIE: missed by less than half the range
of the per-round ratios, which this run cannot tell apart; FAIL). ``ev/s`` is input
events per second. The exit status is 0 unless something errored: a FAIL is a
finding, not a crash.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from timing import median, ratio, rounds, spread  # bench/timing.py
from timing import verdict as timing_verdict

from harness import _json, normalize

CHUNK = 65536
TARGET = 1.5
#: The target with the accelerated JSON reader (``harness[fast]``: orjson).
TARGET_FAST = 1.0
ACCELERATED = _json.accelerated()

BASELINE_SCRIPT = """\
import json, sys
out = sys.stdout.buffer
buf = b""
with open(sys.argv[1], "rb") as f:
    while block := f.read(65536):
        buf += block
        *events, buf = buf.split(b"\\n\\n")
        for event in events:
            for line in event.split(b"\\n"):
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    text = json.dumps(json.loads(line[6:]))
                    out.write(b"data: " + text.encode() + b"\\n\\n")
"""

HARNESS_SCRIPT = """\
import sys
from harness.cli import main
if main(["normalize", "--provider", "anthropic", sys.argv[1]]):
    raise SystemExit(1)
"""

#: ``harness normalize`` with the standard library's JSON reader (orjson turned off).
STDLIB_SCRIPT = """\
import sys
from harness import _json
from harness.cli import main
_json.accelerated(False)
raise SystemExit(main(["normalize", "--provider", sys.argv[1], sys.argv[2]]))
"""

RSS_WRAPPER = """\
import re, sys

code, sys.argv = sys.argv[1], sys.argv[1:]
exec(compile(code, "<bench>", "exec"), {"__name__": "__main__"})
sys.stdout.flush()
status = open("/proc/self/status").read()
print(re.search(r"VmHWM:\\s+(\\d+)", status)[1], file=sys.stderr)
"""


def _sse(event: str | None, data: object) -> bytes:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {body}\n\n".encode()


def anthropic_events(n: int) -> Iterator[bytes]:
    """The events of an Anthropic text stream with ``n`` deltas, one by one."""
    message = {"id": "msg_bench", "type": "message", "role": "assistant"}
    message |= {"model": "claude-bench", "content": [], "stop_reason": None}
    message["usage"] = {"input_tokens": 10, "output_tokens": 1}
    yield _sse("message_start", {"type": "message_start", "message": message})
    block = {"type": "text", "text": ""}
    yield _sse(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    )
    for i in range(n):
        delta = {"type": "text_delta", "text": f"tok{i} "}
        yield _sse(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    stop = {"stop_reason": "end_turn", "stop_sequence": None}
    yield _sse(
        "message_delta", {"type": "message_delta", "delta": stop, "usage": {"output_tokens": n}}
    )
    yield _sse("message_stop", {"type": "message_stop"})


def openai_events(n: int) -> Iterator[bytes]:
    """The events of an OpenAI Chat Completions stream with ``n`` content chunks."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000}
    base["model"] = "gpt-bench"
    for i in range(n):
        delta = {"role": "assistant", "content": f"tok{i} "} if i == 0 else {"content": f"tok{i} "}
        yield _sse(None, base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    yield _sse(None, base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}
    yield _sse(None, base | {"choices": [], "usage": usage})
    yield _sse(None, "[DONE]")


def responses_events(n: int) -> Iterator[bytes]:
    """The events of an OpenAI Responses stream with ``n`` ``output_text.delta`` events."""
    seq = iter(range(n + 10))
    response = {"id": "resp_bench", "object": "response", "created_at": 1700000000}
    response |= {"status": "in_progress", "model": "gpt-bench", "output": [], "usage": None}

    def event(kind: str, **fields: object) -> bytes:
        return _sse(kind, {"type": kind, "sequence_number": next(seq), **fields})

    yield event("response.created", response=response)
    yield event("response.in_progress", response=response)
    item = {"id": "msg_bench", "type": "message", "status": "in_progress", "content": []}
    item |= {"role": "assistant"}
    yield event("response.output_item.added", output_index=0, item=item)
    part = {"type": "output_text", "annotations": [], "text": ""}
    yield event(
        "response.content_part.added",
        item_id="msg_bench",
        output_index=0,
        content_index=0,
        part=part,
    )
    for i in range(n):
        yield event(
            "response.output_text.delta",
            item_id="msg_bench",
            output_index=0,
            content_index=0,
            delta=f"tok{i} ",
            logprobs=[],
        )
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}}
    usage |= {"output_tokens": n, "output_tokens_details": {"reasoning_tokens": 0}}
    usage["total_tokens"] = 10 + n
    done = response | {"status": "completed", "usage": usage}
    yield event("response.completed", response=done)


def gemini_events(n: int) -> Iterator[bytes]:
    """The events of a Gemini ``streamGenerateContent?alt=sse`` stream with ``n`` text
    chunks: each carries the usage so far, the model version and the response id, as
    the API sends them; the last one the finish reason and the whole usage."""
    prompt = {
        "promptTokenCount": 10,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}],
    }
    tail = {"modelVersion": "gemini-bench", "responseId": "bench-response"}
    for i in range(n):
        content = {"parts": [{"text": f"tok{i} "}], "role": "model"}
        usage = prompt | {"totalTokenCount": 10}
        yield _sse(None, {"candidates": [{"content": content}], "usageMetadata": usage} | tail)
    content = {"parts": [{"text": ""}], "role": "model"}
    usage = prompt | {"candidatesTokenCount": n, "totalTokenCount": 10 + n}
    last = {"candidates": [{"content": content, "finishReason": "STOP"}], "usageMetadata": usage}
    yield _sse(None, last | tail)


STREAMS: dict[str, Callable[[int], Iterator[bytes]]] = {
    "anthropic": anthropic_events,
    "openai": openai_events,
    "openai-responses": responses_events,
    "gemini": gemini_events,
}

#: In-process cases: (name, input stream, renderer). The Responses renderer's cases
#: measure it against the same JSON baseline over the same input.
CASES: tuple[tuple[str, str, str], ...] = (
    ("anthropic", "anthropic", "openai-chat"),
    ("openai", "openai", "openai-chat"),
    ("openai-responses", "openai-responses", "openai-chat"),
    ("gemini", "gemini", "openai-chat"),
    ("anthropic -> responses", "anthropic", "openai-responses"),
    ("responses -> responses", "openai-responses", "openai-responses"),
)

#: The last frame of a complete stream, per renderer.
_LAST = {"openai-chat": b"data: [DONE]\n\n", "openai-responses": b"event: response.completed\n"}


def lazy_chunks(events: Iterator[bytes]) -> Iterator[bytes]:
    """Re-slice a stream of events into 64 KiB chunks without ever holding it whole."""
    buf = bytearray()
    for event in events:
        buf += event
        if len(buf) >= CHUNK:
            yield bytes(buf[:CHUNK])
            del buf[:CHUNK]
    if buf:
        yield bytes(buf)


def slices(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def baseline(data: bytes) -> None:
    """The in-process baseline: split events and lines, JSON round-trip each payload."""
    loads, dumps = json.loads, json.dumps
    for event in data.split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                dumps(loads(line[6:]))


def drain(provider: str, chunks: Iterable[bytes], renderer: str = "openai-chat") -> None:
    """Consume ``normalize``'s output; fail unless the stream ended cleanly ([DONE], or
    ``response.completed`` for the Responses renderer)."""
    out = normalize(provider, chunks, renderer=renderer)
    tail = deque(out, maxlen=1)  # consumes all, keeps the last
    last = tail[0] if tail else b""
    if not last.startswith(_LAST[renderer]):
        raise SystemExit(f"bench: {provider} stream did not end cleanly: {last[:200]!r}")


def run_process(cmd: list[str]) -> float:
    """Run ``cmd`` with stdout to /dev/null; its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def peak_rss(code: str, path: Path) -> int:
    """VmHWM (KiB) of a ``python -c code path`` child, stdout to /dev/null.

    Read in the child from /proc/self/status: ``os.wait4``'s ``ru_maxrss`` would also
    count this (large) process, whose high-water mark a forked child inherits on Linux.
    """
    cmd = [sys.executable, "-c", RSS_WRAPPER, code, str(path)]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return int(proc.stderr.split()[-1])


def row(case: str, events: int, times: dict[str, list[float]], name: str, target: float) -> None:
    harness, base = median(times[name]), median(times["baseline"])
    factor = ratio(times[name], times["baseline"])
    pairs = [a / b for a, b in zip(times[name], times["baseline"], strict=True)]
    verdict = timing_verdict(pairs, target, higher=False)
    print(
        f"{case:<34} {harness:8.3f} s {events / harness:>11,.0f} "
        f"{base:8.3f} s {events / base:>11,.0f} {factor:6.2f}x  <={target}x {verdict}"
        f"  (spread {spread(times[name]):.0%})"
    )


def sides(run: Callable[[], object]) -> dict[str, Callable[[], object]]:
    """``run`` with the standard library's JSON reader, and with orjson when installed."""

    def stdlib() -> object:
        _json.accelerated(False)
        try:
            return run()
        finally:
            _json.accelerated(True)

    out = {"stdlib": stdlib}
    if ACCELERATED:
        out[ACCELERATED] = run
    return out


def rows(case: str, events: int, times: dict[str, list[float]]) -> None:
    row(f"{case}", events, times, "stdlib", TARGET)
    if ACCELERATED:
        row(f"{case} +{ACCELERATED}", events, times, ACCELERATED, TARGET_FAST)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=20,000, 2 repeats")
    args = parser.parse_args()
    n, repeats = (20_000, 3) if args.quick else (100_000, 5)
    mem_sizes = [10_000, 50_000] if args.quick else [10_000, 100_000, 300_000]
    began = time.perf_counter()
    inputs = {name: b"".join(make(n)) for name, make in STREAMS.items()}
    counts = {name: sum(1 for _ in make(n)) for name, make in STREAMS.items()}

    python = sys.version.split()[0]
    print(
        f"N={n:,} deltas, median of {repeats} interleaved rounds, {CHUNK // 1024} KiB chunks,"
        f" Python {python}"
    )
    columns = ("harness", "ev/s", "baseline", "ev/s")
    header = f"{'case':<34} " + "{:>10} {:>11} {:>10} {:>11}".format(*columns) + "   ratio  target"
    print(header)
    print("-" * len(header))
    for case, provider, renderer in CASES:
        data = inputs[provider]
        chunks = slices(data)

        def run(provider: str = provider, chunks: list[bytes] = chunks, r: str = renderer) -> None:
            drain(provider, chunks, r)

        times = rounds(repeats, {**sides(run), "baseline": lambda data=data: baseline(data)})
        rows(f"{case} in-process", counts[provider], times)

    with tempfile.TemporaryDirectory() as tmp:
        for name, data in inputs.items():
            path = Path(tmp) / f"{name}.sse"
            path.write_bytes(data)
            harness_cmd = [sys.executable, "-m", "harness", "normalize", "--provider", name]
            stdlib_cmd = [sys.executable, "-c", STDLIB_SCRIPT, name, str(path)]
            base_cmd = [sys.executable, "-c", BASELINE_SCRIPT, str(path)]
            commands = {"stdlib": stdlib_cmd, "baseline": base_cmd}
            if ACCELERATED:
                commands[ACCELERATED] = [*harness_cmd, str(path)]
            times = rounds(
                repeats, {side: lambda cmd=cmd: run_process(cmd) for side, cmd in commands.items()}
            )
            rows(f"{name} whole-process", counts[name], times)

        print("\nmemory, anthropic stream:")
        print("   deltas  tracemalloc peak  harness VmHWM  baseline VmHWM")
        peaks = []
        for size in mem_sizes:
            # In-process: input generated lazily, never held whole.
            tracemalloc.start()
            drain("anthropic", lazy_chunks(anthropic_events(size)))
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            # Whole process: one run each, on a file written chunk by chunk.
            path = Path(tmp) / f"mem-{size}.sse"
            with path.open("wb") as f:
                f.writelines(lazy_chunks(anthropic_events(size)))
            h_rss, b_rss = peak_rss(HARNESS_SCRIPT, path), peak_rss(BASELINE_SCRIPT, path)
            path.unlink()
            print(
                f"{size:>9,}  {peaks[-1] / 1024:>12,.1f} KiB  {h_rss / 1024:>9,.1f} MiB"
                f"  {b_rss / 1024:>10,.1f} MiB"
            )
    verdict = "flat" if max(peaks) < 2 * min(peaks) else "NOT flat"
    print(f"tracemalloc peak largest/smallest {max(peaks) / min(peaks):.2f}x: {verdict} (< 2x)")
    print(f"total {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
