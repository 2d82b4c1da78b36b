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
  Nothing raises; all outputs are byte-identical; the output keeps the pipeline's
  output rules, ``check_output`` in tests/output_rules.py (shared with the Hypothesis
  properties): well-formed SSE (every frame ``: keep-alive`` or ``data:`` with strict
  JSON) ending in exactly one terminal frame (``[DONE]`` after the usage chunk, or one
  ``stream_error`` chunk), with nothing after it; for Gemini, which sends whole
  ``args`` objects, every tool call's ``arguments`` is strict JSON.

A broken property raises ``AssertionError`` (an unexpected exception propagates
unchanged), which libFuzzer reports as a crash and writes to ``-artifact_prefix``.
Everything is deterministic in the input bytes, so a crash file reproduces with
``python bench/fuzz/run.py TARGET CRASH_FILE``. See bench/fuzz/README.md.
"""

from __future__ import annotations

import random
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import atheris

# The output rules are shared with the tests (tests/output_rules.py): import them from
# the repository root, two levels up, whatever the current directory.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# Instrument harness (and only harness) for coverage feedback: it must be imported
# inside this block for atheris to rewrite its bytecode. tests.output_rules imports
# harness modules too, so it is imported here as well (but is not instrumented).
with atheris.instrument_imports(include=["harness"]):
    from harness.stream.pipeline import normalize
    from harness.stream.sse import Comment, ServerSentEvent, SSEDecoder, encode
    from tests.output_rules import acollect, check_output, drive, split

BYTEWISE_MAX = 256  # byte-by-byte feeding is O(n) calls: only for short inputs
RANDOM_CUTS = 16


# --- Chunkings: all deterministic in the input, so crashes reproduce. ----------------


def chunkings(data: bytes) -> Iterator[list[bytes]]:
    """The splits of ``data`` every target compares (the first is the whole input)."""
    yield [data]
    if len(data) <= BYTEWISE_MAX:
        yield [data[i : i + 1] for i in range(len(data))]
    yield [data[i : i + 7] for i in range(0, len(data), 7)]
    # Right after every CR and every LF: the CRLF-across-reads and blank-line cases.
    yield split(data, [i + 1 for i, b in enumerate(data) if b in (0x0A, 0x0D)])
    # Right before every CR and LF too, so a CR ends one chunk and its LF starts the next.
    yield split(data, [i for i, b in enumerate(data) if b in (0x0A, 0x0D)])
    rng = random.Random(zlib.crc32(data))
    yield split(data, [rng.randrange(len(data) + 1) for _ in range(RANDOM_CUTS)])


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


def pipeline_target(provider: str) -> Callable[[bytes], None]:
    def fuzz_pipeline(data: bytes) -> None:
        whole = None
        for chunks in chunkings(data):
            out = b"".join(normalize(provider, chunks))
            if whole is None:
                check_output(out, provider)
                whole = out
                asynced = drive(acollect(provider, [*chunks[:1], b"", *chunks[1:]]))
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
