"""The mock provider over real sockets: bytes on the wire, faults, timing, selection, journal.

Every test talks to a real Hypercorn server on 127.0.0.1 (``run_server`` /
``ServerThread``), through httpx or the raw HTTP/1.1 client of ``tests/rawhttp.py``, which
keeps each chunk of the chunked encoding apart, so the exact writes the server makes are
visible. Pauses are never measured: the server is given a ``sleep`` that records what it
is asked to wait. The scenarios are written here, so every expected byte is known.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from harness.errors import UsageError
from harness.mock.app import unserved_match_paths
from harness.mock.families import routes_hint
from harness.mock.journal import Entry, Journal
from harness.mock.options import ServerOptions
from harness.mock.replay import encode_step
from harness.mock.scenario import Faults, ScenarioSet, parse_scenario
from harness.mock.serve import ServerThread
from harness.mock.state import PlanCache
from harness.testing import RunningServer, run_server
from tests import rawhttp

# --- scenarios -------------------------------------------------------------------------

OA_TEXT = """
version: 1
provider: openai
headers: {x-scenario: oa/text}
events:
  - {data: {"id": "c-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}}
  - {data: {"id": "c-2", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}}
  - {data: {"id": "c-3", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": null}]}}
  - {data: {"id": "c-4", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}}
  - {data: {"id": "c-5", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}}
  - {data: "[DONE]"}
"""  # noqa: E501

AN_TEXT = """
version: 1
provider: anthropic
headers: {x-scenario: an/text}
events:
  - {event: message_start, data: {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 1}}}}
  - {event: content_block_start, data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}}
  - {event: content_block_delta, data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}}
  - {event: content_block_delta, data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " world"}}}
  - {event: content_block_stop, data: {"type": "content_block_stop", "index": 0}}
  - {event: message_delta, data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 2}}}
  - {event: message_stop, data: {"type": "message_stop"}}
