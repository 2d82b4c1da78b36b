"""Cassettes: vcrpy's format both ways, exact bytes, timing, modes, atomic writes, errors."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import httpx2
import pytest
import vcr
import yaml

from harness.errors import UsageError
from harness.record.cassette import (
    CassetteError,
    Chunk,
    Interaction,
    RecordStart,
    load_cassette,
    save_cassette,
    start_recording,
)
from harness.secrets import scan_text
from harness.testing import RunningServer

# Nothing listens here: a replay that reached the network would fail to connect.
OFFLINE = "http://127.0.0.1:9/v1/chat/completions"
OPENAI_KEY = "sk-proj-Zq8RkT2mWx7NpL4vYc9HbJ3sFd6GtA1eUo5iKnQ0"


def _interaction(
    chunks: tuple[Chunk, ...] = (Chunk(b"data: 1\n\n", 0.01), Chunk(b"data: 2\n\n", 0.05)),
    *,
    uri: str = OFFLINE,
    complete: bool = True,
    request_body: bytes = b'{"stream":true}',
    status: int = 200,
) -> Interaction:
    return Interaction(
        method="POST",
        uri=uri,
        request_headers={"content-type": ["application/json"], "x-trace": ["a", "b"]},
        request_body=request_body,
        status=status,
        reason="OK",
        response_headers={"content-type": ["text/event-stream"], "x-multi": ["1", "2"]},
        chunks=chunks,
        complete=complete,
    )


def test_save_then_load_gives_back_every_field(tmp_path: Path) -> None:
    """Chunks, times, completeness and repeated headers survive a save and a load."""
    path = tmp_path / "c.yaml"
    saved = [
        _interaction(),
        _interaction((Chunk(b'data: {"tr', 0.2),), complete=False, status=503),
        _interaction((), request_body=b""),
    ]
    save_cassette(path, saved)
    assert load_cassette(path) == saved
    loaded = load_cassette(path)
    assert loaded[0].timed
    assert loaded[0].body == b"data: 1\n\ndata: 2\n\n"
    assert not loaded[1].complete


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00 not UTF-8",
        b"\xe2\x82",  # half of a three-byte character
        b"a\r\nb\rc\n",
        "NEL\x85 LS\u2028 BOM\ufeff".encode(),
        b"\x00\x01\x1b[0m",
        b"  leading and trailing  \n\n",
        b"data: [DONE]\n\n",
        b"- looks: [like, yaml]",
        b"",
    ],
)
def test_bodies_round_trip_byte_for_byte(tmp_path: Path, body: bytes) -> None:
    """Request and response bodies come back identical, UTF-8 or not."""
    path = tmp_path / "c.yaml"
    chunks = (Chunk(body, 0.25),) if body else ()
    save_cassette(path, [_interaction(chunks, request_body=body)])
    (loaded,) = load_cassette(path)
    assert loaded.body == body
    assert loaded.request_body == body


def test_chunk_boundaries_inside_a_character_survive(tmp_path: Path) -> None:
    """Chunks that split a multi-byte character keep their exact boundaries."""
    path = tmp_path / "c.yaml"
    chunks = (Chunk(b"\xc3", 0.1), Chunk(b"\xa9\xe2\x82", 0.2), Chunk(b"\xac", 0.3))
    save_cassette(path, [_interaction(chunks)])
    (loaded,) = load_cassette(path)
    assert loaded.chunks == chunks
    assert loaded.body.decode() == "é€"


@pytest.mark.parametrize("library", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_vcrpy_replays_a_harness_cassette(tmp_path: Path, library: object) -> None:
    """vcrpy itself replays what save_cassette wrote, harness key and binary body included."""
    path = tmp_path / "c.yaml"
    body = b'data: {"a":1}\n\n\xff\xfe data: [DONE]\n\n'
    save_cassette(path, [_interaction((Chunk(body[:5], 0.1), Chunk(body[5:], 0.3)))])
    assert "harness" in yaml.safe_load(path.read_text())["interactions"][0]["response"]
    with vcr.use_cassette(str(path), record_mode="none"):
        client = library.Client()  # type: ignore[attr-defined]
        with client:
            response = client.post(OFFLINE, content=b'{"stream":true}')
    assert response.status_code == 200
    assert response.content == body
    assert response.headers.get_list("x-multi") == ["1", "2"]


def test_untimed_single_chunk_is_written_as_plain_vcrpy(tmp_path: Path) -> None:
    """A complete body with no timing gets no harness key, and loads back untimed."""
    path = tmp_path / "c.yaml"
    save_cassette(path, [_interaction((Chunk(b"{}", 0.0),))])
    raw = yaml.safe_load(path.read_text())
    assert "harness" not in raw["interactions"][0]["response"]
    (loaded,) = load_cassette(path)
    assert not loaded.timed
    assert loaded.chunks == (Chunk(b"{}", 0.0),)


def test_secrets_never_reach_the_disk(tmp_path: Path) -> None:
    """save_cassette drops secret headers and query parameters the caller left in."""
    path = tmp_path / "c.yaml"
    leaky = Interaction(
        method="POST",
        uri=f"https://generativelanguage.googleapis.com/v1beta/models/m?alt=sse&key={OPENAI_KEY}",
        request_headers={
            "Authorization": [f"Bearer {OPENAI_KEY}"],
            "x-api-key": [OPENAI_KEY],
            "Cookie": ["__cf_bm=Zq8RkT2mWx7NpL4vYc9HbJ3sFd6G"],
            "content-type": ["application/json"],
        },
        request_body=b"{}",
        status=200,
        reason="OK",
        response_headers={"set-cookie": ["__cf_bm=Zq8RkT2mWx7NpL4vYc9HbJ3sFd6G; path=/"]},
        chunks=(Chunk(b"{}", 0.1),),
    )
    assert scan_text(repr(leaky))  # the check below would notice a leak
    save_cassette(path, [leaky])
    text = path.read_text()
    assert OPENAI_KEY not in text
    assert "Zq8RkT2m" not in text
    for name in ("authorization", "x-api-key", "cookie"):
        assert name not in text.lower()
    assert scan_text(text, str(path)) == []
    (loaded,) = load_cassette(path)
    assert loaded.uri.endswith("/v1beta/models/m?alt=sse")
    assert loaded.request_headers == {"content-type": ["application/json"]}


def test_record_modes(tmp_path: Path) -> None:
    """once refuses an existing file, new_episodes appends, all overwrites, none writes nothing."""
    path = tmp_path / "sub" / "c.yaml"
    first = _interaction((Chunk(b"first", 0.1),))
    second = _interaction((Chunk(b"second", 0.1),))
    with pytest.raises(CassetteError, match="none"):
        save_cassette(path, [first], mode="none")
    assert not path.exists()
    save_cassette(path, [first], mode="new_episodes")  # creates a missing file
    with pytest.raises(CassetteError, match=r"c\.yaml: already exists"):
        save_cassette(path, [second], mode="once")
    save_cassette(path, [second], mode="new_episodes")
    assert [i.body for i in load_cassette(path)] == [b"first", b"second"]
    save_cassette(path, [second], mode="all")
    assert [i.body for i in load_cassette(path)] == [b"second"]
    before = path.read_bytes()
    with pytest.raises(CassetteError):
        save_cassette(path, [first], mode="none")
    assert path.read_bytes() == before


def test_a_failed_write_keeps_the_old_cassette(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the rename fails, the previous cassette is intact and no temp file is left."""
    path = tmp_path / "c.yaml"
    save_cassette(path, [_interaction()])
    before = path.read_bytes()

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CassetteError, match="No space left"):
        save_cassette(path, [_interaction((Chunk(b"new", 0.1),))], mode="all")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.yaml"]


