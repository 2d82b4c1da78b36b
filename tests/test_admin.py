"""The admin endpoints ``GET /_harness/stats`` and ``POST /_harness/reload``, over real sockets.

Every test talks to a real Hypercorn server on 127.0.0.1 (``run_server``). Counts that
settle asynchronously (tasks, open streams) are polled briefly, with a bound. Streams
are held open with a fault's stall (kept at speed 0), so no test depends on timing
beyond "the server noticed within a few seconds".
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.mock.scenario import ScenarioSet, parse_scenario
from harness.testing import RunningServer, run_server
from tests import rawhttp

TEXT = """\
version: 1
provider: openai
events:
  - {data: {"n": 1}}
  - {data: {"n": 2}}
  - {data: "[DONE]"}
"""

OTHER = """\
version: 1
provider: openai
events:
  - {data: {"other": true}}
  - {data: "[DONE]"}
"""

# A bad field on line 5: reload must name the file and the line.
BROKEN = """\
version: 1
provider: openai
events:
  - {data: {"n": 1}}
  - {data: {"n": 2}, sleep_ms: 5}
"""

STALL = "stall_after=1; stall_ms=30000"  # holds a stream open (kept even at speed 0)
STREAM = b'{"stream": true}'


def _stream(
    server: RunningServer, scenario: str = "oa/text", faults: str = ""
) -> rawhttp.Connection:
    """Start a streaming request on a raw socket; return once its head has arrived."""
    headers = {"x-harness-faults": faults} if faults else {}
    request = rawhttp.request(f"/s/{scenario}/v1/chat/completions", STREAM, headers=headers)
    conn = rawhttp.send(server.url, request, timeout=10)
    head = conn.head()
    assert head.raw.startswith(b"HTTP/1.1 200"), head
    return conn


def _read_to_end(conn: rawhttp.Connection) -> bytes:
    """The rest of a chunked body (the chunks joined), up to its terminating chunk."""
    chunks, terminated = conn.chunks()
    assert terminated, chunks
    return b"".join(chunks)


def _stats(server: RunningServer, **headers: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/_harness/stats", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


def _eventually(
    server: RunningServer, check: Callable[[dict[str, Any]], bool], seconds: float = 5.0
) -> dict[str, Any]:
    """Poll the stats until ``check`` holds; fail with the last stats after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        stats = _stats(server)
        if check(stats):
            return stats
        if time.monotonic() > deadline:
            detail = httpx.get(f"{server.url}/_harness/stats?tasks=1", timeout=10).json()
            pytest.fail(f"stats did not settle within {seconds} s: {detail}")
        time.sleep(0.05)