"""  # noqa: E501

GM_TEXT = """
version: 1
provider: gemini
headers: {x-scenario: gm/text}
match: {model: gemini-2.5-flash}
events:
  - {data: {"candidates": [{"content": {"parts": [{"text": "Hello"}], "role": "model"}, "index": 0}], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "totalTokenCount": 5}, "modelVersion": "gemini-2.5-flash"}}
  - {data: {"candidates": [{"content": {"parts": [{"text": " world"}], "role": "model"}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}, "modelVersion": "gemini-2.5-flash"}}
"""  # noqa: E501

# A cut: two events, then the connection drops.
OA_CUT = """
version: 1
provider: openai
events:
  - {data: {"n": 1}}
  - {data: {"n": 2}}
  - {disconnect: true}
"""

# Multi-byte characters: 2 bytes (é), 3 bytes (世), 4 bytes (🎉).
OA_UTF8 = """
version: 1
provider: openai
events:
  - {data: {"choices": [{"index": 0, "delta": {"content": "é世🎉"}}]}}
  - {data: {"choices": [{"index": 0, "delta": {"content": "ok"}}]}}
  - {data: "[DONE]"}
"""

OA_CRLF = """
version: 1
provider: openai
newline: crlf
events:
  - {data: {"n": 1}}
  - {data: {"n": 2}}
  - {data: "[DONE]"}
"""

# The scenario's own fault, which a header can override field by field.
OA_FAULTY = """
version: 1
provider: openai
faults: {disconnect_after: 2}
events:
  - {data: {"n": 1}}
  - {data: {"n": 2}}
  - {data: {"n": 3}}
  - {data: "[DONE]"}
"""

# Timing: 100 ms between events, 250 ms more before the third.
TIMED = """
version: 1
provider: openai
delay_ms: 100
events:
  - {data: {"id": "t", "choices": [{"index": 0, "delta": {"content": "one"}, "finish_reason": null}]}}
  - {data: {"id": "t", "choices": [{"index": 0, "delta": {"content": "two"}, "finish_reason": null}]}}
  - {sleep_ms: 250}
  - {data: {"id": "t", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}}
  - {data: "[DONE]"}
"""  # noqa: E501

# Slow enough at speed 1 for a client to hang up in the middle.
SLOW = """
version: 1
provider: openai
events:
  - {data: first}
  - {sleep_ms: 200}
  - {data: second}
  - {sleep_ms: 200}
  - {data: third}
  - {sleep_ms: 200}
  - {data: fourth}
"""

SEQ = """
version: 1
provider: openai
responses:
  - status: 429
    headers: {retry-after: "1"}
    body: {error: {message: slow down, type: requests, param: null, code: rate_limit_exceeded}}
  - events:
      - {data: {"n": 1}}
      - {data: "[DONE]"}
"""


def _matched(name: str, match: str) -> str:
    """A tiny openai stream answering with header ``x-scenario: name``, with ``match``."""
    return f"""
version: 1
provider: openai
headers: {{x-scenario: {name}}}
match: {match}
events:
  - {{data: {{"n": 1}}}}
  - {{data: "[DONE]"}}
"""


MATCH_MODEL = _matched("m/model", "{model: 'gpt-glob-*'}")
MATCH_BODY = _matched("m/body", "{body: {metadata: {suite: alpha}}}")
MATCH_STREAM_ON = _matched("m/stream-on", "{model: gpt-s, stream: true}")
MATCH_STREAM_OFF = _matched("m/stream-off", "{model: gpt-s, stream: false}")
# An anthropic scenario with a rule, for the anthropic route (the only one there).
MATCH_CLAUDE = AN_TEXT.replace("headers: {x-scenario: an/text}", "headers: {x-scenario: an/m}")
MATCH_CLAUDE += "match: {model: 'claude-match-*'}\n"


def _scenarios() -> ScenarioSet:
    texts = {
        "oa/text": OA_TEXT,
        "an/text": AN_TEXT,
        "an/m": MATCH_CLAUDE,
        "gm/text": GM_TEXT,
        "oa/cut": OA_CUT,
        "oa/utf8": OA_UTF8,
        "oa/crlf": OA_CRLF,
        "oa/faulty": OA_FAULTY,
        "timed": TIMED,
        "seq": SEQ,
        "m/model": MATCH_MODEL,
        "m/body": MATCH_BODY,
        "m/stream-on": MATCH_STREAM_ON,
        "m/stream-off": MATCH_STREAM_OFF,
    }
    return ScenarioSet([parse_scenario(text, name=name) for name, text in texts.items()])


SCENARIOS = _scenarios()


def _steps(name: str) -> list[bytes]:
    """The encoded bytes of each non-empty step of a scenario's (first) answer."""
    scenario = SCENARIOS.get(name)
    assert scenario is not None
    answer = scenario.answers[0]
    assert answer.events is not None
    encoded = [encode_step(step, answer.newline) for step in answer.events]
    return [data for data in encoded if data]


# --- the sleep recorder and the servers --------------------------------------------------


@dataclass
class Pauses:
    """What the server asked to sleep, and how many body bytes it had sent before each."""

    seconds: list[float] = field(default_factory=list)
    sent_before: list[int] = field(default_factory=list)
    server: RunningServer | None = None

    def make_sleep(self) -> Any:
        async def sleep(seconds: float) -> None:
            self.seconds.append(seconds)
            self.sent_before.append(self._latest_bytes_sent())
            await asyncio.sleep(0)

        return sleep

    def _latest_bytes_sent(self) -> int:
        if self.server is None:
            return -1
        entries = self.server.journal.entries(None)
        if not entries:
            return -1
        return max(entries, key=lambda e: e.time).bytes_sent

    def clear(self) -> None:
        self.seconds.clear()
        self.sent_before.clear()


_PAUSES = Pauses()
_TIMED_PAUSES = Pauses()


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """The test scenarios on 127.0.0.1 at speed 0, pauses recorded in ``_PAUSES``."""
    with run_server(SCENARIOS, sleep=_PAUSES.make_sleep()) as running:
        _PAUSES.server = running
        yield running
        _PAUSES.server = None


@pytest.fixture(scope="module")
def timed_server() -> Iterator[RunningServer]:
    """The test scenarios at speed 1 (recorded timing), pauses recorded in ``_TIMED_PAUSES``."""
    with run_server(SCENARIOS, speed=1, sleep=_TIMED_PAUSES.make_sleep()) as running:
        _TIMED_PAUSES.server = running
        yield running
        _TIMED_PAUSES.server = None


@pytest.fixture
def pauses() -> Pauses:
    """The module server's pause record, emptied for this test."""
    _PAUSES.clear()
    return _PAUSES


@pytest.fixture
def timed_pauses() -> Pauses:
    """The timed server's pause record, emptied for this test."""
    _TIMED_PAUSES.clear()
    return _TIMED_PAUSES


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """An httpx client on the module server (one for the module: creating one is slow)."""
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http


@pytest.fixture
def tid(request: pytest.FixtureRequest) -> str:
    """A test id unique to this test, for the journal and sequences."""
    return f"tid-{request.node.name}"


# --- a raw POST that keeps chunks apart (tests/rawhttp.py) -------------------------------


def raw_post(
    url: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> rawhttp.Answer:
    """POST ``body`` (JSON) with `connection: close`; read the whole answer (one element
    per chunk) and the server closing the connection after it."""
    payload = json.dumps({"model": "x", "stream": True} if body is None else body).encode()
    fields = {"connection": "close", **(headers or {})}
    data = rawhttp.request(path, payload, host=urlsplit(url).netloc, headers=fields)
    answer = rawhttp.exchange(url, data, until_close=True)
    assert answer.status, f"the server closed before the head ended: {answer.head.raw!r}"
    return answer


def _sse_data(body: bytes) -> list[str]:
    """The data fields of an SSE body (one per event), LF only."""
    out = []
    for block in body.decode().split("\n\n"):
        lines = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            out.append("\n".join(lines))
    return out


# --- 1. bytes on the wire -----------------------------------------------------------------


class TestWire:
    def test_one_chunk_per_event_in_order_then_terminator(self, server: RunningServer) -> None:
        """Each event of a stream is its own HTTP chunk, exactly encode_step's bytes."""
        raw = raw_post(server.url, "/s/oa/text/v1/chat/completions")
        assert raw.status == 200
        assert raw.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert raw.headers["transfer-encoding"] == "chunked"
        assert raw.chunks == _steps("oa/text")
        assert raw.chunks[-1] == b"data: [DONE]\n\n"
        assert raw.terminated

    def test_anthropic_raw_chunks_are_the_steps(self, server: RunningServer) -> None:
        """An anthropic scenario on /v1/messages is replayed byte for byte, one event a chunk."""
        raw = raw_post(server.url, "/s/an/text/v1/messages")
        assert raw.status == 200
        assert raw.chunks == _steps("an/text")
        assert raw.chunks[-1] == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        assert raw.terminated

    def test_scenario_disconnect_closes_without_terminator(self, server: RunningServer) -> None:
        """`disconnect: true` closes the connection after the events, with no 0-size chunk."""
        raw = raw_post(server.url, "/s/oa/cut/v1/chat/completions")
        assert raw.status == 200
        assert raw.chunks == [b'data: {"n":1}\n\n', b'data: {"n":2}\n\n']
        assert not raw.terminated
        assert raw.closed

    def test_disconnect_after_fault(self, server: RunningServer) -> None:
        """`disconnect_after=2` sends exactly two event chunks, then cuts without terminator."""
        raw = raw_post(
            server.url,
            "/s/oa/text/v1/chat/completions",
            headers={"x-harness-faults": "disconnect_after=2"},
        )
        assert raw.chunks == _steps("oa/text")[:2]
        assert not raw.terminated
        assert raw.closed

    def test_byte_chunking(self, server: RunningServer) -> None:
        """`chunking=byte` writes every byte as its own chunk; the bytes are unchanged."""
        raw = raw_post(
            server.url,
            "/s/oa/text/v1/chat/completions",
            headers={"x-harness-faults": "chunking=byte"},
        )
        expected = b"".join(_steps("oa/text"))
        assert [len(chunk) for chunk in raw.chunks] == [1] * len(expected)
        assert raw.body == expected
        assert raw.terminated

    def test_random_chunking_is_seeded(self, server: RunningServer) -> None:
        """`chunking=random` gives the same cuts for one seed, other cuts for another seed."""

        def chunks(seed: int) -> list[bytes]:
            raw = raw_post(
                server.url,
                "/s/oa/text/v1/chat/completions",
                headers={"x-harness-faults": f"chunking=random, seed={seed}"},
            )
            assert raw.terminated
            return raw.chunks

        first, again, other = chunks(7), chunks(7), chunks(8)
        expected = b"".join(_steps("oa/text"))
        assert first == again
        assert first != other
        assert b"".join(first) == b"".join(other) == expected
        assert max(len(chunk) for chunk in first + other) <= 16  # the default max_chunk
        assert len(first) > len(_steps("oa/text"))

    def test_utf8_chunking_splits_characters(self, server: RunningServer) -> None:
        """`chunking=utf8` ends chunks right after the lead byte of each multi-byte character."""
        raw = raw_post(
            server.url,
            "/s/oa/utf8/v1/chat/completions",
            headers={"x-harness-faults": "chunking=utf8"},
        )
        assert raw.body == b"".join(_steps("oa/utf8"))
        ends = {chunk[-1] for chunk in raw.chunks}
        assert {0xC3, 0xE4, 0xF0} <= ends  # the lead bytes of é, 世 and 🎉
        split = [chunk for chunk in raw.chunks if chunk[-1] >= 0xC0]
        for chunk in split:
            with pytest.raises(UnicodeDecodeError):
                chunk.decode()
        assert raw.terminated

    def test_crlf_chunking_splits_cr_from_lf(self, server: RunningServer) -> None:
        """`chunking=crlf` on a CRLF stream cuts between every CR and its LF."""
        raw = raw_post(
            server.url,
            "/s/oa/crlf/v1/chat/completions",
            headers={"x-harness-faults": "chunking=crlf"},
        )
        body = b"".join(_steps("oa/crlf"))
        assert body.startswith(b'data: {"n":1}\r\n\r\n')
        assert raw.body == body
        pairs = [
            (a, b) for a, b in zip(raw.chunks, raw.chunks[1:], strict=False) if a.endswith(b"\r")
        ]
        assert len(pairs) == body.count(b"\r\n")
        assert all(b.startswith(b"\n") for _, b in pairs)
        assert raw.chunks[-1] == b"\n"
        assert raw.chunks[:2] == [b'data: {"n":1}\r', b"\n\r"]

    def test_disconnect_after_bytes(self, server: RunningServer) -> None:
        """`disconnect_after_bytes=N` sends exactly the first N body bytes, then cuts."""
        body = b"".join(_steps("oa/text"))
        n = len(_steps("oa/text")[0]) + 10
        raw = raw_post(
            server.url,
            "/s/oa/text/v1/chat/completions",
            headers={"x-harness-faults": f"disconnect_after_bytes={n}"},
        )
        assert raw.body == body[:n]
        assert [len(chunk) for chunk in raw.chunks] == [len(_steps("oa/text")[0]), 10]
        assert not raw.terminated
        assert raw.closed

    def test_scenario_faults_apply_and_header_overrides(self, server: RunningServer) -> None:
        """A scenario's `faults:` apply; a header field overrides the scenario's field."""
        own = raw_post(server.url, "/s/oa/faulty/v1/chat/completions")
        assert own.chunks == _steps("oa/faulty")[:2]
        assert not own.terminated
        more = raw_post(
            server.url,
            "/s/oa/faulty/v1/chat/completions",
            headers={"x-harness-faults": "disconnect_after=3"},
        )
        assert more.chunks == _steps("oa/faulty")[:3]
        assert not more.terminated
        # Another field merges with the scenario's disconnect_after.
        merged = raw_post(
            server.url,
            "/s/oa/faulty/v1/chat/completions",
            headers={"x-harness-faults": "keepalive_every=1"},
        )
        assert merged.chunks == [
            _steps("oa/faulty")[0],
            b": keep-alive\n\n",
            _steps("oa/faulty")[1],
        ]


# --- 2. faults over HTTP --------------------------------------------------------------------

ANTHROPIC_OVERLOADED = (
    b"event: error\n"
    b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
)


class TestFaults:
    def test_error_after_on_anthropic_route(self, client: httpx.Client) -> None:
        """`error_after=1` sends one event, then Anthropic's overloaded `event: error`."""
        r = client.post(
            "/s/an/text/v1/messages",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "error_after=1"},
        )
        assert r.status_code == 200
        assert r.content == _steps("an/text")[0] + ANTHROPIC_OVERLOADED

    def test_error_after_on_openai_route_is_stream_error(self, client: httpx.Client) -> None:
        """On the OpenAI route the injected anthropic error is a stream_error chunk, no [DONE]."""
        r = client.post(
            "/s/an/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "error_after=1"},
        )
        assert r.status_code == 200
        data = _sse_data(r.content)
        assert "[DONE]" not in data
        last = json.loads(data[-1])
        assert set(last) == {"error"}
        assert last["error"]["type"] == "stream_error"
        assert last["error"]["code"] == "overloaded_error"
        assert last["error"]["provider"] == "anthropic"
        assert all("error" not in json.loads(d) for d in data[:-1])

    def test_keepalive_ping_between_events(self, client: httpx.Client) -> None:
        """`keepalive_every=1, keepalive_style=ping` puts a `: ping` frame between events."""
        r = client.post(
            "/s/oa/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "keepalive_every=1, keepalive_style=ping"},
        )
        steps = _steps("oa/text")
        assert r.content == b": ping\n\n".join(steps)

    def test_anthropic_keepalive_needs_anthropic_route(self, client: httpx.Client) -> None:
        """`keepalive_style=anthropic` on the OpenAI route is an OpenAI-shaped 400."""
        r = client.post(
            "/s/oa/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "keepalive_every=1; keepalive_style=anthropic"},
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "keepalive_style 'anthropic'" in error["message"]

    def test_anthropic_keepalive_on_anthropic_route(self, client: httpx.Client) -> None:
        """`keepalive_style=anthropic` on /v1/messages inserts `event: ping` frames."""
        r = client.post(
            "/s/an/text/v1/messages",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "keepalive_every=3, keepalive_style=anthropic"},
        )
        steps = _steps("an/text")
        ping = b'event: ping\ndata: {"type": "ping"}\n\n'
        assert r.content == b"".join([*steps[:3], ping, *steps[3:6], ping, *steps[6:]])

    @pytest.mark.parametrize(
        "faults", ["keepalive_every=2", "keepalive_every=1, keepalive_style=ping"]
    )
    def test_keepalive_on_gemini_route_is_400(self, client: httpx.Client, faults: str) -> None:
        """Any keep-alive fault on a Gemini route is a Gemini-shaped 400."""
        r = client.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json={"contents": []},
            headers={"x-harness-faults": faults},
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == 400
        assert error["status"] == "INVALID_ARGUMENT"
        assert "Gemini" in error["message"]

    def test_drop_usage(self, client: httpx.Client) -> None:
        """`drop_usage=true` removes the usage-only chunk and every usage field."""
        r = client.post(
            "/s/oa/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "drop_usage=true"},
        )
        assert b"usage" not in r.content
        assert r.content == b"".join([*_steps("oa/text")[:4], b"data: [DONE]\n\n"])
        an = client.post(
            "/s/an/text/v1/messages",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "drop_usage=true"},
        )
        assert an.status_code == 200
        assert b"usage" not in an.content
        assert b"tokens" not in an.content
        assert len(_sse_data(an.content)) == 7

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (
                "/s/oa/text/v1/chat/completions",
                {"type": "requests", "code": "rate_limit_exceeded", "param": None},
            ),
            ("/s/an/text/v1/messages", {"type": "rate_limit_error"}),
            (
                "/s/gm/text/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                {"code": 429, "status": "RESOURCE_EXHAUSTED"},
            ),
        ],
    )
    def test_http_error_per_route(
        self, client: httpx.Client, path: str, expected: dict[str, Any]
    ) -> None:
        """`http_error=429, retry_after=2`: 429, retry-after 2 and the route's error shape."""
        r = client.post(
            path,
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": "http_error=429, retry_after=2"},
        )
        assert r.status_code == 429
        assert r.headers["retry-after"] == "2"
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        if "/v1/messages" in path:
            assert body["type"] == "error"
        error = body["error"]
        assert set(error) == {*expected, "message"}
        assert {k: error[k] for k in expected} == expected
        assert isinstance(error["message"], str)
        assert error["message"]

    def test_json_fault_header(self, server: RunningServer) -> None:
        """The JSON form of the fault header works like the key=value form."""
        raw = raw_post(
            server.url,
            "/s/oa/text/v1/chat/completions",
            headers={"x-harness-faults": '{"disconnect_after": 1, "chunking": "event"}'},
        )
        assert raw.chunks == _steps("oa/text")[:1]
        assert not raw.terminated

    @pytest.mark.parametrize(
        ("header", "named"),
        [("disconnect_after=x", "disconnect_after"), ("nonsense=1", "nonsense")],
    )
    def test_bad_fault_header_is_400_naming_the_key(
        self, client: httpx.Client, header: str, named: str
    ) -> None:
        """A fault header with a bad value or an unknown key is a 400 naming the key."""
        r = client.post(
            "/s/an/text/v1/messages",
            json={"model": "x", "stream": True},
            headers={"x-harness-faults": header},
        )
        assert r.status_code == 400
        body = r.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
        assert named in body["error"]["message"]