@pytest.mark.parametrize("library", [httpx, httpx2], ids=["httpx", "httpx2"])
def test_loads_a_cassette_vcrpy_recorded(
    tmp_path: Path, builtin_server: RunningServer, library: object
) -> None:
    """A plain vcrpy cassette (httpx or httpx2) loads: one chunk at t=0, complete."""
    path = tmp_path / "plain.yaml"
    url = builtin_server.base_url("openai/text") + "/chat/completions?trace=1"
    with vcr.use_cassette(str(path), record_mode="once"):
        client = library.Client()  # type: ignore[attr-defined]
        with client:
            response = client.post(url, json={"model": "m", "stream": True, "messages": []})
    assert path.exists()
    (loaded,) = load_cassette(path)
    assert loaded.method == "POST"
    assert loaded.uri == url
    assert loaded.status == 200
    assert loaded.body == response.content
    assert loaded.chunks == (Chunk(response.content, 0.0),)
    assert loaded.complete
    assert not loaded.timed
    assert b'"stream":true' in loaded.request_body.replace(b" ", b"")


GOOD = """
version: 1
interactions:
- request: {method: POST, uri: 'http://x/v1', body: '{}', headers: {}}
  response:
    status: {code: 200, message: OK}
    headers: {}
    body: {string: abcdef}
"""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: [1\n", "not valid YAML: line"),
        ("- request: {}\n", "not a vcrpy cassette"),
        ("just text\n", "expected a mapping with 'version' and 'interactions', got a string"),
        ("interactions: []\n", "version: missing"),
        (GOOD.replace("version: 1", "version: 2"), "unsupported cassette version 2"),
        ("version: 1\n", "interactions: missing"),
        (GOOD.replace("uri: 'http://x/v1', ", ""), "interaction 0: request.uri: missing"),
        (GOOD.replace("code: 200", "code: twelve"), "interaction 0: response.status.code"),
        (GOOD.replace("{string: abcdef}", "{}"), "interaction 0: response.body.string: missing"),
        (
            GOOD + "    harness: {version: 1, chunks: [[2, 0.1], [2, 0.2]]}\n",
            "chunk sizes add up to 4 bytes but the body has 6",
        ),
        (GOOD + "    harness: {version: 9}\n", "response.harness.version: unsupported version 9"),
        (
            GOOD + "    harness: {version: 1, chunks: [[6, -1]]}\n",
            "response.harness.chunks[0]: expected [size in bytes >= 0, seconds >= 0]",
        ),
        (GOOD + "    harness: {version: 1, complete: maybe}\n", "complete: expected true or false"),
        ("version: 1\ninteractions: [3]\n", "interaction 0: expected a mapping, got int"),
        ("version: 1\ninteractions: {}\n", "interactions: expected a list, got a mapping"),
        (GOOD.replace("request: {", "request: 7\n  r: {"), "request: expected a mapping, got int"),
        (GOOD.replace("method: POST", "method: [POST]"), "request.method: expected a string"),
        (GOOD.replace("headers: {}", "headers: {a: {b: c}}", 1), "request.headers.a: expected"),
        (GOOD.replace("headers: {}", "headers: [x]", 1), "request.headers: expected a mapping"),
        (GOOD.replace("body: '{}'", "body: {a: 1}"), "request.body: expected a string or binary"),
        (GOOD.replace("code: 200", "code: 99"), "expected an HTTP status (100-599), got 99"),
        (GOOD.replace("    status: {code: 200, message: OK}\n", ""), "response.status: missing"),
        (GOOD.replace("code: 200, ", ""), "response.status.code: missing"),
        (GOOD + "    harness: [1]\n", "response.harness: expected a mapping, got a list"),
        (GOOD + "    harness: {version: 1, chunks: 3}\n", "harness.chunks: expected a list"),
    ],
)
def test_malformed_cassettes_get_clear_errors(tmp_path: Path, text: str, problem: str) -> None:
    """Each broken cassette gets an error naming the file, the interaction and the problem."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_a_good_cassette_with_harness_chunks_loads(tmp_path: Path) -> None:
    """The hand-written cassette the error cases start from is itself valid."""
    path = tmp_path / "good.yaml"
    path.write_text(GOOD + "    harness: {version: 1, chunks: [[2, 0.1], [4, 0.2]]}\n")
    (loaded,) = load_cassette(path)
    assert loaded.chunks == (Chunk(b"ab", 0.1), Chunk(b"cdef", 0.2))


def test_a_missing_cassette_is_a_clear_error(tmp_path: Path) -> None:
    """Loading a file that is not there names it."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(CassetteError, match=r"nope\.yaml: no such cassette file"):
        load_cassette(path)


