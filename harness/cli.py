"""The ``harness`` command line.

Each subcommand is a thin shell over a library function and adds no logic of its
own. Subcommands import what they need when they run, so that ``harness normalize``
loads only the pure core and starts fast.

Exit codes: 0 on success (``normalize`` included when the stream it produced ends in
a ``stream_error`` chunk: reporting a broken stream is its job), 1 when the input
could not be read, 2 for unusable arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from typing import BinaryIO

__all__ = ["main"]

READ_SIZE = 65536


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``harness`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
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


def _parser() -> argparse.ArgumentParser:
    from harness.providers import ADAPTERS

    parser = argparse.ArgumentParser(
        prog="harness",
        description="Record/replay testing harness and mock LLM provider.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    norm = sub.add_parser(
        "normalize",
        help="turn a raw provider SSE capture into OpenAI-compatible SSE",
        description=(
            "Read a raw provider SSE stream from FILE (or standard input) and write the "
            "normalized OpenAI chat.completion.chunk stream to standard output as the "
            "input arrives. A broken input stream ends in a stream_error chunk and exit "
            "status 0."
        ),
    )
    norm.add_argument(
        "--provider", "-p", required=True, choices=sorted(ADAPTERS), help="format of the input"
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
    return parser


def _normalize(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from harness.pipeline import normalize

    if args.file is None or args.file == "-":
        source: BinaryIO = sys.stdin.buffer
    else:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            parser.error(f"cannot read {args.file!r}: {exc.strerror}")
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