# --- 3. timing ----------------------------------------------------------------------------


class TestTiming:
    def test_recorded_pauses_at_speed_one(
        self, timed_server: RunningServer, timed_pauses: Pauses
    ) -> None:
        """delay_ms 100 and sleep_ms 250 ask for 0.1 s, then 0.35 s, then 0.1 s, between events."""
        raw = raw_post(timed_server.url, "/s/timed/v1/chat/completions")
        steps = _steps("timed")
        assert raw.chunks == steps
        assert raw.terminated
        assert timed_pauses.seconds == pytest.approx([0.1, 0.35, 0.1])
        # Each pause comes before its event: after 1, 2, then 3 events were written.
        sizes = [len(step) for step in steps]
        assert timed_pauses.sent_before == [sum(sizes[:1]), sum(sizes[:2]), sum(sizes[:3])]

    def test_speed_zero_no_pauses(self, server: RunningServer, pauses: Pauses) -> None:
        """At the default speed 0 a timed scenario asks for no pause at all."""
        raw = raw_post(server.url, "/s/timed/v1/chat/completions")
        assert raw.terminated
        assert raw.chunks == _steps("timed")
        assert pauses.seconds == []

    def test_speed_header_scales(self, timed_server: RunningServer, timed_pauses: Pauses) -> None:
        """`x-harness-speed: 0.5` halves every pause."""
        raw = raw_post(
            timed_server.url, "/s/timed/v1/chat/completions", headers={"x-harness-speed": "0.5"}
        )
        assert raw.terminated
        assert timed_pauses.seconds == pytest.approx([0.05, 0.175, 0.05])

    def test_speed_header_zero_overrides_server(
        self, timed_server: RunningServer, timed_pauses: Pauses
    ) -> None:
        """`x-harness-speed: 0` on a speed-1 server removes the pauses."""
        raw = raw_post(
            timed_server.url, "/s/timed/v1/chat/completions", headers={"x-harness-speed": "0"}
        )
        assert raw.terminated
        assert timed_pauses.seconds == []

    def test_stall_kept_at_speed_zero(self, server: RunningServer, pauses: Pauses) -> None:
        """A `stall_after=1, stall_ms=300` fault asks for 0.3 s after event 1 even at speed 0."""
        raw = raw_post(
            server.url,
            "/s/oa/text/v1/chat/completions",
            headers={"x-harness-faults": "stall_after=1, stall_ms=300"},
        )
        assert raw.chunks == _steps("oa/text")
        assert pauses.seconds == pytest.approx([0.3])
        assert pauses.sent_before == [len(_steps("oa/text")[0])]

    def test_stall_adds_to_recorded_pause(
        self, timed_server: RunningServer, timed_pauses: Pauses
    ) -> None:
        """At speed 1 a stall adds to the recorded pause before the same event."""
        raw_post(
            timed_server.url,
            "/s/timed/v1/chat/completions",
            headers={"x-harness-faults": "stall_after=2, stall_ms=300"},
        )
        assert timed_pauses.seconds == pytest.approx([0.1, 0.65, 0.1])

    def test_non_streaming_answer_pauses_once_for_the_whole_stream(
        self, timed_server: RunningServer, timed_pauses: Pauses
    ) -> None:
        """A non-streaming answer asks for one pause: the sum of the stream's pauses."""
        r = httpx.post(
            f"{timed_server.url}/s/timed/v1/chat/completions", json={"model": "x"}, timeout=5
        )
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["content"] == "onetwo"
        assert timed_pauses.seconds == pytest.approx([0.55])

    @pytest.mark.parametrize("value", ["fast", "-1", "inf", "nan"])
    def test_bad_speed_header(self, client: httpx.Client, value: str) -> None:
        """A speed header that is not a finite number >= 0 is a provider-shaped 400."""
        r = client.post(
            "/s/oa/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-speed": value},
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "x-harness-speed" in error["message"]
        assert repr(value) in error["message"]