OLD_SHAPES = """
version: 1
interactions:
- request:
    method: get
    uri: http://x/a
    body: !!python/object/new:_io.BytesIO {state: !!python/tuple [!!binary "AAE=", 0, null]}
  response:
    status_code: 201
    headers: {content-type: application/json, x-n: 3}
    content: '{"ok": true}'
- request: {method: POST, uri: 'http://x/b', body: null}
  response:
    status: {code: 204, message: null}
    body: {string: null}
    harness: {version: 1, complete: false}
- request: {method: POST, uri: 'http://x/c', body: [a, b]}
  response:
    status: {code: '200', message: OK}
    body: {string: xyz}
    harness: {version: 1, complete: true}
"""


def test_loads_older_and_looser_vcrpy_shapes(tmp_path: Path) -> None:
    """Old httpx cassettes, file-like and list bodies, scalar headers and nulls all load."""
    path = tmp_path / "old.yaml"
    path.write_text(OLD_SHAPES)
    first, second, third = load_cassette(path)
    assert (first.method, first.status, first.reason) == ("GET", 201, "")
    assert first.request_body == b"\x00\x01"
    assert first.response_headers == {"content-type": ["application/json"], "x-n": ["3"]}
    assert first.body == b'{"ok": true}'
    assert first.request_headers == {}
    assert (second.status, second.reason, second.body, second.chunks) == (204, "", b"", ())
    assert not second.complete
    assert third.request_body == b"ab"
    assert third.chunks == (Chunk(b"xyz", 0.0),)


