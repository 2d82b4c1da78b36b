"""Hostile input: each test here is a row (or part of one) of ``docs/security.md``.

Every request goes to a real Hypercorn server on 127.0.0.1 (``run_server``); where the
exact bytes matter (encoded paths, NUL, oversized heads, dribbling) a raw socket sends
them, since an HTTP client would normalize or refuse them first. Nothing here measures
time: a timeout test sets the server's timeout to a second and only checks that the
connection ends, while another client is still answered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from harness.errors import ScenarioError, ScenarioSetError
from harness.mock.options import DEFAULT_KEEP_ALIVE_TIMEOUT, ServerOptions
from harness.mock.scenario import (
    MAX_FILE_BYTES,
    ScenarioSet,
    builtin_scenarios_dir,
    load_scenario,
    load_scenarios,
    parse_scenario,
)
from harness.mock.serve import (
    MAX_HEAD_BYTES,
    ServerThread,
    _config,
    bind,
)
from harness.testing import RunningServer, run_server
from tests import rawhttp
from tests.rawhttp import Answer

# --- a raw HTTP/1.1 exchange (tests/rawhttp.py) --------------------------------------


def _exchange(url: str, data: bytes) -> Answer:
    """Send ``data`` on a new connection and read one answer (the server may answer and
    close before taking everything, or reset the connection)."""
    return rawhttp.exchange(url, data, timeout=10, tolerate_reset=True)


def _post(target: str, body: bytes = b'{"model": "m", "stream": true}', **headers: str) -> bytes:
    """A POST request's bytes, sent as given (the target is not normalized)."""
    fields = {"connection": "close", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return rawhttp.request(target, body, host="127.0.0.1", headers=fields)


def _still_serving(url: str) -> None:
    """A normal client is answered (the server survived whatever came before)."""
    answer = httpx.post(
        f"{url}/s/ok/v1/chat/completions", json={"model": "m", "stream": True}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert b"data: [DONE]" in answer.content


# --- 1. scenario names and paths from requests ------------------------------------------

OK = """
version: 1
provider: openai
headers: {x-scenario: ok}
events:
  - {data: {"choices": [{"index": 0, "delta": {"content": "fine"}}]}}
  - {data: "[DONE]"}
"""

# A decoy outside the scenarios folder: if any request made the server read it, its
# header and text would show in the answer (and the audit hook would see the open).
DECOY = """
version: 1
provider: openai
match: {model: "*"}
headers: {x-scenario: DECOY-LEAKED}
events:
  - {data: {"choices": [{"index": 0, "delta": {"content": "DECOY-LEAKED"}}]}}
  - {data: "[DONE]"}
"""

_OPENED: list[str] | None = None  # the files opened under the watched root, while watched
_WATCHED = ""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is not None and event in ("open", "os.listdir", "os.scandir") and args:
        path = args[0]
        if isinstance(path, (str, bytes, os.PathLike)):
            text = os.fsdecode(path)
            if text.startswith(_WATCHED):
                _OPENED.append(f"{event} {text}")


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only while watched


@dataclass
class Traversal:
    """The served folder, the decoys next to it, and the running server."""

    root: Path
    folder: Path
    server: RunningServer


@pytest.fixture(scope="module")
def traversal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traversal]:
    """A server on ``root/scenarios`` (``ok``, ``nested/inner``), decoys in ``root``."""
    root = tmp_path_factory.mktemp("traversal")
    folder = root / "scenarios"
    (folder / "nested").mkdir(parents=True)
    (folder / "ok.yaml").write_text(OK)
    (folder / "nested" / "inner.yaml").write_text(OK)
    (root / "decoy.yaml").write_text(DECOY)
    (root / "decoy").mkdir()
    (root / "decoy" / "text.yaml").write_text(DECOY)
    with run_server(folder) as server:
        yield Traversal(root, folder, server)


@pytest.fixture
def no_file_opened(traversal: Traversal) -> Iterator[None]:
    """Fail the test if the server opens or lists anything under the decoys' root."""
    global _OPENED, _WATCHED
    _WATCHED, _OPENED = str(traversal.root), []
    try:
        yield
        assert _OPENED == [], f"the server touched files: {_OPENED}"
    finally:
        _OPENED = None


def _traversal_names(root: Path) -> list[str]:
    """Names that would reach a decoy if a name were ever joined to the folder."""
    absolute = str(root / "decoy")
    return [
        "..",
        "../decoy",
        "../decoy/text",
        "../../decoy",
        "nested/../../decoy",
        "nested/../ok",
        absolute,
        absolute + ".yaml",
        "..\\decoy",
        "nested\\..\\..\\decoy",
        "ok\0",
        "ok\0/../../decoy",
        "ok.yaml",
        "./ok",
        "~/decoy",
        "%2e%2e%2fdecoy",  # what a double-encoded name decodes to once
        "\u2025/decoy",  # a one-character "two dots" (not a path anywhere)
        "a" * 4000,
    ]


def _encodings(name: str) -> list[tuple[str, str]]:
    """The ways a name can be put in a path: plain, every byte encoded, slashes encoded,
    and double-encoded, as ``(id, path segment)``."""
    # Only what cannot be in a request line at all is encoded: NUL, spaces, non-ASCII.
    plain = quote(name, safe=string.punctuation)
    return [
        ("plain", plain),
        ("encoded", quote(name, safe="")),
        ("slash-encoded", plain.replace("/", "%2F")),
        ("double-encoded", quote(quote(name, safe=""), safe="")),
    ]


def _check_refused(answer: Answer, family: str = "openai") -> str:
    """A provider-shaped 4xx naming the problem, from the decoy nothing."""
    assert 400 <= answer.status < 500, answer
    assert b"DECOY" not in answer.body
    assert "DECOY" not in json.dumps(answer.headers)
    body = json.loads(answer.body)
    if family == "gemini":
        assert set(body["error"]) == {"code", "message", "status"}
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    return answer.message()


class TestNamesAreNeverPaths:
    def test_scenario_prefix(self, traversal: Traversal, no_file_opened: None) -> None:
        """/s/{name}/ with traversal, absolute, encoded, NUL, backslash and long names: a
        provider-shaped 404 naming what was asked, and no file is opened."""
        for name in _traversal_names(traversal.root):
            for how, segment in _encodings(name):
                target = f"/s/{segment}/v1/chat/completions"
                answer = _exchange(traversal.server.url, _post(target))
                message = _check_refused(answer)
                assert answer.status == 404, (how, name, message)
                assert message.startswith(("No scenario named", "Unknown route")), message
                assert len(message) < 500, (how, len(message))  # a long name is cut
        _still_serving(traversal.server.url)

    def test_scenario_header(self, traversal: Traversal, no_file_opened: None) -> None:
        """x-harness-scenario with the same names: a 404 naming it, no file opened."""
        for name in _traversal_names(traversal.root):
            if "\0" in name:
                continue  # a raw NUL in a header: see test_raw_nul_is_refused_by_http
            answer = _exchange(
                traversal.server.url,
                _post("/v1/chat/completions", x_harness_scenario=name),
            )
            message = _check_refused(answer)
            assert answer.status == 404
            assert message.startswith("No scenario named "), message
            assert len(message) < 500

    def test_test_id_prefix(self, traversal: Traversal, no_file_opened: None) -> None:
        """/t/{test id}/ is only a journal key: traversal-looking ids still get `ok`, or a
        404 when the decoded id swallows the rest of the path; never the decoy."""
        for name in _traversal_names(traversal.root):
            for how, segment in _encodings(name):
                target = f"/t/{segment}/s/ok/v1/chat/completions"
                answer = _exchange(traversal.server.url, _post(target))
                if answer.status == 200:
                    assert answer.headers["x-scenario"] == "ok", (how, name)
                else:
                    _check_refused(answer)
                    assert answer.status == 404, (how, name)

    def test_model_names(self, traversal: Traversal, no_file_opened: None) -> None:
        """A model (body, or the Gemini path) is only matched against globs: the decoy's
        `match: {model: "*"}` is never loaded, so every name gets a 404."""
        for name in _traversal_names(traversal.root):
            body = json.dumps({"model": name, "stream": True}).encode()
            answer = _exchange(traversal.server.url, _post("/v1/chat/completions", body))
            assert answer.status == 404
            assert _check_refused(answer).startswith("No scenario matches")
            for how, segment in _encodings(name):
                target = f"/v1beta/models/{segment}:streamGenerateContent?alt=sse"
                answer = _exchange(traversal.server.url, _post(target, b"{}"))
                assert answer.status == 404, (how, name)
                _check_refused(answer, "gemini")

    def test_raw_nul_is_refused_by_http(self, traversal: Traversal) -> None:
        """A raw NUL byte in the request line or a header is not HTTP: h11 answers a bare
        400 and closes the connection before the app sees it; the server goes on."""
        for data in (
            b"POST /s/ok\0/v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n",
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-harness-scenario: ok\0\r\n\r\n",
        ):
            answer = _exchange(traversal.server.url, data)
            assert (answer.status, answer.body, answer.closed) == (400, b"", True)
        _still_serving(traversal.server.url)

    def test_megabyte_model_name_is_cut_and_cheap(self, traversal: Traversal) -> None:
        """A 5 MB model name gets a short 404: the name is cut in the message and the
        "closest names" search skips names too long to be close to any."""
        model = "m" * 5_000_000
        answer = httpx.post(
            f"{traversal.server.url}/v1/chat/completions",
            json={"model": model, "stream": True},
            timeout=30,
        )
        assert answer.status_code == 404
        message = answer.json()["error"]["message"]
        assert "(5,000,000 chars)" in message
        assert len(message) < 500

    def test_closest_skips_names_too_long_to_match(self) -> None:
        """ScenarioSet.closest on a 10^7-character name indexes nothing (bounded memory)."""
        scenarios = load_scenarios()
        name = "x" * 10_000_000
        tracemalloc.start()
        try:
            assert scenarios.closest(name) == []
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1_000_000  # difflib would index it: hundreds of MB


# --- 2. YAML files --------------------------------------------------------------------------

GOOD = "version: 1\nprovider: openai\nevents:\n  - {data: x}\n"


def _peak(action: Any) -> tuple[BaseException | None, int]:
    """Run ``action()``; return what it raised and the peak of Python allocations."""
    tracemalloc.start()
    caught: BaseException | None = None
    try:
        action()
    except Exception as exc:
        caught = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return caught, peak


class TestYamlFiles:
    def test_huge_file_is_refused_before_it_is_read(self, tmp_path: Path) -> None:
        """A 1 GiB (sparse) file is refused from its size alone: the error names the file,
        its size and the limit, and nothing near its size is ever allocated."""
        huge = tmp_path / "huge.yaml"
        with huge.open("wb") as file:
            file.write(GOOD.encode())
            file.truncate(1 << 30)
        caught, peak = _peak(lambda: load_scenario(huge))
        assert isinstance(caught, ScenarioError)
        assert caught.path == str(huge)
        assert f"{1 << 30:,} bytes" in caught.problem
        assert f"limit of {MAX_FILE_BYTES:,} bytes" in caught.problem
        assert peak < 1_000_000

    def test_limit_is_exact_and_adjustable(self, tmp_path: Path) -> None:
        """A file of exactly max_bytes loads; one byte more is refused."""
        path = tmp_path / "edge.yaml"
        path.write_text(GOOD)
        size = len(GOOD.encode())
        assert load_scenario(path, max_bytes=size).provider == "openai"
        with pytest.raises(ScenarioError, match=f"{size:,} bytes, over the limit of {size - 1}"):
            load_scenario(path, max_bytes=size - 1)

    def test_huge_file_in_a_folder_is_reported_with_the_others(self, tmp_path: Path) -> None:
        """Loading a folder lists the oversized file among every other problem."""
        (tmp_path / "ok.yaml").write_text(GOOD)
        with (tmp_path / "big.yaml").open("wb") as file:
            file.truncate(MAX_FILE_BYTES + 1)
        (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe")
        with pytest.raises(ScenarioSetError) as info:
            load_scenarios(tmp_path)
        assert sorted(Path(e.path or "").name for e in info.value.errors) == [
            "bad.yaml",
            "big.yaml",
        ]

    def test_parse_scenario_refuses_huge_text(self) -> None:
        """Text given directly is held to the same limit (counted in characters)."""
        with pytest.raises(ScenarioError, match="over the limit") as info:
            parse_scenario(GOOD + "#" * MAX_FILE_BYTES, path="big.yaml")
        assert info.value.path == "big.yaml"

    def test_non_utf8_names_file_line_and_offset(self, tmp_path: Path) -> None:
        """A Latin-1 byte is a ScenarioError naming the file, line, column and offset."""
        path = tmp_path / "latin1.yaml"
        path.write_bytes(b"version: 1\nprovider: openai\ndescription: caf\xe9\n")
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        error = info.value
        assert (error.path, error.line) == (str(path), 3)
        assert error.problem == (
            "cannot read scenario file: not UTF-8: byte e9 at offset 44 (line 3, column 17); "
            "save it as UTF-8"
        )
        assert str(error).startswith(f"{path}:3: ")

    @pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
    def test_utf16_and_utf32_files_say_so(self, tmp_path: Path, encoding: str) -> None:
        """A file saved as UTF-16 or UTF-32 (with a BOM) is refused, saying which."""
        path = tmp_path / "wide.yaml"
        data = GOOD.encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        path.write_bytes(data)
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        assert info.value.path == str(path)
        wanted = encoding[:6].upper()
        assert f"it starts with a {wanted} byte-order mark: save it as UTF-8" in str(info.value)

    def test_utf8_bom_is_accepted(self, tmp_path: Path) -> None:
        """A UTF-8 file with a byte-order mark (some editors write one) loads."""
        path = tmp_path / "bom.yaml"
        path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
        assert load_scenario(path).provider == "openai"

    @pytest.mark.parametrize(
        "data",
        [
            bytes(range(256)) * 4,
            b"\x7fELF\x02\x01\x01\x00" + bytes(200),
            b"version: 1\x00\nprovider: openai\n",
            b"\x1b[31mversion: 1\n",
            b"PK\x03\x04" + os.urandom(0) + b"\x14\x00\x00\x00\x08\x00",
        ],
        ids=["all-bytes", "elf", "nul", "escape", "zip"],
    )
    def test_binary_garbage_names_the_file(self, tmp_path: Path, data: bytes) -> None:
        """Binary files are a ScenarioError naming the file, never another exception."""
        path = tmp_path / "garbage.yaml"
        path.write_bytes(data)
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        assert info.value.path == str(path)
        assert str(info.value).startswith(str(path))

    def test_billion_laughs_refused_in_bounded_memory(self) -> None:
        """A 10^9-value alias bomb is refused, not expanded: peak memory stays small."""
        lines = ["version: 1", "provider: openai", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
        lines.append("events: [{data: *a8}]")
        text = "\n".join(lines) + "\n"
        caught, peak = _peak(lambda: parse_scenario(text, path="bomb.yaml"))
        assert isinstance(caught, ScenarioError)
        assert "aliases are expanded" in str(caught)
        assert peak < 5_000_000

    def test_deep_nesting_refused_in_bounded_memory(self) -> None:
        """100,000 nested lists are refused with a clean error and a small peak."""
        depth = 100_000
        text = "version: 1\nprovider: openai\nevents: [{data: " + "[" * depth + "]" * depth + "}]"
        caught, peak = _peak(lambda: parse_scenario(text, path="deep.yaml"))
        assert isinstance(caught, ScenarioError)
        assert caught.path == "deep.yaml"
        assert peak < 50_000_000

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("2001-13-45", "'2001-13-45' is not a valid timestamp (month must be in 1..12)"),
            ("2001-02-30", "'2001-02-30' is not a valid timestamp (day is out of range"),
            ("9" * 5000, "is not a valid int (Exceeds the limit (4300 digits)"),
            ("!!int abc", "'abc' is not a valid int"),
            ("!!float abc", "'abc' is not a valid float"),
            ("!!bool maybe", "'maybe' is not a valid bool"),
            ("!!timestamp soon", "'soon' is not a valid timestamp"),
        ],
        ids=["month-13", "feb-30", "5000-digits", "int", "float", "bool", "timestamp"],
    )
    def test_typed_scalars_pyyaml_cannot_build(self, value: str, problem: str) -> None:
        """Scalars PyYAML resolves to a type it then fails to build (which used to escape
        as ValueError, KeyError or AttributeError) are ScenarioErrors at their line."""
        text = f"version: 1\nprovider: openai\ndescription: {value}\nevents: []\n"
        with pytest.raises(ScenarioError) as info:
            parse_scenario(text, path="typed.yaml")
        assert (info.value.path, info.value.line) == ("typed.yaml", 3)
        assert problem in info.value.problem


# --- 4. requests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`ok` served with a 1 KiB body limit (the default is 10 MiB)."""
    folder = tmp_path_factory.mktemp("small")
    (folder / "ok.yaml").write_text(OK)
    with ServerThread(load_scenarios(folder), ServerOptions(max_body=1024)) as server:
        yield RunningServer(server)


class TestRequests:
    def test_content_length_over_limit_answered_without_reading(self, small: RunningServer) -> None:
        """Content-Length: 10^12 with no body sent: a 413 at once, connection closed."""
        head = (
            b"POST /s/ok/v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 1000000000000\r\n\r\n"
        )
        answer = _exchange(small.url, head)
        assert answer.status == 413
        assert answer.message() == "Request body too large: the limit is 1024 bytes."
        assert answer.closed
        _still_serving(small.url)

    def test_chunked_body_over_limit(self, small: RunningServer) -> None:
        """A chunked body (no Content-Length) is cut at the limit: 413, connection closed."""
        head = (
            b"POST /s/ok/v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        chunks = b"".join(b"100\r\n" + b" " * 256 + b"\r\n" for _ in range(64))  # 16 KiB
        answer = _exchange(small.url, head + chunks)
        assert answer.status == 413
        assert "1024 bytes" in answer.message()
        assert answer.closed
        _still_serving(small.url)

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
            (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
            (b'{"model": "m", "n": ' + b"9" * 5000 + b"}", "Exceeds the limit (4300 digits)"),
            (b'{"model": "m", "t": NaN}', "NaN is not a JSON value"),
            (b'{"model": "m", "t": -Infinity}', "-Infinity is not a JSON value"),
        ],
        ids=["deep-array", "deep-object", "5000-digits", "nan", "infinity"],
    )
    @pytest.mark.parametrize(
        ("path", "family"),
        [("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic")],
    )
    def test_json_python_reads_differently(
        self, traversal: Traversal, body: bytes, problem: str, path: str, family: str
    ) -> None:
        """Bodies on which Python's json raised RecursionError or ValueError (a 500) or
        accepted non-JSON constants are a provider-shaped 400."""
        answer = httpx.post(
            traversal.server.url + path,
            content=body,
            headers={"content-type": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert "The request body is not valid JSON" in error["message"]
        assert problem in error["message"]
        if family == "anthropic":
            assert answer.json()["type"] == "error"

    @pytest.mark.parametrize(
        "content_type",
        [
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "text/event-stream",
            "application/octet-stream",
            "image/png",
        ],
    )
    def test_wrong_content_types_are_415(self, small: RunningServer, content_type: str) -> None:
        """Content types other than JSON are a 415 naming the type."""
        answer = _exchange(small.url, _post("/s/ok/v1/chat/completions", content_type=content_type))
        assert answer.status == 415
        assert repr(content_type) in answer.message()

    @pytest.mark.parametrize(
        "data",
        [
            b"GET /_harness/health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (1 << 20) + b"\r\n\r\n",
            b"GET /_harness/health HTTP/1.1\r\nhost: x\r\n"
            + b"".join(b"x-h%d: v\r\n" % i for i in range(10_000))
            + b"\r\n",
            b"GET /_harness/health?" + b"a" * (1 << 20) + b" HTTP/1.1\r\nhost: x\r\n\r\n",
            b"GET /_harness/health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * MAX_HEAD_BYTES,
        ],
        ids=["1MB-header", "10000-headers", "1MB-target", "unfinished-16KiB-head"],
    )
    def test_absurd_heads_are_431_and_closed(self, small: RunningServer, data: bytes) -> None:
        """A request head over 16 KiB gets h11's 431 and a closed connection, before the
        app sees it; the server keeps serving."""
        answer = _exchange(small.url, data)
        assert (answer.status, answer.closed) == (431, True)
        _still_serving(small.url)


# --- 4b. slow clients ---------------------------------------------------------------------


def _dribble(sock: socket.socket, data: bytes, pause: float = 0.05) -> tuple[int, bytes]:
    """Send ``data`` a byte at a time; stop when the server answers or closes.

    Returns how many bytes went out and what came back (``b""``: closed, no answer).
    """
    sock.setblocking(False)
    try:
        for sent, byte in enumerate(data):
            try:
                got = sock.recv(65536)
            except BlockingIOError:
                pass
            except ConnectionResetError:
                return sent, b""
            else:
                return sent, got
            try:
                sock.send(bytes([byte]))
            except OSError:
                return sent, b""
            time.sleep(pause)
        return len(data), b"<sent everything>"
    finally:
        sock.setblocking(True)


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`ok` served with one-second head (keep-alive) and body timeouts."""
    folder = tmp_path_factory.mktemp("impatient")
    (folder / "ok.yaml").write_text(OK)
    with run_server(folder, keep_alive_timeout=1.0, body_timeout=1.0) as server:
        yield server


def _served_meanwhile(url: str, stop: threading.Event, served: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            answer = client.post("/s/ok/v1/chat/completions", json={"stream": True})
            served.append(answer.status_code)
            time.sleep(0.05)


class TestSlowClients:
    def _while_served(self, url: str, action: Any) -> Any:
        """Run ``action()`` while another client keeps asking; check it was answered."""
        stop, served = threading.Event(), []
        other = threading.Thread(target=_served_meanwhile, args=(url, stop, served))
        other.start()
        try:
            return action()
        finally:
            stop.set()
            other.join(timeout=10)
            assert served, "the other client was never answered"
            assert set(served) == {200}, served

    def test_head_dribbled_byte_by_byte_is_cut(self, impatient: RunningServer) -> None:
        """Headers sent a byte every 50 ms (600 bytes: 30 s) are cut after the keep-alive
        timeout (1 s here), with no answer, while another client is served."""
        head = b"POST /s/ok/v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 600

        def dribble() -> tuple[int, bytes]:
            with rawhttp.connect(impatient.url, 10) as conn:
                return _dribble(conn.sock, head)

        sent, got = self._while_served(impatient.url, dribble)
        assert got == b""
        assert sent < len(head) // 2

    @pytest.mark.parametrize("framing", ["content-length", "chunked"])
    def test_body_dribbled_byte_by_byte_gets_408(
        self, impatient: RunningServer, framing: str
    ) -> None:
        """A body sent a byte every 50 ms gets the provider's 408 after the body timeout
        (1 s here) and the connection closes, while another client is served."""
        body = b'{"model": "m", "pad": "' + b"a" * 500 + b'"}'
        framed = (
            b"content-length: %d\r\n\r\n" % len(body)
            if framing == "content-length"
            else b"transfer-encoding: chunked\r\n\r\n"
        )
        head = (
            b"POST /s/ok/v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\n" + framed
        )
        payload = (
            body if framing == "content-length" else b"".join(b"1\r\n%c\r\n" % b for b in body)
        )

        def dribble() -> tuple[int, Answer]:
            with rawhttp.connect(impatient.url, 10, tolerate_reset=True) as conn:
                conn.send(head)
                sent, conn.buffer = _dribble(conn.sock, payload)  # the answer's first bytes
                return sent, conn.answer(until_close=True)

        sent, answer = self._while_served(impatient.url, dribble)
        assert sent < len(payload) // 2
        assert answer.status == 408
        assert answer.message() == "The request body did not arrive within 1.0 s."
        assert answer.headers["connection"] == "close"

    def test_idle_connection_is_closed(self, impatient: RunningServer) -> None:
        """A connection that sends nothing is closed after the keep-alive timeout."""
        with rawhttp.connect(impatient.url, 10, tolerate_reset=True) as conn:
            assert conn.at_end()

    def test_timeouts_have_bounded_defaults_and_no_read_timeout(self) -> None:
        """The defaults: 75 s keep-alive (idle or unfinished head), 60 s body, 16 KiB
        head, and no per-read timeout (it would cut streams that pause)."""
        config = _config(bind())
        assert config.keep_alive_timeout == DEFAULT_KEEP_ALIVE_TIMEOUT == 75.0
        assert config.read_timeout is None
        assert config.h11_max_incomplete_size == MAX_HEAD_BYTES == 16 * 1024
        with ServerThread(ScenarioSet()) as server:
            assert server.app.config["BODY_TIMEOUT"] == 60.0
        fd = int(config.bind[0].removeprefix("fd://"))
        os.close(fd)


# --- 5. the admin endpoints beyond loopback ---------------------------------------------------


class TestAdminGuard:
    @pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
    @pytest.mark.parametrize(
        "path", ["/_harness/requests", "/_harness/reload", "/_harness/scenarios", "/_harness/x"]
    )
    def test_every_admin_path_and_method_needs_the_token(
        self, guarded: RunningServer, method: str, path: str
    ) -> None:
        """With a token, every /_harness/* path but health answers 401 to every method
        without it (a new admin route, such as reload, is guarded without a change)."""
        for headers in ({}, {"x-harness-admin-token": "wrong"}, {"authorization": "Bearer x"}):
            answer = httpx.request(method, guarded.url + path, headers=headers, timeout=10)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.json()["error"]["message"] == (
                "The admin endpoints need the admin token."
            )

    def test_health_stays_open(self, guarded: RunningServer) -> None:
        """Health answers without the token (a readiness probe has none)."""
        assert httpx.get(guarded.url + "/_harness/health", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningServer]:
    """The built-ins served with an admin token."""
    with run_server(admin_token="tok-HARNESSFAKE-0123456789") as server:
        yield server


# --- 6. secrets never reach a log line ----------------------------------------------------------

SECRETS = {
    "authorization": "Bearer sk-HARNESSFAKE-authz-0123456789abcdef",
    "x-api-key": "sk-ant-HARNESSFAKE-xapikey-0123456789",
    "api-key": "HARNESSFAKE-azure-apikey-0123456789",
    "x-goog-api-key": "AIzaHARNESSFAKE-goog-0123456789abcdef",
    "cookie": "session=HARNESSFAKE-cookie-0123456789",
}
QUERY_SECRET = "AIzaHARNESSFAKE-query-0123456789abcdef"
_SECRET_MARK = "HARNESSFAKE"
COOKIE_VALUE = "__cf_bm=HARNESSFAKE-setcookie-0123456789; path=/; HttpOnly"
COOKIE = f"""
version: 1
provider: openai
headers: {{set-cookie: "{COOKIE_VALUE}"}}
body: {{"id": "x", "object": "chat.completion", "choices": []}}
"""

# The CLI as `harness` runs it, with every logger at DEBUG, asyncio's debug mode on
# and Python's development mode: the most a user can make it say.
_VERBOSE = (
    "import logging, sys; "
    "logging.basicConfig(level=logging.DEBUG, format='%(name)s %(levelname)s %(message)s'); "
    "from harness.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _verbose(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONASYNCIODEBUG": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-X", "dev", "-c", _VERBOSE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _url_from(proc: subprocess.Popen[bytes], pattern: str) -> str:
    """Read stdout until a line matching ``pattern`` (group 1: the URL)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        match = re.search(pattern, line)
        if match:
            return match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no URL from {proc.args}: {proc.communicate()}")


def _stop(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    """SIGINT, then everything it wrote (stdout, stderr)."""
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out.decode(errors="replace"), err.decode(errors="replace")


def _hostile_traffic(base: str) -> None:
    """Requests carrying every secret (headers and ?key=), answered and failing ones."""
    headers = {**SECRETS, "content-type": "application/json"}
    query = f"?key={QUERY_SECRET}"
    with httpx.Client(timeout=10) as client:
        calls = [
            ("POST", "/s/openai/text/v1/chat/completions", b'{"stream": true}'),
            ("POST", "/s/anthropic/text/v1/messages", b'{"stream": false}'),
            ("POST", "/s/gemini/text/v1beta/models/g:streamGenerateContent", b"{}"),
            ("POST", "/v1/chat/completions", b"{not json"),  # 400
            ("POST", "/s/no-such/v1/chat/completions", b"{}"),  # 404
            ("POST", "/v1/nope", b"{}"),  # 404 route
            ("GET", "/v1/chat/completions", b""),  # 405
            ("POST", "/s/openai/http-500/v1/chat/completions", b'{"stream": true}'),
        ]
        for method, path, body in calls:
            client.request(method, base + path + query, headers=headers, content=body)
        client.request(
            "POST",
            base + "/s/openai/text/v1/chat/completions" + query,
            headers={**headers, "content-type": "text/plain"},  # 415
            content=b"{}",
        )
    # A client that hangs up mid-stream (the stream stalls after its first event).
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "POST",
            base + "/s/openai/text/v1/chat/completions" + query,
            headers={**headers, "x-harness-faults": "stall_after=1,stall_ms=5000"},
            content=b'{"stream": true}',
        ) as stream,
    ):
        next(stream.iter_raw())
    # Heads HTTP itself refuses: a secret next to a NUL, and one in a 100 KB head.
    for head in (
        f"GET /x?key={QUERY_SECRET} HTTP/1.1\r\nhost: x\r\nauthorization: "
        f"{SECRETS['authorization']}\0\r\n\r\n",
        f"GET /x?key={QUERY_SECRET} HTTP/1.1\r\nhost: x\r\nx-api-key: "
        f"{SECRETS['x-api-key']}\r\nx-pad: {'a' * 100_000}\r\n\r\n",
    ):
        with rawhttp.send(base, head.encode(), 10, tolerate_reset=True) as conn:
            conn.drain()


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert _SECRET_MARK not in text, text[max(0, text.find(_SECRET_MARK) - 300) :][:600]
        for value in (*SECRETS.values(), QUERY_SECRET, COOKIE_VALUE):
            assert value.split(" ")[-1].split("=")[-1] not in text


class TestJournalMasking:
    def test_every_secret_header_and_query_name_in_any_case(self, traversal: Traversal) -> None:
        """The journal masks the secret headers (set-cookie and Basic credentials too,
        names in any case) and ``key`` in any case, for a refused request as well."""
        headers = {
            "Authorization": "Basic SEFSTkVTU0ZBS0U6c2VjcmV0",
            "X-API-Key": "sk-ant-HARNESSFAKE-1",
            "Api-Key": "HARNESSFAKE-2",
            "X-Goog-Api-Key": "AIzaHARNESSFAKE-3",
            "Cookie": "a=HARNESSFAKE-4",
            "Set-Cookie": "b=HARNESSFAKE-5",
            "x-harness-test-id": "masking",
        }
        url = traversal.server.url
        for query in ("?KEY=HARNESSFAKE-6", "?Key=HARNESSFAKE-7&alt=sse"):
            httpx.post(f"{url}/s/ok/v1/chat/completions{query}", headers=headers, json={})
            httpx.post(f"{url}/v1/chat/completions{query}", headers=headers, content=b"{")
        entries = traversal.server.requests("masking")
        assert len(entries) == 4
        assert entries[0]["headers"]["authorization"] == "Basic ***"
        assert entries[1]["status"] == 400
        assert _SECRET_MARK not in json.dumps(entries)


class TestSecretsInLogs:
    def test_serve_logs_no_secret(self) -> None:
        """`harness serve` with every logger at DEBUG: no secret on stdout or stderr (nor
        in the journal), after answered, refused, malformed and hung-up requests."""
        proc = _verbose("serve", "--port", "0", "--speed", "0")
        try:
            url = _url_from(proc, r"serving \d+ scenarios on (\S+)")
            _hostile_traffic(url)
            journal = httpx.get(url + "/_harness/requests", params={"all": "1"}, timeout=10)
            entries = journal.json()["requests"]
            assert len(entries) >= 8  # 404 routes and 405 are not journaled
            _assert_no_secret(journal.text)
        finally:
            out, err = _stop(proc)
        assert "DEBUG" in err  # the logging really was at its most verbose
        _assert_no_secret(out, err)

    def test_record_logs_no_secret(self, tmp_path: Path) -> None:
        """`harness record` with every logger at DEBUG (httpx and httpcore included): no
        secret on stdout or stderr, nor in the cassette, including an unreachable
        upstream (502)."""
        cassette = tmp_path / "c.yaml"
        folder = tmp_path / "scenarios"
        shutil.copytree(builtin_scenarios_dir(), folder)
        (folder / "cookie.yaml").write_text(COOKIE)
        with run_server(folder) as upstream:
            proc = _verbose(
                "record", "--upstream", upstream.url, "--cassette", str(cassette), "--port", "0"
            )
            try:
                url = _url_from(proc, r"proxying (\S+) ->")
                _hostile_traffic(url)
                # An upstream answer that sets a cookie (httpcore logs response headers).
                cookie = httpx.post(f"{url}/s/cookie/v1/chat/completions", json={}, timeout=10)
                assert cookie.headers["set-cookie"] == COOKIE_VALUE
            except BaseException:
                _stop(proc)
                raise
        try:
            with httpx.Client(timeout=10) as client:  # the upstream is gone now: a 502
                answer = client.post(
                    f"{url}/v1/chat/completions?key={QUERY_SECRET}",
                    headers=SECRETS,
                    content=b"{}",
                )
            assert answer.status_code == 502
        finally:
            out, err = _stop(proc)
        assert "DEBUG" in err
        assert "upstream unreachable" in err
        _assert_no_secret(out, err, cassette.read_text())