# --- 4. selection -----------------------------------------------------------------------------


class TestSelection:
    def test_prefix_with_slash_in_name(self, client: httpx.Client) -> None:
        """/s/{name}/ selects a scenario whose name contains '/'."""
        r = client.post("/s/an/text/v1/chat/completions", json={"model": "x", "stream": True})
        assert r.status_code == 200
        assert r.headers["x-scenario"] == "an/text"

    def test_header_selects(self, client: httpx.Client) -> None:
        """The x-harness-scenario header selects a scenario."""
        r = client.post(
            "/v1/messages",
            json={"model": "claude-match-1", "stream": True},
            headers={"x-harness-scenario": "an/text"},
        )
        assert r.status_code == 200
        assert r.headers["x-scenario"] == "an/text"
        assert r.content == b"".join(_steps("an/text"))

    def test_prefix_wins_over_header(self, client: httpx.Client) -> None:
        """The path prefix is used before the x-harness-scenario header."""
        r = client.post(
            "/s/oa/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-scenario": "an/text"},
        )
        assert r.headers["x-scenario"] == "oa/text"

    @pytest.mark.parametrize(
        ("body", "chosen"),
        [
            ({"model": "gpt-glob-7", "stream": True}, "m/model"),
            ({"model": "other", "stream": True, "metadata": {"suite": "alpha", "x": 1}}, "m/body"),
            ({"model": "gpt-s", "stream": True}, "m/stream-on"),
            ({"model": "gpt-s"}, "m/stream-off"),
            ({"model": "gemini-2.5-flash", "stream": True}, "gm/text"),
        ],
    )
    def test_match_rules(self, client: httpx.Client, body: dict[str, Any], chosen: str) -> None:
        """`match` rules (model glob, body subset, stream flag) choose a scenario implicitly."""
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200
        assert r.headers["x-scenario"] == chosen

    def test_body_match_is_typed_subset(self, client: httpx.Client) -> None:
        """A body rule needs the same value and type: `alpha` does not match ["alpha"]."""
        r = client.post(
            "/v1/chat/completions",
            json={"model": "other", "stream": True, "metadata": {"suite": ["alpha"]}},
        )
        assert r.status_code == 404

    def test_scenario_without_match_never_chosen(self, client: httpx.Client) -> None:
        """On /v1/messages an anthropic scenario without `match` is not chosen implicitly."""
        matched = client.post("/v1/messages", json={"model": "claude-match-1", "stream": True})
        assert matched.status_code == 200
        assert matched.headers["x-scenario"] == "an/m"
        r = client.post("/v1/messages", json={"model": "claude-other", "stream": True})
        assert r.status_code == 404
        body = r.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "not_found_error"
        message = body["error"]["message"]
        assert "No scenario matches POST /v1/messages (model 'claude-other')" in message
        assert "x-harness-scenario" in message

    def test_no_match_names_examples(self, client: httpx.Client) -> None:
        """No match: a 404 whose message names scenarios the route could serve."""
        r = client.post("/v1/chat/completions", json={"model": "zzzz", "stream": True})
        assert r.status_code == 404
        message = r.json()["error"]["message"]
        assert message.endswith("for example: oa/text, an/text, an/m.")

    @pytest.mark.parametrize(
        ("path", "shape"),
        [
            ("/s/oa/txet/v1/chat/completions", "openai"),
            ("/s/an/txet/v1/messages", "anthropic"),
            ("/s/gm/txet/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
        ],
    )
    def test_unknown_name_404_closest(self, client: httpx.Client, path: str, shape: str) -> None:
        """An unknown scenario name is a 404 in the route's shape listing a close name."""
        r = client.post(path, json={"model": "x", "stream": True})
        assert r.status_code == 404
        body = r.json()
        if shape == "anthropic":
            assert body["type"] == "error"
            assert body["error"]["type"] == "not_found_error"
        elif shape == "gemini":
            assert body["error"]["code"] == 404
            assert body["error"]["status"] == "NOT_FOUND"
        else:
            assert body["error"]["type"] == "invalid_request_error"
        name = path.split("/")[2] + "/" + path.split("/")[3]
        close = name.replace("txet", "text")
        assert f"No scenario named {name!r}. Closest: " in body["error"]["message"]
        assert close in body["error"]["message"].split("Closest: ")[1]

    def test_unknown_name_in_header(self, client: httpx.Client) -> None:
        """An unknown x-harness-scenario is a 404 naming the closest scenario."""
        r = client.post(
            "/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-scenario": "oa/textt"},
        )
        assert r.status_code == 404
        assert "Closest: oa/text" in r.json()["error"]["message"]

    def test_openai_scenario_on_messages_is_400(self, client: httpx.Client) -> None:
        """An openai scenario on /v1/messages is an Anthropic-shaped 400 (cannot be served)."""
        r = client.post("/s/oa/text/v1/messages", json={"model": "x", "stream": True})
        assert r.status_code == 400
        body = r.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
        assert "oa/text" in body["error"]["message"]

    def test_normalize_header_on_openai_route(self, client: httpx.Client) -> None:
        """`x-harness-normalize: 1` sends an openai scenario through the pipeline (one id)."""
        raw = client.post("/s/oa/text/v1/chat/completions", json={"model": "x", "stream": True})
        ids = {json.loads(d)["id"] for d in _sse_data(raw.content) if d != "[DONE]"}
        assert ids == {"c-1", "c-2", "c-3", "c-4", "c-5"}
        r = client.post(
            "/s/oa/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-normalize": "1"},
        )
        assert r.status_code == 200
        data = _sse_data(r.content)
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        assert {c["id"] for c in chunks} == {"c-1"}
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == "Hi there"
        assert len(chunks) == 5
        assert chunks[1]["choices"][0] == {
            "index": 0,
            "delta": {"content": "Hi"},
            "logprobs": None,
            "finish_reason": None,
        }
        assert chunks[-1]["usage"] == {
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "total_tokens": 5,
        }

    def test_normalize_header_on_messages_is_400(self, client: httpx.Client) -> None:
        """`x-harness-normalize: 1` on /v1/messages is an Anthropic-shaped 400."""
        r = client.post(
            "/s/an/text/v1/messages",
            json={"model": "x", "stream": True},
            headers={"x-harness-normalize": "1"},
        )
        assert r.status_code == 400
        body = r.json()
        assert body["type"] == "error"
        assert "normalized" in body["error"]["message"]


