"""The recording proxy, end to end: official SDKs -> proxy -> harness's mock as the upstream."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import vcr

from harness.cli import main
from harness.errors import UsageError
from harness.mock.replay import Write, build_plan
from harness.record.cassette import CassetteError, Chunk, load_cassette, save_cassette
from harness.record.recorder import RecordingProxy
from harness.secrets import scan_text
from harness.testing import RunningServer, run_server

OPENAI_KEY = "sk-proj-Zq8RkT2mWx7NpL4vYc9HbJ3sFd6GtA1eUo5iKnQ0"
ANTHROPIC_KEY = "sk-ant-api03-Hy7Tq2Lm9Xw4Rc8Vb1Nk6Pz3Js5Fd0Ga-Qe2Wu7Io4"


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One OpenAI chat.completion.chunk event step."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return {"data": {**chunk, "choices": [choice]}}


def _event(name: str, **data: Any) -> dict[str, Any]:
    """One Anthropic event step."""
    return {"event": name, "data": {"type": name, **data}}


_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}

# Written as JSON, which is YAML.
SCENARIOS: dict[str, dict[str, Any]] = {
    # Pauses: 30 ms before the first write, 40 ms before the others, 100 ms before the third.
    "slow": {
        "delay_ms": 40,
        "events": [
            {"sleep_ms": 30},
            _delta({"role": "assistant", "content": ""}),
            _delta({"content": "Hel"}),
            {"sleep_ms": 60},
            _delta({"content": "lo é"}),
            _delta({}, "stop"),
            {"data": "[DONE]"},
        ],
    },
    # Cut in the middle of an event, without the terminating chunk.
    "cut": {
        "delay_ms": 30,
        "events": [_delta({"content": "Hel"}), {"raw": 'data: {"trunc'}, {"disconnect": True}],
    },
    # Ten writes, 200 ms apart: a client that leaves early leaves well before the end.
    "long": {"delay_ms": 200, "events": [{"data": {"n": n}} for n in range(10)]},
    "limited": {
        "status": 429,
        "headers": {"retry-after": "1"},
        "body": {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit"}},
    },
    "claude": {
        "provider": "anthropic",
        "delay_ms": 30,
        "events": [
            _event("message_start", message=_MESSAGE),
            _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
            _event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hi"}),
            _event("content_block_delta", index=0, delta={"type": "text_delta", "text": " yo"}),
            _event("content_block_stop", index=0),
            _event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 2}),
            _event("message_stop"),
        ],
    },
}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """harness's mock provider as the 'real' upstream, at recorded speed (speed 1)."""
    folder = tmp_path_factory.mktemp("upstream")
    for name, scenario in SCENARIOS.items():
        text = json.dumps({"version": 1, "provider": "openai", **scenario})
        (folder / f"{name}.yaml").write_text(text)
    with run_server(folder, speed=1.0) as server:
        yield server


def _writes(server: RunningServer, name: str, family: Any) -> list[Write]:
    """The writes the upstream makes for scenario ``name`` (its replay plan)."""
    scenario = server.scenarios.get(name)
    assert scenario is not None
    plan = build_plan(
        scenario, scenario.answers[0], target=family, stream=True, options={"model": "m"}
    )
    return [write for write in plan.writes if write.data]


def _assert_timing(chunks: tuple[Chunk, ...], writes: list[Write]) -> None:
    """Chunks are the upstream's writes, no earlier than its pauses allow, each gap under
    the pause + 50 ms.

    The lower bound is causal, so exact: the upstream cannot send a write before the
    pauses in front of it have passed since it got the request, which was after the
    proxy sent it. A lower bound per gap is not asserted: on a loaded machine the
    proxy's process is sometimes scheduled a few ms late for one chunk, and that gap
    shrinks by as much as the one before it grows (measured: up to 27 ms at load 7 on
    2 CPUs).
    """
    assert [chunk.data for chunk in chunks] == [write.data for write in writes]
    pauses = 0.0
    for chunk, write in zip(chunks, writes, strict=True):
        pauses += write.delay
        assert chunk.t >= pauses, (chunk.t, pauses)
    for before, chunk, write in zip(chunks, chunks[1:], writes[1:], strict=False):
        gap = chunk.t - before.t
        assert gap < write.delay + 0.05, (gap, write.delay)