def _idle_tasks(server: RunningServer) -> int:
    """The task count once one request has been served and its connection closed."""
    httpx.post(f"{server.url}/s/oa/text/v1/chat/completions", json={"stream": True}, timeout=10)
    # The count settles once the connection's tasks are gone: take it when two
    # readings 0.1 s apart agree (a baseline taken too early would be too high).
    last = int(_stats(server)["tasks"])
    for _ in range(50):
        time.sleep(0.1)
        now = int(_stats(server)["tasks"])
        if now == last:
            return now
        last = now
    pytest.fail(f"the task count never settled (last {last})")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A scenario folder holding ``oa/text.yaml``."""
    (tmp_path / "oa").mkdir()
    (tmp_path / "oa" / "text.yaml").write_text(TEXT)
    return tmp_path


@pytest.fixture
def server(folder: Path) -> Iterator[RunningServer]:
    """The folder served on a loopback port (reloadable: it came from a folder)."""
    with run_server(folder) as running:
        yield running


# --- stats -------------------------------------------------------------------------


def test_stats_reports_tasks_streams_statuses_and_memory(server: RunningServer) -> None:
    """The fields are there and typed; RSS is a plausible byte count on Linux."""
    httpx.post(f"{server.url}/s/oa/text/v1/chat/completions", json={"stream": True}, timeout=10)
    httpx.post(f"{server.url}/s/oa/nope/v1/chat/completions", json={"stream": True}, timeout=10)
    stats = _stats(server)
    assert stats["tasks"] >= 1
    assert stats["open_streams"] == 0
    assert stats["open_requests"] == 0  # not counting the stats request itself
    assert stats["requests"]["2xx"] >= 1
    assert stats["requests"]["4xx"] == 1
    assert stats["streams"] == {"completed": 1}
    assert stats["scenarios"] == 1
    if Path("/proc/self/statm").exists():
        assert 1 << 20 < stats["rss_bytes"] < 1 << 40
    else:  # pragma: no cover - only Linux reports it
        assert stats["rss_bytes"] is None


def test_stats_counts_go_up_during_streams_and_back_down_after(server: RunningServer) -> None:
    """Open streams and tasks rise while streams run and return to idle once they end."""
    idle = _idle_tasks(server)
    conns = [_stream(server, faults=STALL) for _ in range(3)]
    try:
        busy = _eventually(server, lambda s: s["open_streams"] == 3)
        assert busy["tasks"] > idle
    finally:
        for conn in conns:
            conn.close()
    done = _eventually(server, lambda s: s["open_streams"] == 0 and s["tasks"] <= idle)
    assert done["streams"].get("client_gone", 0) + done["streams"].get("cut", 0) >= 3


def test_client_hanging_up_mid_stream_leaves_nothing_behind(server: RunningServer) -> None:
    """A client that resets the connection mid-stream: its stream and tasks go at once."""
    idle = _idle_tasks(server)
    conn = _stream(server, faults=STALL)
    _eventually(server, lambda s: s["open_streams"] == 1)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # linger 0: a RST, as a killed client sends
    _eventually(server, lambda s: s["open_streams"] == 0 and s["tasks"] <= idle)


def test_closed_keep_alive_connection_is_released_at_once(server: RunningServer) -> None:
    """Regression: Hypercorn kept a connection its client had closed for the whole
    keep-alive timeout (75 s, socket in CLOSE-WAIT, three tasks); now it goes at once.
    """
    idle = _idle_tasks(server)
    conns = []
    for _ in range(5):  # each reads a whole answer, then closes without another request
        conn = _stream(server)
        _read_to_end(conn)
        conns.append(conn)
    _eventually(server, lambda s: s["tasks"] > idle)  # the idle connections are open
    for conn in conns:
        conn.close()
    _eventually(server, lambda s: s["tasks"] <= idle, seconds=3)


async def _hang_up_at_random(port: int, rng: random.Random, requests: int) -> None:
    """Streams with one byte per write, each dropped with a RST at a random byte."""
    request = rawhttp.request(
        "/s/oa/text/v1/chat/completions", STREAM, headers={"x-harness-faults": "chunking=byte"}
    )
    for _ in range(requests):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await reader.read(rng.randint(1, 400))
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


def test_clients_hanging_up_under_load_leave_nothing_behind(server: RunningServer) -> None:
    """Regression: a client that resets the connection while the server is still writing
    left the connection to Hypercorn's keep-alive timer (75 s, three tasks) whenever the
    answer finished after the reset was seen; now every connection ends at once.
    """
    idle = _idle_tasks(server)
    rng = random.Random(7)

    async def run() -> None:
        await asyncio.gather(*(_hang_up_at_random(server.port, rng, 10) for _ in range(30)))

    asyncio.run(run())
    _eventually(server, lambda s: s["tasks"] <= idle and s["open_streams"] == 0, seconds=5)


def test_5xx_counted_when_the_app_fails(folder: Path) -> None:
    """An app error is answered 500 (provider-shaped) and counted as 5xx."""
    with run_server(folder) as server:
        app = server._thread.app

        @app.get("/boom")
        async def boom() -> Any:
            raise RuntimeError("boom")

        assert httpx.get(f"{server.url}/boom", timeout=10).status_code == 500
        assert _stats(server)["requests"]["5xx"] == 1


# --- reload ------------------------------------------------------------------------


def _reload(server: RunningServer, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/_harness/reload", headers=headers, timeout=30)


def _text(server: RunningServer, scenario: str) -> str:
    response = httpx.post(
        f"{server.url}/s/{scenario}/v1/chat/completions", json={"stream": True}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.text


def test_reload_picks_up_an_edited_and_an_added_file(server: RunningServer, folder: Path) -> None:
    """An edited scenario answers with its new bytes (no stale cached plan); a new file
    is served; the answer lists what was loaded."""
    assert '"n":1' in _text(server, "oa/text")
    (folder / "oa" / "text.yaml").write_text(OTHER)
    (folder / "oa" / "new.yaml").write_text(TEXT)
    response = _reload(server)
    assert response.status_code == 200, response.text
    assert response.json() == {"reloaded": 2, "before": 1, "scenarios": ["oa/new", "oa/text"]}
    assert '"other":true' in _text(server, "oa/text")
    assert '"n":1' in _text(server, "oa/new")
    assert _stats(server)["scenarios"] == 2
    listed = httpx.get(f"{server.url}/_harness/scenarios", timeout=10).json()["scenarios"]
    assert [s["name"] for s in listed] == ["oa/new", "oa/text"]


def test_reload_removes_a_deleted_file(server: RunningServer, folder: Path) -> None:
    """A scenario whose file is gone is no longer served (404 naming it)."""
    (folder / "oa" / "other.yaml").write_text(OTHER)
    assert _reload(server).status_code == 200
    (folder / "oa" / "other.yaml").unlink()
    assert _reload(server).json()["reloaded"] == 1
    response = httpx.post(
        f"{server.url}/s/oa/other/v1/chat/completions", json={"stream": True}, timeout=10
    )
    assert response.status_code == 404


def test_reload_with_a_broken_file_keeps_the_old_scenarios(
    server: RunningServer, folder: Path
) -> None:
    """A broken file: 400 naming file and line; the scenarios before stay served."""
    (folder / "oa" / "text.yaml").write_text(OTHER)
    (folder / "oa" / "broken.yaml").write_text(BROKEN)
    response = _reload(server)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "scenario_error"
    assert "still serving the 1 scenario loaded before" in error["message"]  # not "1 scenarios"
    assert len(error["errors"]) == 1
    assert f"{folder / 'oa' / 'broken.yaml'}:5: events[1]" in error["errors"][0]
    assert '"n":1' in _text(server, "oa/text")  # the old version, not the edited one
    assert _stats(server)["scenarios"] == 1


def test_reload_lists_every_broken_file(server: RunningServer, folder: Path) -> None:
    """Two broken files: both reported, as the loader reports them."""
    (folder / "a.yaml").write_text(BROKEN)
    (folder / "b.yaml").write_text("version: 1\nprovider: nobody\nevents: []\n")
    error = _reload(server).json()["error"]
    assert len(error["errors"]) == 2
    assert error["errors"][0].startswith(f"{folder / 'a.yaml'}:5:")
    assert error["errors"][1].startswith(f"{folder / 'b.yaml'}:2:")


def test_stream_in_flight_keeps_its_plan_across_a_reload(
    server: RunningServer, folder: Path
) -> None:
    """A stream started before a reload ends with the bytes of the scenario it started
    with; the next request gets the new ones."""
    conn = _stream(server, faults="stall_after=1; stall_ms=500")
    (folder / "oa" / "text.yaml").write_text(OTHER)
    assert _reload(server).status_code == 200
    data = _read_to_end(conn)
    conn.close()
    assert b'"n":2' in data
    assert b"other" not in data
    assert '"other":true' in _text(server, "oa/text")


def test_reload_without_a_folder_is_409() -> None:
    """A server built from a ScenarioSet in memory has nothing to reload from."""
    scenarios = ScenarioSet([parse_scenario(TEXT, name="oa/text")])
    with run_server(scenarios) as server:
        response = _reload(server)
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["type"] == "not_reloadable"
        assert "--scenarios" in error["message"]
        assert _text(server, "oa/text")


# --- the admin token ---------------------------------------------------------------


@pytest.fixture
def guarded(folder: Path) -> Iterator[RunningServer]:
    """The folder served with an admin token."""
    with run_server(folder, admin_token="s3cret") as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/_harness/stats"), ("POST", "/_harness/reload")]
)
def test_admin_endpoints_need_the_token_when_set(
    guarded: RunningServer, method: str, path: str
) -> None:
    """Without the token: 401; with it (either header form): answered."""
    url = guarded.url + path
    assert httpx.request(method, url, timeout=10).status_code == 401
    wrong = httpx.request(method, url, headers={"x-harness-admin-token": "nope"}, timeout=10)
    assert wrong.status_code == 401
    by_header = httpx.request(method, url, headers={"x-harness-admin-token": "s3cret"}, timeout=30)
    assert by_header.status_code == 200
    bearer = httpx.request(method, url, headers={"authorization": "Bearer s3cret"}, timeout=30)
    assert bearer.status_code == 200


def test_health_stays_open_with_a_token(guarded: RunningServer) -> None:
    """Health needs no token, so a load balancer can probe it."""
    response = httpx.get(f"{guarded.url}/_harness/health", timeout=10)
    assert response.status_code == 200
    assert json.loads(response.text)["status"] == "ok"


def test_serve_journal_max_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    """``harness serve --journal-max 0`` is a usage error (exit 2), naming the value."""
    from harness.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--journal-max", "0"])
    assert exit_info.value.code == 2
    assert "expected a number >= 1, got '0'" in capsys.readouterr().err