# --- 5. sequences -----------------------------------------------------------------------------


def _seq(client: httpx.Client, test_id: str) -> int:
    r = client.post(
        "/s/seq/v1/chat/completions",
        json={"model": "x", "stream": True},
        headers={"x-harness-test-id": test_id},
    )
    if r.status_code == 429:
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
    else:
        assert r.content == b'data: {"n":1}\n\ndata: [DONE]\n\n'
    return r.status_code


class TestSequences:
    def test_responses_in_turn_last_repeats(self, client: httpx.Client, tid: str) -> None:
        """A `responses:` scenario answers 429 (with retry-after), then 200, then 200 again."""
        assert [_seq(client, tid) for _ in range(3)] == [429, 200, 200]

    def test_positions_per_test_id(self, client: httpx.Client, tid: str) -> None:
        """Each x-harness-test-id has its own position in a sequence."""
        assert _seq(client, tid + "-a") == 429
        assert _seq(client, tid + "-a") == 200
        assert _seq(client, tid + "-b") == 429
        assert _seq(client, tid + "-a") == 200

    def test_rejected_request_does_not_use_up_a_step(self, client: httpx.Client, tid: str) -> None:
        """A request answered 400 (bad fault header) leaves the sequence where it was."""
        r = client.post(
            "/s/seq/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-test-id": tid, "x-harness-faults": "nonsense=1"},
        )
        assert r.status_code == 400
        assert [_seq(client, tid) for _ in range(2)] == [429, 200]

    def test_delete_resets_only_that_test_id(self, client: httpx.Client, tid: str) -> None:
        """DELETE /_harness/requests with a test id restarts only that id's sequences."""
        a, b = tid + "-a", tid + "-b"
        for test_id in (a, a, b, b):
            _seq(client, test_id)
        r = client.delete("/_harness/requests", headers={"x-harness-test-id": a})
        assert r.status_code == 200
        assert r.json() == {"reset": a}
        assert _seq(client, a) == 429
        assert _seq(client, b) == 200
        entries = client.get("/_harness/requests", headers={"x-harness-test-id": a}).json()
        assert len(entries["requests"]) == 1
        entries = client.get("/_harness/requests", headers={"x-harness-test-id": b}).json()
        assert len(entries["requests"]) == 3


# --- 6. journal -------------------------------------------------------------------------------


def _journal(client: httpx.Client, test_id: str) -> list[dict[str, Any]]:
    r = client.get("/_harness/requests", headers={"x-harness-test-id": test_id})
    assert r.status_code == 200
    entries: list[dict[str, Any]] = r.json()["requests"]
    return entries


def _settled(client: httpx.Client, test_id: str) -> list[dict[str, Any]]:
    """The journal once no entry is pending (polled for up to ~2 s)."""
    for _ in range(40):
        entries = _journal(client, test_id)
        if entries and all(e["outcome"] != "pending" for e in entries):
            return entries
        time.sleep(0.05)
    return _journal(client, test_id)


