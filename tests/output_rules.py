"""The pipeline's output rules, stated once: what every normalized stream must be.

The Hypothesis properties (tests/test_fuzz_adapters.py, tests/test_pipeline_properties.py)
and the atheris targets (bench/fuzz/run.py, which puts the repository root on
``sys.path`` to import this) all check their outputs with :func:`check_output`, cut
their inputs with :func:`split`, and run ``anormalize`` through :func:`acollect`.

A broken rule raises ``AssertionError``: the fuzzer reports it as a crash.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from harness.stream.pipeline import anormalize
from tests.streams import events_of

KEEPALIVE = b": keep-alive"
DONE = b"data: [DONE]"
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens"}


def _no_constants(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """``text`` parsed as JSON, refusing ``NaN``, ``Infinity`` and ``-Infinity``."""
    return json.loads(text, parse_constant=_no_constants)


def check_output(out: bytes, provider: str | None = None) -> None:
    """The output invariants of harness.stream.pipeline, on one whole normalized stream.

    * valid UTF-8 (even from lone surrogates in the input), ending in a blank line;
    * every frame is ``: keep-alive`` or ``data: `` with a strict-JSON object (a
      ``chat.completion.chunk``), except one final ``data: [DONE]``; the SSE decoder
      reads exactly these data lines;
    * exactly one terminal frame, the last one, with nothing after it (no keep-alive
      either): ``[DONE]`` right after the usage chunk, or one ``stream_error`` chunk;
    * for ``provider="gemini"``, :func:`check_gemini_arguments` too.
    """
    out.decode("utf-8")  # strict
    assert out.endswith(b"\n\n"), out[-80:]
    # JSON escapes CR and LF, so frames are exactly the blank-line separated pieces.
    frames = out[:-2].split(b"\n\n")
    assert [e.data for e in events_of(out)] == [f[6:].decode() for f in frames if f[:1] == b"d"]
    *body, last = frames
    for frame in body:
        if frame == KEEPALIVE:
            continue
        assert frame != DONE, "[DONE] is not the last frame"
        assert frame.startswith(b"data: {"), frame[:80]
        chunk = strict_json(frame[6:])
        assert type(chunk) is dict, chunk
        assert "error" not in chunk, "an error chunk is not the last frame"
        assert chunk["object"] == "chat.completion.chunk", chunk
        assert type(chunk["choices"]) is list, chunk
    assert last != KEEPALIVE, "a keep-alive after the terminal frame"
    if last == DONE:
        # include_usage is on by default: the usage chunk comes right before.
        assert body, "[DONE] without the usage chunk"
        assert body[-1].startswith(b"data: {"), "[DONE] not right after the usage chunk"
        usage = strict_json(body[-1][6:])
        assert usage["choices"] == [], usage
        assert set(usage["usage"]) >= USAGE_KEYS, usage
    else:
        assert last.startswith(b"data: {"), last[:80]
        chunk = strict_json(last[6:])
        assert type(chunk) is dict, chunk
        assert list(chunk) == ["error"], f"the last frame is not terminal: {chunk}"
        error = chunk["error"]
        assert type(error) is dict, error
        assert error["type"] == "stream_error", error
        assert all(type(error[k]) is str for k in ("code", "message", "provider")), error
    if provider == "gemini":
        check_gemini_arguments(out)


def check_gemini_arguments(out: bytes) -> None:
    """Gemini sends whole ``args`` objects, so every ``arguments`` we write is strict JSON."""
    for event in events_of(out):
        if event.data == "[DONE]":
            continue
        for choice in json.loads(event.data).get("choices", []):
            for call in choice["delta"].get("tool_calls", []):
                args = strict_json(call["function"]["arguments"])
                assert type(args) is dict, args


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (taken modulo ``len(data) + 1``, in any order).

    Empty pieces are kept (a repeated cut, or one at either end), so the pipeline is
    also fed empty reads. The pieces always join back to ``data``.
    """
    points = sorted(c % (len(data) + 1) for c in cuts)
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


async def _aiter(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)  # suspend between reads, as a real connection does
        yield chunk


async def acollect(provider: str, chunks: list[bytes]) -> bytes:
    """The whole output of ``anormalize`` on ``chunks``, read from a suspending iterator."""
    return b"".join([frame async for frame in anormalize(provider, _aiter(chunks))])


def drive(coro: Coroutine[Any, Any, bytes]) -> bytes:
    """Run :func:`acollect` without an event loop (cheap enough for a fuzz loop).

    Only the bare yields of ``asyncio.sleep(0)`` in the input are allowed: if
    ``anormalize`` itself waits on anything (a future), that is an ``AssertionError``.
    """
    try:
        while True:
            waited = coro.send(None)
            if waited is not None:
                raise AssertionError(f"anormalize waited on {waited!r}, not on its input")
    except StopIteration as stop:
        result: bytes = stop.value
        return result
    finally:
        coro.close()
