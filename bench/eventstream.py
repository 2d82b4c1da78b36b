"""Benchmark of ``harness.stream.eventstream``: decoding against botocore's parser.

The input is N Bedrock-like ``InvokeModelWithResponseStream`` chunk messages
(``:event-type: chunk``, ``:content-type: application/json``, ``:message-type: event``;
payload ``{"bytes": base64 of an Anthropic content_block_delta, "p": padding}``, as
Bedrock sends them), encoded once by :func:`harness.stream.eventstream.encode` and cut
into 64 KiB slices, as a client reads a response body.

* ``harness``: :class:`EventStreamDecoder` ``feed`` over the slices, then ``finish``.
* ``botocore`` (the baseline, measured in the same run over the same bytes):
  ``botocore.eventstream.EventStreamBuffer``: ``add_data`` per slice, then iterate, as
  botocore's ``EventStream`` does.

Both runs must yield N messages with the same payloads, or the run fails. Times are
the median of R interleaved rounds after a warm-up (R=5; --quick: R=2 and N=20,000;
bench/timing.py). ``ev/s`` is messages per
second; ``ratio`` is harness time / botocore time (lower is better). Nothing is
asserted about speed: the figures are the result. Encoding speed is shown too
(no baseline: botocore has no encoder).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

from botocore.eventstream import EventStreamBuffer
from timing import median, rounds  # bench/timing.py

from harness.stream.eventstream import (
    EventStreamDecoder,
    EventStreamMessage,
    encode,
    event_message,
)

CHUNK = 65536


def bedrock_messages(n: int) -> list[EventStreamMessage]:
    """N chunk messages, with Bedrock's varying ``p`` padding."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    out = []
    for i in range(n):
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": f" token{i}"},
        }
        body = {
            "bytes": base64.b64encode(json.dumps(delta).encode()).decode(),
            "p": alphabet[: 1 + i % len(alphabet)],
        }
        out.append(event_message("chunk", json.dumps(body).encode()))
    return out


def run_harness(chunks: list[bytes]) -> list[bytes]:
    decoder = EventStreamDecoder()
    payloads = []
    for chunk in chunks:
        payloads.extend([message.payload for message in decoder.feed(chunk)])
    decoder.finish()
    return payloads


def run_botocore(chunks: list[bytes]) -> list[bytes]:
    buffer = EventStreamBuffer()
    payloads = []
    for chunk in chunks:
        buffer.add_data(chunk)
        payloads.extend([message.payload for message in buffer])
    return payloads


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=20,000, 2 repeats")
    args = parser.parse_args()
    n, repeats = (20_000, 2) if args.quick else (100_000, 5)

    messages = bedrock_messages(n)
    data = b"".join([encode(message) for message in messages])
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]

    ours, theirs = run_harness(chunks), run_botocore(chunks)
    if len(ours) != n or ours != theirs:
        print(f"FAIL: harness gave {len(ours)} messages, botocore {len(theirs)}")
        return 1

    times = rounds(
        repeats,
        {
            "harness": lambda: run_harness(chunks),
            "botocore": lambda: run_botocore(chunks),
            "encode": lambda: [encode(message) for message in messages],
        },
    )
    harness_time, botocore_time, encode_time = (
        median(times[name]) for name in ("harness", "botocore", "encode")
    )
    print(
        f"N={n:,} Bedrock chunk messages, {len(data):,} bytes in {len(chunks):,} slices "
        f"of {CHUNK // 1024} KiB; median of {repeats} interleaved rounds; "
        f"Python {sys.version.split()[0]}"
    )
    print(f"{'case':<24} {'time':>10} {'ev/s':>12}")
    print(f"{'harness decode':<24} {harness_time:8.3f} s {n / harness_time:>12,.0f}")
    print(f"{'botocore (baseline)':<24} {botocore_time:8.3f} s {n / botocore_time:>12,.0f}")
    print(f"{'harness encode':<24} {encode_time:8.3f} s {n / encode_time:>12,.0f}")
    print(f"ratio harness/botocore: {harness_time / botocore_time:.2f}x (lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