class TestJournal:
    def test_entry_fields(self, client: httpx.Client, tid: str) -> None:
        """An entry has method, path without the prefix, scenario, body, status, outcome."""
        body = {"model": "x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        r = client.post(
            "/s/oa/text/v1/chat/completions", json=body, headers={"x-harness-test-id": tid}
        )
        assert r.status_code == 200
        [entry] = _settled(client, tid)
        assert entry["method"] == "POST"
        assert entry["path"] == "/v1/chat/completions"
        assert entry["scenario"] == "oa/text"
        assert entry["answer"] == 0
        assert entry["body"] == body
        assert entry["status"] == 200
        assert entry["outcome"] == "completed"
        assert entry["bytes_sent"] == len(r.content)
        assert entry["faults"] == ""

    def test_secrets_masked(self, client: httpx.Client, tid: str) -> None:
        """Authorization keeps only its scheme; x-api-key, x-goog-api-key and ?key= are ***."""
        client.post(
            "/s/oa/text/v1/chat/completions",
            json={"model": "x", "stream": True},
            headers={"x-harness-test-id": tid, "authorization": "Bearer sk-secret123"},
        )
        client.post(
            "/s/an/text/v1/messages",
            json={"model": "x", "stream": True},
            headers={
                "x-harness-test-id": tid,
                "x-api-key": "sk-ant-secret123",
                "api-key": "azure-secret123",
                "cookie": "session=secret123",
            },
        )
        client.post(
            "/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-secret123",
            json={"contents": []},
            headers={"x-harness-test-id": tid, "x-goog-api-key": "AIza-secret123"},
        )
        entries = _settled(client, tid)
        assert entries[0]["headers"]["authorization"] == "Bearer ***"
        assert entries[1]["headers"]["x-api-key"] == "***"
        assert entries[1]["headers"]["api-key"] == "***"
        assert entries[1]["headers"]["cookie"] == "***"
        assert entries[2]["headers"]["x-goog-api-key"] == "***"
        assert entries[2]["query"] == {"key": "***"}
        everything = client.get("/_harness/requests", params={"all": "1"}).text
        assert "secret123" not in everything
        assert "secret123" not in json.dumps(_journal(client, tid))

    def test_fault_disconnect_recorded(self, server: RunningServer, tid: str) -> None:
        """A disconnect made by a fault is recorded as `disconnected_by_fault`."""
        raw = raw_post(
            server.url,
            "/s/oa/text/v1/chat/completions",
            headers={"x-harness-test-id": tid, "x-harness-faults": "disconnect_after=1"},
        )
        assert not raw.terminated
        with httpx.Client(base_url=server.url, timeout=5) as http:
            [entry] = _settled(http, tid)
        assert entry["outcome"] == "disconnected_by_fault"
        assert entry["faults"] == "disconnect_after=1"
        assert entry["bytes_sent"] == len(_steps("oa/text")[0])

    def test_client_hang_up_recorded(self, tid: str) -> None:
        """A client closing mid-stream is `client_disconnected`; the server keeps serving."""
        scenarios = ScenarioSet([parse_scenario(SLOW, name="slow")])
        with run_server(scenarios, speed=1) as slow:  # real pauses: 0.2 s between events
            payload = json.dumps({"model": "x", "stream": True}).encode()
            request = rawhttp.request(
                "/s/slow/v1/chat/completions", payload, headers={"x-harness-test-id": tid}
            )
            with rawhttp.send(slow.url, request) as conn:
                assert conn.head().status == 200
                chunks, terminated = conn.chunks(limit=1)
                assert chunks == [b"data: first\n\n"]
                assert not terminated
            with httpx.Client(base_url=slow.url, timeout=5) as http:
                [entry] = _settled(http, tid)
                assert entry["outcome"] == "client_disconnected"
                assert entry["bytes_sent"] < len(b"data: first\n\ndata: second\n\n" * 2)
                again = http.post(
                    "/s/slow/v1/chat/completions",
                    json={"model": "x", "stream": True},
                    headers={"x-harness-speed": "0"},
                )
                assert again.status_code == 200
                assert again.content == b"data: first\n\ndata: second\n\ndata: third\n\n" + (
                    b"data: fourth\n\n"
                )

    def test_client_hang_up_during_whole_answer_recorded(self, tid: str) -> None:
        """A client leaving while a non-streaming answer waits is not left `pending`."""
        scenarios = ScenarioSet([parse_scenario(SLOW, name="slow")])
        with run_server(scenarios, speed=1) as slow:  # one real pause of 0.6 s
            payload = json.dumps({"model": "x"}).encode()
            request = rawhttp.request(
                "/s/slow/v1/chat/completions", payload, headers={"x-harness-test-id": tid}
            )
            with rawhttp.send(slow.url, request):
                for _ in range(40):  # wait until the server has the request
                    if slow.requests(tid):
                        break
                    time.sleep(0.02)
            with httpx.Client(base_url=slow.url, timeout=5) as http:
                [entry] = _settled(http, tid)
            assert entry["outcome"] in ("client_disconnected", "completed")

    def test_test_id_isolation(self, client: httpx.Client, tid: str) -> None:
        """Entries of one test id are invisible under another; ?all=1 shows both."""
        a, b = tid + "-a", tid + "-b"
        for test_id in (a, b, b):
            client.post(
                "/s/oa/text/v1/chat/completions",
                json={"model": "x", "stream": True, "who": test_id},
                headers={"x-harness-test-id": test_id},
            )
        assert [e["body"]["who"] for e in _settled(client, a)] == [a]
        assert [e["body"]["who"] for e in _settled(client, b)] == [b, b]
        everything = client.get("/_harness/requests", params={"all": "1"}).json()["requests"]
        mine = [e["body"]["who"] for e in everything if (e["body"] or {}).get("who") in (a, b)]
        assert mine == [a, b, b]

    def test_delete_all(self) -> None:
        """DELETE /_harness/requests?all=1 forgets every test id's entries and sequences."""
        with run_server(SCENARIOS) as own, httpx.Client(base_url=own.url, timeout=5) as http:
            for test_id in ("a", "b", "a"):
                assert _seq(http, test_id) in (429, 200)
            r = http.delete("/_harness/requests", params={"all": "1"})
            assert r.json() == {"reset": "all"}
            assert http.get("/_harness/requests", params={"all": "1"}).json() == {"requests": []}
            assert own.journal.test_ids() == []
            assert (_seq(http, "a"), _seq(http, "b")) == (429, 429)

    def test_rejected_request_recorded(self, client: httpx.Client, tid: str) -> None:
        """A request answered with an error is journaled as `rejected` with its status."""
        client.post(
            "/v1/chat/completions",
            content=b"{bad",
            headers={"x-harness-test-id": tid, "content-type": "application/json"},
        )
        [entry] = _settled(client, tid)
        assert entry["status"] == 400
        assert entry["outcome"] == "rejected"
        assert entry["body"] is None
        assert "not valid JSON" in entry["error"]


# --- 7. bad input ------------------------------------------------------------------------------