def test_unreadable_files_get_clear_errors(tmp_path: Path) -> None:
    """A folder and a file that is not UTF-8 are named in the error."""
    with pytest.raises(CassetteError, match="is a folder"):
        load_cassette(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"version: 1\n# caf\xe9\n")
    with pytest.raises(CassetteError, match=r"latin\.yaml: not UTF-8 text \(at byte offset 16\)"):
        load_cassette(latin)


def test_start_recording_applies_each_mode_once(tmp_path: Path) -> None:
    """The one record-mode policy: what save_cassette and harness record both follow."""
    path = tmp_path / "c.yaml"
    assert start_recording(path, "none") == RecordStart(records=False)
    assert start_recording(None, "once") == RecordStart(records=True)  # in memory
    assert start_recording(path, "once") == RecordStart(records=True)
    assert start_recording(path, "new_episodes") == RecordStart(records=True)
    assert start_recording(path, "all") == RecordStart(records=True, overwrite=True)
    save_cassette(path, [_interaction()])
    with pytest.raises(CassetteError, match=r"\(--record-mode new_episodes appends"):
        start_recording(path, "once", option="--record-mode ")
    appended = start_recording(path, "new_episodes")
    assert appended.overwrite
    assert [i.body for i in appended.base] == [b"data: 1\n\ndata: 2\n\n"]
    assert start_recording(path, "all") == RecordStart(records=True, overwrite=True)
    with pytest.raises(UsageError, match="unknown record mode 'x'") as info:
        start_recording(None, "x")
    assert not isinstance(info.value, CassetteError)  # no file to name


def test_an_unknown_record_mode_is_refused(tmp_path: Path) -> None:
    """save_cassette names the modes it knows."""
    with pytest.raises(CassetteError, match="unknown record mode 'sometimes'"):
        save_cassette(tmp_path / "c.yaml", [], mode="sometimes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_cassette_in_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    """Writing under a path whose parent is a file fails with the cassette named."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CassetteError, match=r"file/c\.yaml: cannot write"):
        save_cassette(blocker / "c.yaml", [])
