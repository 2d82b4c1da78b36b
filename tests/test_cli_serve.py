"""`harness serve`, `list` and `show`, as a user runs them: real processes, real sockets."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.cli import main
from tests import rawhttp
from tests.processes import harness_command, read_line

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`harness serve --port 0` on the built-in library, and the URL it printed."""
    proc = subprocess.Popen(
        harness_command("serve", "--port", "0", "--speed", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = read_line(proc)
        assert first.startswith("harness: serving "), first
        url = first.rsplit(" ", 1)[-1].strip()
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serve_prints_a_connectable_loopback_url_and_stops_on_ctrl_c(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    """The printed URL is on 127.0.0.1 and answers at once; SIGINT ends it with exit 0."""
    proc, url = served
    assert url.startswith("http://127.0.0.1:")
    response = httpx.post(
        f"{url}/s/openai/text/v1/chat/completions", json={"stream": True}, timeout=10
    )
    assert response.status_code == 200
    assert response.text.endswith("data: [DONE]\n\n")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None
    assert b"Traceback" not in proc.stderr.read()
    with pytest.raises(ConnectionRefusedError):
        rawhttp.connect(url, timeout=2).close()


def test_serve_stops_on_sigterm_with_a_stream_open(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    """SIGTERM while a slow stream is open still ends the process promptly and cleanly."""
    proc, url = served
    with httpx.stream(
        "POST",
        f"{url}/s/anthropic/stall/v1/messages",
        json={"stream": True},
        headers={"x-harness-speed": "1"},
        timeout=10,
    ) as response:
        first = next(response.iter_raw())
        assert first.startswith(b"event: message_start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_serve_reports_a_port_in_use_in_one_line() -> None:
    """A taken port is a one-line error with exit 2, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            harness_command("serve", "--port", str(port)), capture_output=True, timeout=30
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr.decode()
    assert b"Traceback" not in result.stderr


# `harness serve` with its start-up watched from inside: whether the cyclic collector
# runs while it starts and once it listens, and how many objects start-up froze.
WATCH_THE_COLLECTOR = """
import gc, json, os, signal, sys
import harness.cli as cli
import harness.mock.scenario as scenario

seen = {}
load = scenario.load_scenarios
def watched_load(*args, **kwargs):
    seen["collecting while loading"] = gc.isenabled()
    return load(*args, **kwargs)
scenario.load_scenarios = watched_load
ready = cli._ready
def watched_ready(*args):
    ready(*args)
    seen["collecting once ready"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count()
    print(json.dumps(seen), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
cli._ready = watched_ready
sys.exit(cli.main(["serve", "--port", "0", "--speed", "0"]))
"""


def test_serve_starts_without_the_cyclic_collector_and_freezes_what_start_up_made() -> None:
    """Start-up makes tens of thousands of objects that live as long as the server: the
    collector is off while it starts, and back on, with those frozen, once it listens."""
    done = subprocess.run(
        [sys.executable, "-c", WATCH_THE_COLLECTOR], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert seen["collecting while loading"] is False
    assert seen["collecting once ready"] is True
    assert seen["frozen"] > 10_000


@pytest.mark.parametrize("collecting", [True, False])
def test_a_serve_that_cannot_start_leaves_the_collector_as_it_was(
    collecting: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    (gc.enable if collecting else gc.disable)()
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
        assert gc.isenabled() is collecting
    finally:
        gc.enable()
    assert "cannot listen" in capsys.readouterr().err


def test_serve_reports_every_broken_scenario_file(tmp_path: Path) -> None:
    """A folder with broken files: each is named with its line, exit 1, nothing served."""
    (tmp_path / "a.yaml").write_text("version: 1\nprovider: nope\nevents: []\n")
    (tmp_path / "b.yaml").write_text("version: 2\nprovider: openai\n")
    result = subprocess.run(
        harness_command("serve", "--scenarios", str(tmp_path), "--port", "0"),
        capture_output=True,
        timeout=30,
    )
    err = result.stderr.decode()
    assert result.returncode == 1
    assert f"{tmp_path / 'a.yaml'}:2: provider:" in err
    assert f"{tmp_path / 'b.yaml'}:1: version: unsupported version 2" in err


def test_list_names_every_builtin_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """`harness list` prints one line per built-in scenario: name, provider, description."""
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    files = sorted((ROOT / "scenarios").rglob("*.yaml"))
    assert len(lines) == len(files)
    names = {line.split()[0]: line.split()[1] for line in lines}
    assert names["anthropic/text"] == "anthropic"
    assert names["gemini/text"] == "gemini"


def test_show_prints_events_with_their_timing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness show` lists each write with its time from the start, and the cut."""
    (tmp_path / "s.yaml").write_text(
        "version: 1\nprovider: openai\ndelay_ms: 10\nevents:\n"
        "  - {data: {a: 1}}\n  - {sleep_ms: 250}\n  - {comment: ping}\n  - {disconnect: true}\n"
        "expect: {error: {code: connection_closed}}\n"
    )
    assert main(["show", "s", "--scenarios", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert '        0 ms  data: {"a":1}' in out
    assert "      260 ms  : ping" in out
    assert "      270 ms  -- disconnect" in out
    assert json.dumps("connection_closed") in out.replace("'", '"')


def test_show_unknown_name_suggests_close_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt name exits 2 and names the closest scenarios."""
    assert main(["show", "anthropic/txt"]) == 2
    assert "closest: anthropic/text" in capsys.readouterr().err


def test_serve_refuses_a_non_loopback_host_without_allow_remote() -> None:
    """--host 0.0.0.0 alone exits 2 with a one-line reason; nothing is bound."""
    result = subprocess.run(
        harness_command("serve", "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert b"--allow-remote" in result.stderr
    assert b"serving" not in result.stdout


def test_allow_remote_warns_and_never_echoes_a_given_token() -> None:
    """--allow-remote prints a warning; a token given by the user is not printed back.

    The address is TEST-NET-1 (RFC 5737), which no machine here has: the bind fails
    after the warning, so the test never listens beyond loopback.
    """
    result = subprocess.run(
        harness_command("serve", "--host", "192.0.2.1", "--allow-remote", "--port", "0"),
        env={**os.environ, "HARNESS_ADMIN_TOKEN": "tok-HARNESSFAKE-1234567890"},
        capture_output=True,
        timeout=30,
    )
    err = result.stderr.decode()
    assert "WARNING: listening on 192.0.2.1" in err
    assert "tok-HARNESSFAKE" not in err
    assert result.returncode == 2
    assert "cannot listen on 192.0.2.1" in err


def test_admin_token_guards_the_journal_but_not_the_provider_routes() -> None:
    """With an admin token, /_harness/* (but health) answers 401 without it."""
    from harness.mock.options import ServerOptions
    from harness.mock.scenario import load_scenarios
    from harness.mock.serve import ServerThread

    with ServerThread(load_scenarios(), ServerOptions(admin_token="tok-0123456789")) as server:
        url = server.url
        assert httpx.get(f"{url}/_harness/requests", timeout=10).status_code == 401
        assert httpx.delete(f"{url}/_harness/requests", timeout=10).status_code == 401
        assert httpx.get(f"{url}/_harness/health", timeout=10).status_code == 200
        for headers in (
            {"x-harness-admin-token": "tok-0123456789"},
            {"authorization": "Bearer tok-0123456789"},
        ):
            allowed = httpx.get(f"{url}/_harness/requests", headers=headers, timeout=10)
            assert allowed.status_code == 200
        answer = httpx.post(
            f"{url}/s/openai/text/v1/chat/completions", json={"stream": True}, timeout=10
        )
        assert answer.status_code == 200


TIMEOUTS = ("--keep-alive-timeout", "0.5", "--body-timeout", "0.5")


def test_timeout_flags_reach_the_server() -> None:
    """--keep-alive-timeout closes a silent connection and --body-timeout answers 408 to
    a dribbled body, in a real `harness serve`; a normal request still gets its answer."""
    proc = subprocess.Popen(
        harness_command("serve", "--port", "0", "--speed", "0", *TIMEOUTS),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = read_line(proc).rsplit(" ", 1)[-1].strip()
        with rawhttp.connect(url, timeout=10) as idle:
            idle.send(b"POST /v1/chat/completions HTTP/1.1\r\n")  # a head never finished
            started = time.monotonic()
            assert idle.at_end()  # closed by the server, well before the read's 10 s
            assert time.monotonic() - started < 8
        unfinished = (  # the body has 1 of its 100 bytes
            b"POST /s/openai/text/v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{"
        )
        with rawhttp.send(url, unfinished, timeout=10) as slow:
            head = slow.head()
            assert head.raw.startswith(b"HTTP/1.1 408"), head.raw[:200]
        response = httpx.post(
            f"{url}/s/openai/text/v1/chat/completions", json={"stream": True}, timeout=10
        )
        assert response.text.endswith("data: [DONE]\n\n")
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_timeout_defaults_in_the_help_are_the_servers(capsys: pytest.CaptureFixture[str]) -> None:
    """The help states the defaults harness.mock.options sets (the CLI does not import it)."""
    from harness.mock.options import (
        DEFAULT_BODY_TIMEOUT,
        DEFAULT_JOURNAL_MAX,
        DEFAULT_KEEP_ALIVE_TIMEOUT,
    )

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"request head (default {DEFAULT_KEEP_ALIVE_TIMEOUT:g})" in text
    assert f"this long (default {DEFAULT_BODY_TIMEOUT:g})" in text
    assert f"dropped first (default {DEFAULT_JOURNAL_MAX})" in text


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "soon"])
def test_timeout_flags_refuse_unusable_values(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--body-timeout", value])
    assert exc.value.code == 2
    assert "--body-timeout" in capsys.readouterr().err


def _serve_folder(folder: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """`harness serve --scenarios folder`: the process, its URL, and its other stdout lines."""
    proc = subprocess.Popen(
        harness_command("serve", "--scenarios", str(folder), "--port", "0", "--speed", "0", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = read_line(proc)
    assert first.startswith("harness: serving "), first
    lines = []
    while not (line := read_line(proc)).startswith("  Ctrl-C"):
        lines.append(line.strip())
    return proc, first.rsplit(" ", 1)[-1].strip(), lines


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return err


ANTHROPIC_ONLY = """version: 1
provider: anthropic
match: {path: /v1/chat/completion}
events:
  - {event: message_stop, data: {type: message_stop}}
"""


def test_serve_prints_base_urls_of_scenarios_that_exist(tmp_path: Path) -> None:
    """A folder with one Anthropic scenario: the URLs name it (no openai/text or
    gemini/text that the folder does not have), the count is singular, and a match.path
    that no route serves is warned about."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "hello.yaml").write_text(ANTHROPIC_ONLY)
    proc, url, lines = _serve_folder(tmp_path)
    try:
        assert lines == [
            f"OpenAI:    base_url={url}/s/mine/hello/v1",
            f"Anthropic: base_url={url}/s/mine/hello",
            f"Bedrock:   endpoint_url={url}/s/mine/hello",  # Converse renders any provider
            f"console:   {url}/_harness/ui/",
        ]
        response = httpx.post(f"{url}/s/mine/hello/v1/messages", json={"stream": True}, timeout=10)
        assert response.status_code == 200
    finally:
        err = _stop(proc)
    assert "match.path '/v1/chat/completion' is no route harness serves" in err
    assert "mine/hello" in err


def test_serve_warns_on_an_empty_folder_and_hints_its_list_command(tmp_path: Path) -> None:
    """Zero scenarios: a warning; a 404 names `harness list --scenarios DIR`, not the
    built-in library's `harness list`; the unserved request is journaled."""
    proc, url, lines = _serve_folder(tmp_path)
    try:
        assert lines == [f"console:   {url}/_harness/ui/"]
        response = httpx.post(f"{url}/s/nothing/v1/chat/completions", json={}, timeout=10)
        assert response.status_code == 404
        assert f"`harness list --scenarios {tmp_path}` shows them all" in response.text
        missing = httpx.post(f"{url}/v1/chat/completion", json={}, timeout=10)
        assert missing.status_code == 404
        journal = httpx.get(f"{url}/_harness/requests", timeout=10).json()["requests"]
        assert [(e["path"], e["status"], e["outcome"]) for e in journal] == [
            ("/v1/chat/completions", 404, "rejected"),
            ("/v1/chat/completion", 404, "rejected"),
        ]
        assert "Unknown route POST /v1/chat/completion" in journal[1]["error"]
    finally:
        err = _stop(proc)
    assert f"warning: no scenarios in {tmp_path}" in err


def test_log_requests_prints_a_line_per_request_without_secrets(tmp_path: Path) -> None:
    """--log-requests: one stderr line per request (method, path, scenario, status, how it
    ended, bytes); the key in the query string and the authorization header never appear."""
    (tmp_path / "hello.yaml").write_text(
        ANTHROPIC_ONLY.replace("match: {path: /v1/chat/completion}\n", "")
    )
    proc, url, _ = _serve_folder(tmp_path, "--log-requests")
    secret = "sk-live-abcdefghijklmnop1234"
    try:
        ok = httpx.post(
            f"{url}/s/hello/v1/messages?key={secret}",
            json={"stream": True},
            headers={"authorization": f"Bearer {secret}"},
            timeout=10,
        )
        assert ok.status_code == 200
        assert httpx.post(f"{url}/v2/nothing", json={}, timeout=10).status_code == 404
    finally:
        err = _stop(proc)
    assert secret not in err
    lines = [line for line in err.splitlines() if line.startswith("POST ")]
    assert len(lines) == 2, err
    assert lines[0].startswith("POST /v1/messages scenario=hello 200 completed ")
    assert " bytes " in lines[0]
    assert lines[1].startswith("POST /v2/nothing scenario=- 404 rejected 0 bytes ")


def test_ctrl_c_with_a_stream_open_stops_without_a_traceback(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    """SIGINT while a stream is open: exit 0 with `harness: stopped` and nothing else on
    stderr (Python 3.11 logged ~30 lines of CancelledError per open connection)."""
    proc, url = served
    conn = rawhttp.send(
        url,
        rawhttp.request(
            "/s/anthropic/stall/v1/messages", b'{"stream": true}', headers={"x-harness-speed": "1"}
        ),
    )
    assert conn.head().raw.startswith(b"HTTP/1.1 200")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None
    assert proc.stderr.read().decode() == "harness: stopped\n"
    conn.close()


def _catches_sigint(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGINT (Linux: SigCgt in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(caught & (1 << (signal.SIGINT - 1)))


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_ctrl_c_right_after_start_stops_promptly(delay: float) -> None:
    """SIGINT during start-up (loading, binding), once harness has its handler, ends the
    process within seconds without a traceback, even when SIGINT came in ignored (a
    background job of a script): before, it was lost until the server was ready. The test
    waits until harness handles SIGINT (/proc SigCgt): an ignored signal before that is lost
    to any program."""
    with subprocess.Popen(
        harness_command("serve", "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    ) as proc:  # the context closes the pipes whatever happens
        deadline = time.monotonic() + 20
        while not _catches_sigint(proc.pid):
            assert time.monotonic() < deadline, "harness serve never handled SIGINT"
            time.sleep(0.002)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"harness serve ignored SIGINT sent {delay} s after start")
    assert proc.returncode in (0, 130), err
    assert b"Traceback" not in err, err.decode()