ROUTES = [
    ("/v1/chat/completions", "openai"),
    ("/v1/messages", "anthropic"),
    ("/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
]


def _check_shape(response: httpx.Response, status: int, family: str) -> str:
    """Assert the error body is ``family``'s shape for ``status``; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if family == "anthropic":
        assert set(body) == {"type", "error"}
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
    elif family == "gemini":
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "status"}
        assert body["error"]["code"] == status
    else:
        assert set(body) == {"error"}
        assert set(body["error"]) == {"message", "type", "param", "code"}
    message: str = body["error"]["message"]
    return message


class TestBadInput:
    @pytest.mark.parametrize(("path", "family"), ROUTES)
    def test_malformed_json(self, client: httpx.Client, path: str, family: str) -> None:
        """Malformed JSON is a 400 in the route's shape, naming line and column."""
        r = client.post(
            path, content=b'{\n  "model": }', headers={"content-type": "application/json"}
        )
        message = _check_shape(r, 400, family)
        assert "line 2 column 12" in message

    @pytest.mark.parametrize(("path", "family"), ROUTES)
    def test_json_array(self, client: httpx.Client, path: str, family: str) -> None:
        """A JSON array body is a 400 saying a JSON object is expected."""
        message = _check_shape(client.post(path, json=[1, 2]), 400, family)
        assert "must be a JSON object, got list" in message

    @pytest.mark.parametrize(("path", "family"), ROUTES)
    def test_empty_body(self, client: httpx.Client, path: str, family: str) -> None:
        """An empty body is a 400."""
        r = client.post(path, content=b"", headers={"content-type": "application/json"})
        assert "empty" in _check_shape(r, 400, family)

    @pytest.mark.parametrize(("path", "family"), ROUTES)
    def test_not_utf8(self, client: httpx.Client, path: str, family: str) -> None:
        """A body that is not UTF-8 is a 400, not a 500."""
        r = client.post(
            path, content=b'{"a": "\xff"}', headers={"content-type": "application/json"}
        )
        assert "UTF-8" in _check_shape(r, 400, family)

    @pytest.mark.parametrize(("path", "family"), ROUTES)
    def test_text_plain_is_415(self, client: httpx.Client, path: str, family: str) -> None:
        """`content-type: text/plain` is a 415."""
        # connection: close: see test_early_error_keeps_connection_usable.
        r = client.post(
            path,
            content=b'{"model": "x"}',
            headers={"content-type": "text/plain", "connection": "close"},
        )
        assert "text/plain" in _check_shape(r, 415, family)

    @pytest.mark.parametrize(("path", "family"), ROUTES)
    def test_body_over_limit_is_413(self, path: str, family: str) -> None:
        """A body over max_body is a 413 in the route's shape."""
        with ServerThread(SCENARIOS, ServerOptions(max_body=1024)) as small:
            body = {"model": "x", "pad": "a" * 2000}
            r = httpx.post(small.url + "/s/oa/text" + path, json=body, timeout=5)
            assert "1024 bytes" in _check_shape(r, 413, family)
            ok = httpx.post(small.url + "/s/oa/text/v1/chat/completions", json={"model": "x"})
            assert ok.status_code == 200

    def test_body_over_limit_journaled(self, tid: str) -> None:
        """A request refused with 413 is journaled as rejected with status 413."""
        with ServerThread(SCENARIOS, ServerOptions(max_body=1024)) as small:
            r = httpx.post(
                small.url + "/v1/chat/completions",
                json={"model": "x", "pad": "a" * 2000},
                headers={"x-harness-test-id": tid},
                timeout=5,
            )
            assert r.status_code == 413
            [entry] = small.journal.entries(tid)
            assert (entry.status, entry.outcome) == (413, "rejected")

    @pytest.mark.parametrize(
        ("path", "family"),
        [
            ("/v1/completions", "openai"),
            ("/v1/messages/count_tokens", "anthropic"),
            ("/v1beta/files", "gemini"),
            ("/v1beta/models/gemini-2.5-flash:countTokens", "gemini"),
            # Quart's default static route is off: harness serves no static folder.
            ("/static/app.js", "openai"),
        ],
    )
    def test_unknown_route_is_404(self, client: httpx.Client, path: str, family: str) -> None:
        """An unknown route is a 404 in its family's shape, listing the served routes."""
        # connection: close: see test_early_error_keeps_connection_usable.
        r = client.post(path, json={"model": "x"}, headers={"connection": "close"})
        message = _check_shape(r, 404, family)
        assert message.startswith(f"Unknown route POST {path}.")
        assert "POST /v1/chat/completions" in message

    @pytest.mark.parametrize(
        ("path", "content_type", "status"),
        [
            ("/v1/completions", "application/json", 404),
            ("/v1/messages/count_tokens", "application/json", 404),
            ("/v1/chat/completions", "text/plain", 415),
        ],
    )
    def test_early_error_keeps_connection_usable(
        self, server: RunningServer, path: str, content_type: str, status: int
    ) -> None:
        """An error sent before the body arrived says `connection: close` or keeps serving."""
        body = b'{"model": "x"}'
        request = rawhttp.request(path, body, headers={"content-type": content_type})
        head = request.removesuffix(body)
        with rawhttp.connect(server.url) as conn:
            conn.send(head)
            # The body goes only after the answer, unless the server waits for it (a fix).
            answered_early = bool(select.select([conn.sock], [], [], 1.0)[0])
            next_request = b"GET /_harness/health HTTP/1.1\r\nHost: x\r\n\r\n"
            if not answered_early:
                conn.send(body)
            got = conn.head()
            assert got.status == status
            conn.exact(int(got.headers["content-length"]))
            if got.headers.get("connection", "").lower() == "close":
                return  # the client knows not to reuse the connection
            try:
                conn.send((body if answered_early else b"") + next_request)
                again = conn.line()
            except OSError as exc:  # a reset
                again = repr(exc).encode()
            assert again == b"HTTP/1.1 200 ", (
                "the connection was closed without `connection: close`"
            )

    @pytest.mark.parametrize(("path", "family"), ROUTES)
    def test_get_on_post_route_is_405(self, client: httpx.Client, path: str, family: str) -> None:
        """GET on a POST route is a 405 in the route's shape."""
        message = _check_shape(client.get(path), 405, family)
        assert message == f"Method GET is not allowed on {path}."


# --- 8. non-streaming answers, gemini, models, health -----------------------------------------


class TestAnswers:
    def test_gemini_stream(self, client: httpx.Client) -> None:
        """:streamGenerateContent?alt=sse streams the gemini scenario's events verbatim."""
        r = client.post(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert r.headers["x-scenario"] == "gm/text"
        assert r.content == b"".join(_steps("gm/text"))

    def test_gemini_generate_content(self, client: httpx.Client) -> None:
        """:generateContent answers one aggregated GenerateContentResponse."""
        r = client.post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        [candidate] = body["candidates"]
        assert candidate["content"] == {"parts": [{"text": "Hello world"}], "role": "model"}
        assert candidate["finishReason"] == "STOP"
        assert body["usageMetadata"] == {
            "promptTokenCount": 4,
            "candidatesTokenCount": 2,
            "totalTokenCount": 6,
        }

    def test_openai_non_streaming(self, client: httpx.Client) -> None:
        """stream false on an openai stream scenario is a chat.completion with the streamed text."""
        r = client.post("/s/oa/text/v1/chat/completions", json={"model": "x", "stream": False})
        assert r.status_code == 200
        body = r.json()
        assert body["object"] == "chat.completion"
        assert body["id"] == "c-1"
        [choice] = body["choices"]
        assert choice["message"]["role"] == "assistant"
        assert choice["message"]["content"] == "Hi there"
        assert choice["finish_reason"] == "stop"
        assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}

    def test_anthropic_non_streaming(self, client: httpx.Client) -> None:
        """/v1/messages without `stream` answers a Message JSON."""
        r = client.post("/s/an/text/v1/messages", json={"model": "x", "max_tokens": 10})
        assert r.status_code == 200
        body = r.json()
        assert body["type"] == "message"
        assert body["id"] == "msg_1"
        assert body["role"] == "assistant"
        assert body["content"] == [{"type": "text", "text": "Hello world"}]
        assert body["stop_reason"] == "end_turn"
        assert body["usage"] == {"input_tokens": 5, "output_tokens": 2}

    def test_models_openai_shape(self, client: httpx.Client) -> None:
        """GET /v1/models lists the exact `match.model` names in OpenAI's list shape."""
        r = client.get("/v1/models")
        assert r.status_code == 200
        assert r.json() == {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "harness"}
                for m in ("gemini-2.5-flash", "gpt-s")
            ],
        }

    def test_models_anthropic_shape(self, client: httpx.Client) -> None:
        """GET /v1/models with anthropic-version answers Anthropic's list shape."""
        r = client.get("/v1/models", headers={"anthropic-version": "2023-06-01"})
        body = r.json()
        assert [m["id"] for m in body["data"]] == ["gemini-2.5-flash", "gpt-s"]
        assert all(m["type"] == "model" for m in body["data"])
        assert body["has_more"] is False
        assert (body["first_id"], body["last_id"]) == ("gemini-2.5-flash", "gpt-s")

    def test_health(self, client: httpx.Client) -> None:
        """GET /_harness/health says ok and how many scenarios are loaded."""
        r = client.get("/_harness/health")
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "scenarios": len(SCENARIOS)}


# --- 9. lifecycle --------------------------------------------------------------------------------


class TestLifecycle:
    def test_connectable_on_start_refused_after_stop(self) -> None:
        """ServerThread binds 127.0.0.1, answers right after start(), refuses after stop()."""
        thread = ServerThread(SCENARIOS)
        url = thread.start()
        try:
            parts = urlsplit(url)
            assert parts.hostname == "127.0.0.1"
            assert parts.port is not None
            assert parts.port > 0
            r = httpx.get(url + "/_harness/health", timeout=5)  # no retry
            assert r.status_code == 200
        finally:
            thread.stop()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", parts.port), timeout=5).close()

    def test_port_in_use_is_usage_error(self) -> None:
        """Binding a port already in use raises UsageError naming the port."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            with pytest.raises(UsageError, match=f"127.0.0.1:{port}"):
                ServerThread(SCENARIOS, port=port).start()

    def test_run_server_base_url(self) -> None:
        """run_server's base_url puts /v1 after the prefix for openai, nothing for others."""
        with run_server(SCENARIOS) as running:
            assert running.base_url("oa/text") == f"{running.url}/s/oa/text/v1"
            assert running.base_url("an/text", "anthropic") == f"{running.url}/s/an/text"
            r = httpx.post(
                running.base_url("oa/text") + "/chat/completions",
                json={"model": "x", "stream": True},
                headers={"x-harness-test-id": "lc"},
            )
            assert r.status_code == 200
            assert [e["scenario"] for e in running.requests("lc")] == ["oa/text"]


