"""Shared fixtures: the mock provider on a loopback port, really started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.testing import RunningServer, run_server


@pytest.fixture(scope="session")
def builtin_server() -> Iterator[RunningServer]:
    """The built-in scenario library served on 127.0.0.1 (free port, speed 0)."""
    with run_server() as server:
        yield server
