"""Benchmark of Bedrock Converse in the pipeline: rendering and reading Converse streams.

The input is one long answer of N text deltas (then a tool call, the stop and the
usage), held in two formats: an Anthropic Messages SSE stream and the equivalent
Bedrock ``ConverseStream`` event stream (encoded by :func:`converse_frame`), each cut
into 64 KiB slices as a server reads an upstream body.

* ``render converse``: the Anthropic stream through :func:`harness.normalize` with
  ``renderer="bedrock-converse"`` (what ``/model/{id}/converse-stream`` sends for an
  Anthropic scenario); baseline ``render openai-chat``: the same stream with the default
  renderer, measured in the same run.
* ``read converse``: the Converse stream through ``normalize("bedrock-converse")``
  (event-stream decoding, the adapter, the chat renderer); baseline ``read anthropic``:
  the Anthropic stream through ``normalize("anthropic")``, same run.

Each output is checked before timing (the Converse output decoded by botocore's
``EventStreamBuffer`` must give back the N texts, the tool call and ``metadata``; the
chat outputs must end in ``[DONE]``), or the run fails. Times are medians of R
interleaved rounds (bench/timing.py; R=5; --quick: R=2 and N=20,000); ``ev/s`` is
input events per second; each ratio is case time / its baseline's (lower is better).
Nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import json
import sys

from botocore.eventstream import EventStreamBuffer
from timing import median, rounds  # bench/timing.py

from harness import normalize
from harness.stream.bedrock import converse_frame

CHUNK = 65536


def _sse(kind: str, data: dict[str, object]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _frame(name: str, data: dict[str, object]) -> bytes:
    return converse_frame(name, json.dumps(data, separators=(",", ":")).encode())


def anthropic_stream(n: int) -> bytes:
    """N text deltas, a tool_use block, message_delta and message_stop."""
    start = {"id": "msg_bench", "model": "claude", "role": "assistant", "content": []}
    parts = [_sse("message_start", {"type": "message_start", "message": start})]
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    parts.append(_sse("content_block_start", block))
    for i in range(n):
        delta = {"type": "text_delta", "text": f" token{i}"}
        parts.append(
            _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    parts.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    tool = {"type": "tool_use", "id": "toolu_bench", "name": "f", "input": {}}
    parts.append(
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 1, "content_block": tool},
        )
    )
    args = {"type": "input_json_delta", "partial_json": '{"a": 1}'}
    parts.append(
        _sse("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": args})
    )
    parts.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 1}))
    stop = {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use"},
        "usage": {"input_tokens": 9, "output_tokens": n},
    }
    parts.append(_sse("message_delta", stop))
    parts.append(_sse("message_stop", {"type": "message_stop"}))
    return b"".join(parts)


def converse_stream(n: int) -> bytes:
    """The same answer as Bedrock's ConverseStream sends it."""
    parts = [_frame("messageStart", {"role": "assistant"})]
    parts.extend(
        _frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f" token{i}"}})
        for i in range(n)
    )
    parts.append(_frame("contentBlockStop", {"contentBlockIndex": 0}))
    tool = {"toolUse": {"toolUseId": "toolu_bench", "name": "f"}}
    parts.append(_frame("contentBlockStart", {"contentBlockIndex": 1, "start": tool}))
    parts.append(
        _frame(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a": 1}'}}},
        )
    )
    parts.append(_frame("contentBlockStop", {"contentBlockIndex": 1}))
    parts.append(_frame("messageStop", {"stopReason": "tool_use"}))
    usage = {"inputTokens": 9, "outputTokens": n, "totalTokens": 9 + n}
    parts.append(_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
    return b"".join(parts)


def slices(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def run(provider: str, chunks: list[bytes], renderer: str) -> bytes:
    return b"".join(normalize(provider, chunks, renderer=renderer))


def check_converse(output: bytes, n: int) -> str | None:
    """What is wrong with a rendered Converse stream, if anything (read by botocore)."""
    buffer = EventStreamBuffer()
    buffer.add_data(output)
    texts, names = [], []
    for message in buffer:
        name = message.headers.get(":event-type") or message.headers.get(":exception-type")
        names.append(name)
        body = json.loads(message.payload)
        if name == "contentBlockDelta" and "text" in body["delta"]:
            texts.append(body["delta"]["text"])
    if texts != [f" token{i}" for i in range(n)]:
        return f"{len(texts)} texts of {n}"
    if (
        names[-3:] != ["contentBlockStop", "messageStop", "metadata"]
        or "contentBlockStart" not in names
    ):
        return f"unexpected events at the end: {names[-4:]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=20,000, 2 repeats")
    args = parser.parse_args()
    n, repeats = (20_000, 2) if args.quick else (100_000, 5)
    anthropic = slices(anthropic_stream(n))
    converse = slices(converse_stream(n))

    problem = check_converse(run("anthropic", anthropic, "bedrock-converse"), n)
    for provider, chunks in (("anthropic", anthropic), ("bedrock-converse", converse)):
        if not run(provider, chunks, "openai-chat").endswith(b"data: [DONE]\n\n"):
            problem = problem or f"{provider} did not normalize to a complete chat stream"
    if problem:
        print(f"FAIL: {problem}")
        return 1

    cases = {
        "render converse": lambda: run("anthropic", anthropic, "bedrock-converse"),
        "render openai-chat": lambda: run("anthropic", anthropic, "openai-chat"),
        "read converse": lambda: run("bedrock-converse", converse, "openai-chat"),
        "read anthropic": lambda: run("anthropic", anthropic, "openai-chat"),
    }
    times = {name: median(values) for name, values in rounds(repeats, cases).items()}
    size_a, size_c = sum(map(len, anthropic)), sum(map(len, converse))
    print(
        f"N={n:,} text deltas: Anthropic SSE {size_a:,} bytes, Converse event stream "
        f"{size_c:,} bytes, in {CHUNK // 1024} KiB slices; median of {repeats} interleaved "
        "rounds; "
        f"Python {sys.version.split()[0]}"
    )
    print(f"{'case':<28} {'time':>10} {'ev/s':>12}")
    for name, took in times.items():
        baseline = " (baseline)" if name in ("render openai-chat", "read anthropic") else ""
        print(f"{name + baseline:<28} {took:8.3f} s {n / took:>12,.0f}")
    render = times["render converse"] / times["render openai-chat"]
    read = times["read converse"] / times["read anthropic"]
    print(f"ratio render converse/openai-chat: {render:.2f}x (lower is better)")
    print(f"ratio read converse/anthropic: {read:.2f}x (lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