def test_plan_cache_shares_plans_and_stays_bounded() -> None:
    """Identical replays share one frozen plan; the cache evicts the oldest past its bounds."""
    s = parse_scenario("version: 1\nprovider: openai\nevents:\n  - {data: x}\n", name="c")
    cache = PlanCache(max_plans=2)
    first = cache.get(s, 0, "openai", True, False, Faults(), None)
    assert cache.get(s, 0, "openai", True, False, Faults(), None) is first
    seeded = cache.get(s, 0, "openai", True, False, Faults(chunking="random", seed=1), None)
    assert seeded is not first
    cache.get(s, 0, "openai", True, False, Faults(chunking="random", seed=2), None)  # evicts
    assert cache.get(s, 0, "openai", True, False, Faults(), None) is not first
    tiny = PlanCache(max_bytes=1)  # a plan larger than the budget is not kept
    assert tiny.get(s, 0, "openai", True, False, Faults(), None) is not tiny.get(
        s, 0, "openai", True, False, Faults(), None
    )


def test_test_id_in_the_url_isolates_an_unmodified_client(client: httpx.Client) -> None:
    """/t/{id}/s/{name}/ keeps journal and sequence per id, with no header sent."""
    for test_id, expected in (("ta", [429, 200]), ("tb", [429])):
        statuses = [
            client.post(
                f"/t/{test_id}/s/seq/v1/chat/completions", json={"stream": True}
            ).status_code
            for _ in expected
        ]
        assert statuses == expected
    journal = client.get("/t/ta/_harness/requests").json()["requests"]
    assert [(e["path"], e["status"]) for e in journal] == [
        ("/v1/chat/completions", 429),
        ("/v1/chat/completions", 200),
    ]
    assert len(client.get("/_harness/requests", params={"test_id": "tb"}).json()["requests"]) == 1


def test_cors_preflight_and_origin_header(client: httpx.Client) -> None:
    """A browser preflight through the scenario prefix is answered; answers allow any origin."""
    pre = client.options(
        "/s/seq/v1/chat/completions",
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "*"
    assert pre.headers["access-control-allow-headers"] == "authorization, content-type"
    assert "POST" in pre.headers["access-control-allow-methods"]
    post = client.post(
        "/t/cors/s/seq/v1/chat/completions", json={"stream": True}, headers={"origin": "x"}
    )
    assert post.headers["access-control-allow-origin"] == "*"


def test_journal_keeps_the_last_entries_per_test_id() -> None:
    """Past max_entries the oldest entries of a test id go; other ids keep theirs."""
    journal = Journal(max_entries=3)
    for n in range(5):
        journal.add("a", _entry(n))
    journal.add("b", _entry(0))
    assert [e.time for e in journal.entries("a")] == [2, 3, 4]
    assert len(journal.entries("b")) == 1
    assert len(journal) == 4


def _entry(n: int) -> Entry:
    return Entry(time=n, method="POST", path="/v1/chat/completions", query={}, headers={})


def test_journal_says_completed_once_the_last_byte_is_out(server: RunningServer) -> None:
    """A client that stops at [DONE] already finds the answer journaled as completed."""
    body = b'{"stream": true}'
    request = rawhttp.request("/t/done-race/s/timed/v1/chat/completions", body)
    with rawhttp.send(server.url, request) as conn:
        while b"[DONE]" not in conn.buffer:
            assert conn.fill(), conn.buffer
        assert server.requests("done-race")[-1]["outcome"] == "completed"


def test_journal_forgets_the_longest_quiet_test_id_past_max_test_ids() -> None:
    """Past max_test_ids, the id quiet the longest goes whole (entries and positions);
    an id that keeps being used stays, whatever its age."""
    scenario = parse_scenario(
        "version: 1\nname: seq\nprovider: openai\n"
        "responses:\n  - {events: [{data: {x: 1}}]}\n  - {events: [{data: {x: 2}}]}\n"
    )
    journal = Journal(max_test_ids=2)
    journal.add("old", _entry(0))
    journal.advance("old", scenario)
    journal.add("busy", _entry(0))
    journal.add("old", _entry(1))  # "old" is now the most recent; "busy" the quietest
    journal.add("new", _entry(0))
    assert set(journal.test_ids()) == {"old", "new"}
    assert journal.next_answer("old", scenario) == 1
    assert journal.positions("old") == {"seq": 1}
    journal.add("newer", _entry(0))
    assert set(journal.test_ids()) == {"new", "newer"}
    assert journal.positions("old") == {}
    assert journal.next_answer("old", scenario) == 0


@pytest.mark.parametrize(
    ("path", "reachable"),
    [
        ("/v1/chat/completions", True),
        ("/v1/messages", True),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", True),
        ("/v1/models/any:generateContent", True),
        ("/v1beta/models/*", True),  # a glob that a Gemini request can have
        ("*/messages", True),
        ("/v1/chat/completion", False),  # one letter short
        ("/v1beta/models/x:countTokens", False),
        ("/v2/*", False),
    ],
)
def test_unserved_match_paths_warns_only_on_unreachable_paths(path: str, reachable: bool) -> None:
    """A match.path no served route can have is named with the routes; literal paths are
    routed as requests, globs tried against a request to each route."""
    text = f"version: 1\nprovider: openai\nmatch: {{path: '{path}'}}\nevents: []\n"
    warnings = unserved_match_paths(ScenarioSet([parse_scenario(text, name="m")]))
    if reachable:
        assert warnings == []
    else:
        assert warnings == [
            f"scenario m: match.path {path!r} is no route harness serves, so no request can "
            "match it: " + routes_hint()
        ]


#: An argument of a werkzeug rule: <name>, <converter:name>, <converter(options):name>.
_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<options>[^)]*)\))?:)?(?P<name>\w+)>")


def _sample_arguments(rule: str) -> dict[str, Any]:
    """A value for each argument of a werkzeug rule, of its converter's kind."""
    values: dict[str, Any] = {}
    for found in _ARGUMENT.finditer(rule):
        converter, name = found.group("converter"), found.group("name")
        if converter == "int":
            values[name] = 3
        elif converter == "path":
            values[name] = "a/b:c"
        elif converter == "any":
            values[name] = found.group("options").split(",")[0].strip(" '")
        else:
            values[name] = "x-1"
    return values


def test_every_route_builds_its_url_as_werkzeug_does() -> None:
    """harness's rules compile their URL builders on first use (start-up): each builds
    the same URL as werkzeug's own rule would."""
    from quart.routing import QuartMap, QuartRule

    from harness.mock.app import create_app

    assert hasattr(QuartRule, "_compile_builder")  # what harness's rule class defers
    app = create_app(ScenarioSet([]), ServerOptions())
    plain = QuartMap(merge_slashes=False)
    for rule in app.url_map.iter_rules():
        assert type(rule) is not QuartRule  # harness's own rule class is in use
        plain.add(QuartRule(rule.rule, endpoint=rule.endpoint, methods=rule.methods))
    ours, theirs = app.url_map.bind("localhost"), plain.bind("localhost")
    built = 0
    for rule in app.url_map.iter_rules():
        values = _sample_arguments(rule.rule)
        for method in sorted(rule.methods or ()):
            url = ours.build(rule.endpoint, values, method=method)
            assert url == theirs.build(rule.endpoint, values, method=method)
            assert ours.build(rule.endpoint, {**values, "q": "1"}, method=method) == (
                theirs.build(rule.endpoint, {**values, "q": "1"}, method=method)
            )
            built += 1
    assert built > 50
