"""Coverage-guided fuzz targets for the pure core (atheris, i.e. libFuzzer for Python).

Usage::

    python bench/fuzz/run.py TARGET [libFuzzer options] [CORPUS_DIR ...]

TARGET is one of:

* ``sse``: the SSE decoder. Any split of the input gives the same events and comments
  as the whole input, nothing raises, and every event survives ``encode`` -> decode.
* ``openai``, ``anthropic``, ``gemini``: the whole pipeline for that provider. The
  input is the provider's raw stream; ``normalize`` runs on it under several
  deterministic chunkings (whole, byte by byte for short inputs, fixed slices, after
  every CR and LF, pseudo-random cuts seeded by the input) and ``anormalize`` on one.
  Nothing raises; all outputs are byte-identical; the output is well-formed SSE (every
  frame ``: keep-alive`` or ``data:`` with strict JSON) and ends in exactly one
  terminal frame (``[DONE]`` after the usage chunk, or one ``stream_error`` chunk),
  with nothing after it. For Gemini, which sends whole ``args`` objects, every tool
  call's ``arguments`` is strict JSON.

A broken property raises ``AssertionError`` (an unexpected exception propagates
unchanged), which libFuzzer reports as a crash and writes to ``-artifact_prefix``.
Everything is deterministic in the input bytes, so a crash file reproduces with
``python bench/fuzz/run.py TARGET CRASH_FILE``. See bench/fuzz/README.md.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import atheris

# Instrument harness (and only harness) for coverage feedback: it must be imported
# inside this block for atheris to rewrite its bytecode.
with atheris.instrument_imports(include=["harness"]):
    from harness.pipeline import anormalize, normalize
    from harness.sse import Comment, ServerSentEvent, SSEDecoder, encode

BYTEWISE_MAX = 256  # byte-by-byte feeding is O(n) calls: only for short inputs
RANDOM_CUTS = 16
KEEPALIVE_FRAME = b": keep-alive"


# --- Chunkings: all deterministic in the input, so crashes reproduce. ----------------


def chunkings(data: bytes) -> Iterator[list[bytes]]:
    """The splits of ``data`` every target compares (the first is the whole input)."""
    yield [data]
    if len(data) <= BYTEWISE_MAX:
        yield [data[i : i + 1] for i in range(len(data))]
    yield [data[i : i + 7] for i in range(0, len(data), 7)]
    # Right after every CR and every LF: the CRLF-across-reads and blank-line cases.
    yield _cut(data, [i + 1 for i, b in enumerate(data) if b in (0x0A, 0x0D)])
    # Right before every CR and LF too, so a CR ends one chunk and its LF starts the next.
    yield _cut(data, [i for i, b in enumerate(data) if b in (0x0A, 0x0D)])
    rng = random.Random(zlib.crc32(data))
    yield _cut(data, [rng.randrange(len(data) + 1) for _ in range(RANDOM_CUTS)])


def _cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *sorted(set(points)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


# --- Target: the SSE decoder. ---------------------------------------------------------


def _decode_items(chunks: list[bytes]) -> list[ServerSentEvent | Comment]:
    decoder = SSEDecoder()
    items: list[ServerSentEvent | Comment] = []
    for chunk in chunks:
        items += decoder.feed_items(chunk)
    items += decoder.flush_items()
    return items


def fuzz_sse(data: bytes) -> None:
    whole = None
    for chunks in chunkings(data):
        items = _decode_items(chunks)
        if whole is None:
            whole = items
        elif items != whole:
            raise AssertionError(f"split {[len(c) for c in chunks]} changed the events")
    assert whole is not None
    for item in whole:
        if type(item) is ServerSentEvent:
            again = _decode_items([encode(item)])
            if again != [item]:
                raise AssertionError(f"encode round trip: {item!r} came back as {again!r}")


# --- Targets: the pipeline, per provider. -------------------------------------------


async def _aiter(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _acollect(provider: str, chunks: list[bytes]) -> bytes:
    return b"".join([frame async for frame in anormalize(provider, _aiter(chunks))])


def _run(coro: Coroutine[Any, Any, bytes]) -> bytes:
    """Run a coroutine that never suspends (our input iterator never waits)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        result: bytes = stop.value
        return result
    coro.close()
    raise AssertionError("anormalize suspended although its input never waits")


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"output JSON contains {name}, which is not JSON")


def check_output(out: bytes) -> None:
    """The output invariants of harness.pipeline, on one normalized stream."""
    out.decode("utf-8")  # strict: the output is always valid UTF-8
    assert out.endswith(b"\n\n"), out[-80:]
    frames = out[:-2].split(b"\n\n")
    terminal = 0
    for n, frame in enumerate(frames):
        last = n == len(frames) - 1
        if frame == KEEPALIVE_FRAME:
            assert not last, "a keep-alive after the terminal frame"
            continue
        assert frame.startswith(b"data: "), frame[:80]
        payload = frame[6:]
        if payload == b"[DONE]":
            assert last, "[DONE] is not the last frame"
            terminal += 1
            # include_usage is on by default: the usage chunk comes right before.
            assert n > 0, "[DONE] without the usage chunk"
            usage = json.loads(frames[n - 1][6:])
            assert usage["choices"] == [], usage
            assert "usage" in usage, usage
            continue
        chunk = json.loads(payload, parse_constant=_reject_constant)
        assert type(chunk) is dict, chunk
        if "error" in chunk:
            assert last, "an error chunk is not the last frame"
            assert set(chunk) == {"error"}, chunk
            error = chunk["error"]
            assert error["type"] == "stream_error", error
            assert all(type(error[k]) is str for k in ("code", "message", "provider"))
            terminal += 1
        else:
            assert chunk["object"] == "chat.completion.chunk", chunk
            assert type(chunk["choices"]) is list, chunk
    assert terminal == 1, f"{terminal} terminal frames"


def check_whole_arguments(out: bytes) -> None:
    """Gemini sends whole ``args`` objects: every ``arguments`` written is strict JSON."""
    for frame in out[:-2].split(b"\n\n"):
        if not frame.startswith(b"data: {"):
            continue
        for choice in json.loads(frame[6:]).get("choices", []):
            for call in choice["delta"].get("tool_calls", []):
                args = json.loads(call["function"]["arguments"], parse_constant=_reject_constant)
                assert type(args) is dict, args


def pipeline_target(provider: str) -> Callable[[bytes], None]:
    def fuzz_pipeline(data: bytes) -> None:
        whole = None
        for chunks in chunkings(data):
            out = b"".join(normalize(provider, chunks))
            if whole is None:
                check_output(out)
                if provider == "gemini":
                    check_whole_arguments(out)
                whole = out
                asynced = _run(_acollect(provider, [*chunks[:1], b"", *chunks[1:]]))
                if asynced != whole:
                    raise AssertionError("anormalize gave other bytes than normalize")
            elif out != whole:
                raise AssertionError(f"split {[len(c) for c in chunks]} changed the output")

    return fuzz_pipeline


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sse": fuzz_sse,
    "openai": pipeline_target("openai"),
    "anthropic": pipeline_target("anthropic"),
    "gemini": pipeline_target("gemini"),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options] [corpus]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
