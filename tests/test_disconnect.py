"""A client that hangs up mid-stream costs nothing: no task left, the server goes on."""

from __future__ import annotations

import asyncio
import socket
import time

from harness.scenario import ScenarioSet, parse_scenario
from harness.serve import ServerThread

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


def _post(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = b'{"stream": true}'
    sock.sendall(
        b"POST /s/slow/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    return sock


def test_hang_up_mid_stream_leaves_no_task_and_is_journaled() -> None:
    """After the client closes mid-stream, the server is back to its idle task count."""
    scenarios = ScenarioSet([parse_scenario(SLOW, name="slow")])
    with ServerThread(scenarios, speed=1.0) as server:
        port = int(server.url.rsplit(":", 1)[1])
        # Hypercorn finishes starting up in the background: wait until the count is steady.
        idle = _tasks(server)
        for _ in range(100):
            time.sleep(0.02)
            now = _tasks(server)
            if now == idle:
                break
            idle = now
        sock = _post(port)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert _tasks(server) > idle
        sock.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            entries = server.journal.entries.get("", [])
            if entries and entries[-1]["outcome"] != "pending" and _tasks(server) == idle:
                break
            time.sleep(0.02)
        assert entries[-1]["outcome"] == "client_disconnected"
        assert entries[-1]["bytes_sent"] < 200 * 60
        assert _tasks(server) == idle
        # and the server still answers
        again = _post(port)
        again.settimeout(5)
        assert again.recv(65536).startswith(b"HTTP/1.1 200")
        again.close()
