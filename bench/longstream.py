"""Benchmark: long streams in flat memory, first byte in constant time.

What is measured. For each length N (10,000, 100,000 and 1,000,000 events; --quick:
10,000 and 100,000), a capture of N OpenAI chunks plus a finish chunk and ``[DONE]``
is written beside a scenario that replays it (``events: [{file: long.sse}]``), with a
10-event scenario beside it as the baseline. A fresh ``harness serve --speed 0`` (a
subprocess, so its memory is its own) serves both on 127.0.0.1. After one request to
the short scenario (the server is warm), its resident memory is read (VmRSS, the
idle level); then the long stream is requested three times with httpx, each read to
its end and checked byte for byte against the capture, and the short one three times.

Reported per N: the idle RSS; the peak RSS over idle (VmHWM - idle: the most the
server ever held more than idle, whole run); time to first byte of the long stream
(median of 3, request sent to the first body byte) against the short stream's in the
same server (ratio: 1.0 is constant time); the long stream's events per second.

Goals (issue 17): at 1M events, first byte <= 20 ms and peak growth <= 50 MiB over
idle. PASS/FAIL is printed against them; the exit status is 0 unless something
errored (a FAIL is a finding, not a crash).

    python bench/longstream.py [--quick] [--lengths 10000,1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

GOAL_FIRST_BYTE_MS = 20.0
GOAL_GROWTH_MIB = 50.0
CHUNK = (
    'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"m",'
    '"choices":[{"index":0,"delta":{"content":"tok%d "},"finish_reason":null}]}\n\n'
)
END = (
    'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"m",'
    '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)
BODY = b'{"model":"m","stream":true,"messages":[]}'


def write_capture(path: Path, events: int) -> int:
    """A capture of ``events`` content chunks, a finish chunk and [DONE]; its size."""
    with path.open("w", encoding="utf-8", newline="") as out:
        for start in range(0, events, 10_000):
            out.write("".join(CHUNK % i for i in range(start, min(events, start + 10_000))))
        out.write(END)
    return path.stat().st_size


def scenarios(folder: Path, events: int) -> int:
    size = write_capture(folder / "long.sse", events)
    (folder / "long.yaml").write_text(
        "version: 1\nprovider: openai\nevents:\n  - {file: long.sse}\n"
    )
    write_capture(folder / "short.sse", 10)
    (folder / "short.yaml").write_text(
        "version: 1\nprovider: openai\nevents:\n  - {file: short.sse}\n"
    )
    return size


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def fetch(url: str, expected: bytes | None) -> tuple[float, float]:
    """(seconds to the first body byte, seconds to the last) of one streamed answer."""
    with httpx.Client(timeout=300) as client:
        sent = time.perf_counter()
        with client.stream(
            "POST", url, content=BODY, headers={"content-type": "application/json"}
        ) as answer:
            first = None
            received = bytearray() if expected is not None else None
            size = 0
            for chunk in answer.iter_raw():
                if first is None:
                    first = time.perf_counter() - sent
                size += len(chunk)
                if received is not None:
                    received += chunk
            last = time.perf_counter() - sent
    if answer.status_code != 200:
        raise SystemExit(f"{url}: HTTP {answer.status_code}")
    if expected is not None and bytes(received or b"") != expected:
        raise SystemExit(f"{url}: the body differs from the capture ({size} bytes)")
    assert first is not None
    return first, last


def measure(events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="harness-long-") as tmp:
        folder = Path(tmp)
        scenarios(folder, events)
        long_bytes = (folder / "long.sse").read_bytes()
        short_bytes = (folder / "short.sse").read_bytes()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness",
                "serve",
                "--scenarios",
                str(folder),
                "--port",
                "0",
                "--speed",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            base = line.rsplit(" on ", 1)[1].strip()
            fetch(f"{base}/s/short/v1/chat/completions", short_bytes)
            idle = memory(server.pid)["VmRSS"]
            long_first, long_total = [], []
            for _ in range(3):
                first, total = fetch(f"{base}/s/long/v1/chat/completions", long_bytes)
                long_first.append(first)
                long_total.append(total)
            short_first = [fetch(f"{base}/s/short/v1/chat/completions", None)[0] for _ in range(3)]
            peak = memory(server.pid)["VmHWM"]
        finally:
            server.terminate()
            server.wait(timeout=30)
        del long_bytes
    return {
        "idle_mib": idle / 2**20,
        "growth_mib": (peak - idle) / 2**20,
        "first_ms": statistics.median(long_first) * 1000,
        "first_spread_ms": (max(long_first) - min(long_first)) * 1000,
        "short_first_ms": statistics.median(short_first) * 1000,
        "events_per_s": (events + 2) / statistics.median(long_total),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 events only")
    parser.add_argument("--lengths", default=None, help="comma-separated event counts")
    args = parser.parse_args(argv)
    lengths = (
        [int(n) for n in args.lengths.split(",")]
        if args.lengths
        else [10_000, 100_000]
        if args.quick
        else [10_000, 100_000, 1_000_000]
    )
    print(
        f"long streams: harness serve --speed 0, one subprocess per length ({os.cpu_count()} cores)"
    )
    print(
        f"{'events':>10} {'idle RSS':>9} {'peak-idle':>10} {'1st byte':>9} {'(spread)':>9} "
        f"{'short 1st':>10} {'ratio':>6} {'events/s':>10}"
    )
    verdicts = []
    for events in lengths:
        m = measure(events)
        ratio = m["first_ms"] / m["short_first_ms"]
        print(
            f"{events:>10,} {m['idle_mib']:>7.1f}Mi {m['growth_mib']:>8.1f}Mi "
            f"{m['first_ms']:>7.2f}ms "
            f"{m['first_spread_ms']:>7.2f}ms {m['short_first_ms']:>8.2f}ms {ratio:>6.2f} "
            f"{m['events_per_s']:>10,.0f}"
        )
        if events >= 1_000_000:
            verdicts.append(("first byte at 1M <= 20 ms", m["first_ms"] <= GOAL_FIRST_BYTE_MS))
            verdicts.append(("peak growth at 1M <= 50 MiB", m["growth_mib"] <= GOAL_GROWTH_MIB))
    for goal, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