def _chat(base_url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """A streamed chat completion through the openai SDK: each chunk, as a dict."""
    with openai.OpenAI(base_url=base_url, api_key=OPENAI_KEY, max_retries=0, **kwargs) as client:
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return [chunk.model_dump() for chunk in stream]


@contextmanager
def _harness_record(upstream: RunningServer, path: Path, *args: str) -> Iterator[str]:
    """`harness record` in its own process (as users run it); yields its URL.

    Its own process, so its arrival times are not skewed by the test's threads
    sharing one interpreter lock. On exit: SIGTERM, and a clean stop is asserted.
    """
    command = [sys.executable, "-m", "harness", "record", "--upstream", upstream.url]
    proc = subprocess.Popen(
        [*command, "--port", "0", "--cassette", str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("harness record: proxying http://127.0.0.1:"), line
        assert f"-> {upstream.url}, recording to {path}" in line
        yield line.split()[3]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "recorded to" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_openai_sdk_through_the_proxy(upstream: RunningServer, tmp_path: Path) -> None:
    """The SDK sees the upstream's chunks; boundaries, bytes and pauses are recorded."""
    direct = _chat(f"{upstream.url}/s/slow/v1")
    path = tmp_path / "cassettes" / "c.yaml"
    with _harness_record(upstream, path) as url:
        proxied = _chat(f"{url}/s/slow/v1")
    assert proxied == direct
    assert [c["choices"][0]["delta"]["content"] for c in proxied[1:3]] == ["Hel", "lo é"]
    (recorded,) = load_cassette(path)
    assert recorded.complete
    assert recorded.timed
    assert recorded.status == 200
    assert recorded.uri == f"{upstream.url}/s/slow/v1/chat/completions"
    assert json.loads(recorded.request_body)["messages"] == [{"role": "user", "content": "hi"}]
    assert recorded.response_headers["content-type"] == ["text/event-stream; charset=utf-8"]
    writes = _writes(upstream, "slow", "openai")
    assert [w.delay for w in writes] == [0.03, 0.04, 0.1, 0.04, 0.04]
    _assert_timing(recorded.chunks, writes)


def test_anthropic_sdk_through_the_proxy(upstream: RunningServer, tmp_path: Path) -> None:
    """The anthropic SDK sees the same events through the proxy; writes and pauses recorded."""

    def events(base_url: str) -> list[dict[str, Any]]:
        with anthropic.Anthropic(base_url=base_url, api_key=ANTHROPIC_KEY, max_retries=0) as client:
            stream = client.messages.create(
                model="m", max_tokens=16, messages=[{"role": "user", "content": "hi"}], stream=True
            )
            return [event.model_dump() for event in stream]

    direct = events(f"{upstream.url}/s/claude")
    path = tmp_path / "c.yaml"
    with _harness_record(upstream, path, "--record-mode", "all") as url:
        proxied = events(f"{url}/s/claude")
    assert proxied == direct
    assert len(proxied) == 7
    (recorded,) = load_cassette(path)
    assert recorded.uri == f"{upstream.url}/s/claude/v1/messages"
    _assert_timing(recorded.chunks, _writes(upstream, "claude", "anthropic"))


def test_in_process_proxy_records_the_same_boundaries(upstream: RunningServer) -> None:
    """RecordingProxy in a thread records each upstream write as one chunk, in order."""
    with RecordingProxy(upstream.url) as proxy:
        _chat(f"{proxy.url}/s/slow/v1")
    # Read after stop: the SDK returns on [DONE], before the body's end reaches it.
    (recorded,) = proxy.interactions
    assert [c.data for c in recorded.chunks] == [
        w.data for w in _writes(upstream, "slow", "openai")
    ]
    assert all(b.t < a.t for b, a in zip(recorded.chunks, recorded.chunks[1:], strict=False))


def test_a_cut_stream_is_cut_for_the_client_and_recorded_incomplete(
    upstream: RunningServer,
) -> None:
    """The upstream's mid-event cut reaches the client; the partial bytes are recorded."""
    with RecordingProxy(upstream.url) as proxy:
        with pytest.raises(openai.APIConnectionError):
            _chat(f"{proxy.url}/s/cut/v1")
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream(
                "POST", f"{proxy.url}/s/cut/v1/chat/completions", json={"stream": True}
            ) as response,
        ):
            for _ in response.iter_raw():
                pass
        recorded = proxy.interactions
    assert len(recorded) == 2
    writes = _writes(upstream, "cut", "openai")
    for interaction in recorded:
        assert not interaction.complete
        assert interaction.status == 200
        assert interaction.body.endswith(b'\n\ndata: {"trunc')
        assert [c.data for c in interaction.chunks] == [w.data for w in writes]


def test_a_429_is_passed_through_and_recorded(upstream: RunningServer) -> None:
    """The client gets the upstream's 429 and retry-after; the cassette keeps both."""
    with RecordingProxy(upstream.url) as proxy, pytest.raises(openai.RateLimitError) as caught:
        _chat(f"{proxy.url}/s/limited/v1")
    (recorded,) = proxy.interactions
    assert caught.value.response.headers["retry-after"] == "1"
    assert recorded.status == 429
    assert recorded.complete
    assert recorded.response_headers["retry-after"] == ["1"]
    assert json.loads(recorded.body)["error"]["code"] == "rate_limit"


def test_the_cassette_holds_no_secret(upstream: RunningServer, tmp_path: Path) -> None:
    """Keys go upstream, but neither they nor their headers reach the cassette."""
    path = tmp_path / "c.yaml"
    with RecordingProxy(
        upstream.url, path, filter_headers=["X-Custom-Token"], filter_query=["session"]
    ) as proxy:
        _chat(f"{proxy.url}/t/secret/s/slow/v1", default_headers={"x-custom-token": "t0k"})
        with anthropic.Anthropic(
            base_url=f"{proxy.url}/t/secret/s/claude",
            api_key=ANTHROPIC_KEY,
            default_headers={"x-api-key": ANTHROPIC_KEY},
        ) as client:
            client.messages.create(
                model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        httpx.get(f"{proxy.url}/_harness/health?key={OPENAI_KEY}&session=s3cr3t&keep=1")
    sent = upstream.requests("secret")
    assert sent[0]["headers"]["authorization"] == "Bearer ***"  # the upstream got the key
    assert sent[1]["headers"]["x-api-key"] == "***"
    assert sent[1]["headers"]["authorization"] == "Bearer ***"
    assert scan_text(f"authorization: Bearer {OPENAI_KEY}\nx-api-key: {ANTHROPIC_KEY}")
    text = path.read_text()
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "Bearer", "t0k", "s3cr3t"):
        assert secret not in text
    for name in ("authorization", "x-api-key", "x-custom-token"):
        assert name not in text.lower()
    assert scan_text(text, str(path)) == []
    assert load_cassette(path)[2].uri == f"{upstream.url}/_harness/health?keep=1"


def _record_one(upstream: RunningServer, path: Path, mode: Any, content: str) -> RecordingProxy:
    with RecordingProxy(upstream.url, path, mode=mode) as proxy:
        response = httpx.get(f"{proxy.url}/_harness/health?n={content}")
        assert response.status_code == 200
    return proxy


def test_record_modes(upstream: RunningServer, tmp_path: Path) -> None:
    """once refuses an existing file, new_episodes appends, all overwrites, none writes nothing."""
    path = tmp_path / "c.yaml"
    _record_one(upstream, path, "once", "1")
    with pytest.raises(CassetteError, match="already exists"):
        RecordingProxy(upstream.url, path, mode="once").start()
    _record_one(upstream, path, "new_episodes", "2")
    assert [i.uri[-3:] for i in load_cassette(path)] == ["n=1", "n=2"]
    _record_one(upstream, path, "all", "3")
    assert [i.uri[-3:] for i in load_cassette(path)] == ["n=3"]
    before = path.read_bytes()
    proxy = _record_one(upstream, path, "none", "4")
    assert proxy.interactions == []
    assert path.read_bytes() == before
    _record_one(upstream, tmp_path / "none.yaml", "none", "5")
    assert not (tmp_path / "none.yaml").exists()


def test_the_cassette_is_written_after_each_interaction(
    upstream: RunningServer, tmp_path: Path
) -> None:
    """Once the client has its answer, the cassette on disk has it (a crash loses nothing)."""
    path = tmp_path / "c.yaml"
    with RecordingProxy(upstream.url, path) as proxy:
        httpx.get(f"{proxy.url}/_harness/health")
        assert len(load_cassette(path)) == 1
        with pytest.raises(openai.APIConnectionError):
            _chat(f"{proxy.url}/s/cut/v1")
        on_disk = load_cassette(path)
        assert [i.complete for i in on_disk] == [True, False]
        assert os.listdir(tmp_path) == ["c.yaml"]


def test_an_unreachable_upstream_gets_502_and_nothing_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening upstream: the client gets a 502, the cassette is not written."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "c.yaml"
    with RecordingProxy(f"http://127.0.0.1:{port}", path) as proxy:
        response = httpx.post(f"{proxy.url}/v1/chat/completions", json={})
        assert proxy.interactions == []
    assert response.status_code == 502
    assert "upstream unreachable" in response.json()["error"]["message"]
    assert not path.exists()
    assert "not recorded" in capsys.readouterr().err


def test_a_client_hanging_up_ends_the_upstream_request(upstream: RunningServer) -> None:
    """A client that leaves mid-stream: after the grace, what arrived is recorded incomplete."""
    with RecordingProxy(upstream.url) as proxy:
        with httpx.stream(
            "POST", f"{proxy.url}/s/long/v1/chat/completions", json={"stream": True}
        ) as response:
            first = next(response.iter_raw())
        deadline = time.monotonic() + 5
        while not proxy.interactions and time.monotonic() < deadline:
            time.sleep(0.01)
        (recorded,) = proxy.interactions
    assert not recorded.complete
    assert recorded.body.startswith(first)
    assert 1 <= len(recorded.chunks) < 10


def test_a_client_hanging_up_just_before_the_end_is_recorded_complete(
    upstream: RunningServer,
) -> None:
    """A client that hangs up on [DONE], before the body's end arrives, gets it recorded."""
    with (
        RecordingProxy(upstream.url) as proxy,
        httpx.stream(
            "POST", f"{proxy.url}/s/slow/v1/chat/completions", json={"stream": True}
        ) as response,
    ):
        for data in response.iter_raw():
            if data.endswith(b"data: [DONE]\n\n"):
                break
    (recorded,) = proxy.interactions
    assert recorded.complete
    assert recorded.body.endswith(b"data: [DONE]\n\n")


def test_vcrpy_replays_what_the_proxy_recorded(upstream: RunningServer, tmp_path: Path) -> None:
    """A client talking to the upstream directly replays the recording through vcrpy."""
    path = tmp_path / "c.yaml"
    with RecordingProxy(upstream.url, path) as proxy:
        recorded_body = httpx.post(
            f"{proxy.url}/s/slow/v1/chat/completions", json={"stream": True}
        ).content
    url = f"{upstream.url}/s/slow/v1/chat/completions"
    with vcr.use_cassette(str(path), record_mode="none"), httpx.Client() as client:
        replayed = client.post(url, json={"stream": True})
    assert replayed.content == recorded_body
    assert b"[DONE]" in replayed.content


def test_cli_refuses_an_existing_cassette_in_mode_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness record` with an existing cassette and mode once exits 2 with one line."""
    path = tmp_path / "c.yaml"
    save_cassette(path, [])
    code = main(["record", "--upstream", "http://127.0.0.1:9", "--cassette", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "already exists" in err


def test_cli_refuses_a_bad_upstream(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`harness record --upstream ftp://x` exits 2 naming the problem."""
    code = main(["record", "--upstream", "ftp://x", "--cassette", str(tmp_path / "c.yaml")])
    assert code == 2
    assert "http:// or https://" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("upstream_url", "problem"),
    [
        ("ftp://example.com", "http:// or https://"),
        ("http://", "http:// or https://"),
        ("https://api.example.com/v1?key=x", "must not have a query"),
        ("http://[::1", "not a URL"),
    ],
)
def test_unusable_upstreams_are_refused(upstream_url: str, problem: str) -> None:
    """An upstream that is not an http(s) base URL is a usage error naming it."""
    with pytest.raises(UsageError, match=re.escape(problem)):
        RecordingProxy(upstream_url)


def test_a_failed_save_is_reported_and_retried_on_stop(
    upstream: RunningServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A cassette write that fails keeps the interaction in memory; stop writes it."""
    path = tmp_path / "c.yaml"
    real_fsync = os.fsync
    failures = iter([True])

    def flaky(fd: int) -> None:
        if next(failures, False):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky)
    with RecordingProxy(upstream.url, path) as proxy:
        assert httpx.get(f"{proxy.url}/_harness/health").status_code == 200
        assert not path.exists()
    assert "No space left on device (kept in memory" in capsys.readouterr().err
    assert len(load_cassette(path)) == 1


def test_a_client_using_it_as_an_http_proxy_is_forwarded(upstream: RunningServer) -> None:
    """An absolute-form request target (HTTP_PROXY style) goes to the upstream's path."""
    with RecordingProxy(upstream.url) as proxy, httpx.Client(proxy=proxy.url) as client:
        response = client.get("http://provider.invalid/_harness/health?x=1")
    assert response.status_code == 200
    (recorded,) = proxy.interactions
    assert recorded.uri == f"{upstream.url}/_harness/health?x=1"
    assert recorded.method == "GET"


def test_cli_record_in_process_stops_on_sigterm(
    upstream: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run_record serves until SIGTERM, then writes the cassette and exits 0."""
    path = tmp_path / "c.yaml"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome: dict[str, Any] = {}

    def client() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                # A proxied answer means the loop runs, so its SIGTERM handler is set.
                outcome["status"] = httpx.get(
                    f"http://127.0.0.1:{port}/_harness/health"
                ).status_code
                break
            except httpx.TransportError:
                time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=client)
    helper.start()
    args = ["record", "--upstream", upstream.url, "--cassette", str(path), "--port", str(port)]
    code = main([*args, "--filter-header", "x-other", "--filter-query", "other"])
    helper.join(timeout=10)
    out, err = capsys.readouterr()
    assert code == 0
    assert outcome["status"] == 200
    assert f"proxying http://127.0.0.1:{port} -> {upstream.url}, recording to {path}" in out
    assert "1 interaction recorded" in err
    assert len(load_cassette(path)) == 1
