"""A client that hangs up mid-stream costs nothing: no task left, the server goes on."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from harness.mock.journal import Entry
from harness.mock.options import ServerOptions
from harness.mock.replay import Plan, build_plan
from harness.mock.scenario import ScenarioSet, parse_scenario
from harness.mock.serve import ServerThread
from tests import rawhttp

SLOW = """
version: 1
provider: openai
delay_ms: 50
events:
""" + "".join(
    f'  - {{data: {{"choices": [{{"index": 0, "delta": {{"content": "{i}"}}}}]}}}}\n'
    for i in range(200)
)


def _tasks(server: ServerThread) -> int:
    async def count() -> int:
        return len(asyncio.all_tasks())

    assert server._loop is not None
    return asyncio.run_coroutine_threadsafe(count(), server._loop).result(timeout=5)


def _post(url: str) -> rawhttp.Connection:
    return rawhttp.send(url, rawhttp.request("/s/slow/v1/chat/completions", b'{"stream": true}'))


def test_hang_up_mid_stream_leaves_no_task_and_is_journaled() -> None:
    """After the client closes mid-stream, the server is back to its idle task count."""
    scenarios = ScenarioSet([parse_scenario(SLOW, name="slow")])
    with ServerThread(scenarios, ServerOptions(speed=1.0)) as server:
        # Hypercorn finishes starting up in the background: wait until the count is steady.
        idle = _tasks(server)
        for _ in range(100):
            time.sleep(0.02)
            now = _tasks(server)
            if now == idle:
                break
            idle = now
        conn = _post(server.url)
        assert conn.head().raw.startswith(b"HTTP/1.1 200")
        assert _tasks(server) > idle
        conn.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            entries = server.journal.entries("")
            if entries and entries[-1].outcome != "pending" and _tasks(server) == idle:
                break
            time.sleep(0.02)
        assert entries[-1].outcome == "client_disconnected"
        assert entries[-1].bytes_sent < 200 * 60
        assert _tasks(server) == idle
        # and the server still answers
        again = _post(server.url)
        assert again.head().raw.startswith(b"HTTP/1.1 200")
        again.close()


FAST = """
version: 1
provider: openai
events:
""" + "".join(
    f'  - {{data: {{"choices": [{{"index": 0, "delta": {{"content": "{i:04}"}}}}]}}}}\n'
    for i in range(20000)
)


def test_hang_up_during_a_stream_without_pauses_is_journaled_and_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that hangs up while a stream is written at speed 0 is journaled as
    client_disconnected with the bytes handed over before the failed write, and the
    server logs nothing (asyncio's `socket.send() raised exception.` came once per
    write into the dead connection, and the journal said completed with every byte)."""
    scenarios = ScenarioSet([parse_scenario(FAST, name="fast")])
    caplog.set_level(logging.DEBUG)
    with ServerThread(scenarios, ServerOptions(speed=0.0)) as server:
        for _ in range(3):
            conn = rawhttp.send(
                server.url, rawhttp.request("/s/fast/v1/chat/completions", b'{"stream": true}')
            )
            assert conn.head().raw.startswith(b"HTTP/1.1 200")
            conn.close()  # unread data: the kernel answers the next write with a reset
        deadline = time.monotonic() + 5
        entries: list[Entry] = []
        while time.monotonic() < deadline:
            entries = server.journal.entries("")
            if len(entries) == 3 and all(e.outcome != "pending" for e in entries):
                break
            time.sleep(0.02)
        total = len(b"".join(w.data for w in _plan(scenarios).writes))
        # A stream the kernel took whole before the reset came is rightly completed.
        outcomes = [(e.outcome, e.bytes_sent) for e in entries]
        assert all(
            (outcome == "client_disconnected" and 0 < sent < total)
            or (outcome == "completed" and sent == total)
            for outcome, sent in outcomes
        ), (outcomes, total)
        assert sum(outcome == "client_disconnected" for outcome, _ in outcomes) >= 2, outcomes
    noise = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert noise == []


def _plan(scenarios: ScenarioSet) -> Plan:
    scenario = scenarios.get("fast")
    assert scenario is not None
    return build_plan(scenario, scenario.answers[0], target="openai", stream=True)
