"""``python -m harness ...`` in a child process, for the tests of the real command line:
start it and read what it prints, never waiting forever for a line."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest


def harness_command(*args: str) -> list[str]:
    """The command line that runs ``harness ARGS`` with this interpreter."""
    return [sys.executable, "-m", "harness", *args]


def read_line(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> str:
    """One line of the process's stdout, or fail after ``timeout`` seconds."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            proc.kill()
            pytest.fail(f"no output from harness within {timeout} s; got {line!r}")
        byte = os.read(proc.stdout.fileno(), 1)
        if not byte:
            break
        line += byte
    return line.decode()


def start_harness(*args: str, cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``harness ARGS`` started, and the first line it printed (a server's URL line)."""
    proc = subprocess.Popen(
        harness_command(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return proc, read_line(proc)
