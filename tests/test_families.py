"""The hub: API families, outputs, renderers and error shapes are registries.

The main test adds an API family the way a later issue will (a family object, an
output entry, an error-shape entry; no existing family module touched) and serves a
recorded stream through it over a real socket.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import httpx
import pytest

from harness import Normalizer, normalize
from harness.errors import UsageError
from harness.mock import families
from harness.mock.families import FAMILIES, ApiFamily, family_of_path, get_family, routes_hint
from harness.mock.journal import Entry, Journal
from harness.mock.scenario import ScenarioSet, load_scenarios, parse_scenario
from harness.stream.aggregate import openai_completion
from harness.stream.outputs import OUTPUTS, Output
from harness.stream.provider_errors import ERROR_SHAPES, ErrorShape, error_body
from harness.stream.renderers import RENDERERS
from harness.testing import run_server
from tests.streams import anthropic_text


@dataclass(frozen=True)
class _Echo(ApiFamily):
    def owns(self, path: str) -> bool:
        return path.startswith("/echo/")


#: A made-up API: OpenAI chunks at its own path, with its own error shape.
ECHO = _Echo(
    name="echo",  # type: ignore[arg-type]
    label="Echo",
    rules=("/echo/v9/complete",),
    hint="POST /echo/v9/complete",
)


def _echo_body(status: int, text: str, type: str | None) -> dict[str, object]:
    return {"echo_error": {"status": status, "text": text, "kind": type}}


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> ApiFamily:
    """The echo family registered (for this test only) in the three registries."""
    output = Output("echo", "openai", "openai-chat", openai_completion)  # type: ignore[arg-type]
    shape = ErrorShape(_echo_body, ERROR_SHAPES["openai"].in_stream, "echo")
    monkeypatch.setattr(families, "FAMILIES", (*FAMILIES, ECHO))
    monkeypatch.setitem(OUTPUTS, "echo", output)
    monkeypatch.setitem(ERROR_SHAPES, "echo", shape)
    return ECHO


def test_a_new_family_is_served_without_touching_the_others(echo: ApiFamily) -> None:
    """Registered families, outputs and error shapes are all an app needs: the new route
    streams any provider's scenario rendered as its output says, answers whole, gets its
    own error shape, is journaled under its name and named in the 404 hint."""
    scenarios = load_scenarios()
    with run_server(scenarios) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        streamed = http.post(
            "/t/echo/s/anthropic/text/echo/v9/complete", json={"model": "m", "stream": True}
        )
        via_openai = http.post(
            "/t/other/s/anthropic/text/v1/chat/completions", json={"model": "m", "stream": True}
        )
        whole = http.post("/t/echo/s/anthropic/text/echo/v9/complete", json={"model": "m"})
        missing = http.post("/t/echo/s/no-such/echo/v9/complete", json={"model": "m"})
        unknown = http.post("/echo/v9/nothing-here", json={})
        entries = server.entries("echo")
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    # The same renderer as the OpenAI route: the same bytes but for the volatile created.
    assert _without_created(streamed.content) == _without_created(via_openai.content)
    assert whole.json()["object"] == "chat.completion"
    assert missing.status_code == 404
    assert missing.json()["echo_error"]["status"] == 404
    assert unknown.status_code == 404
    assert "POST /echo/v9/complete" in unknown.json()["echo_error"]["text"]
    assert [(e.family, e.status) for e in entries] == [("echo", 200), ("echo", 200), ("echo", 404)]
    assert "POST /echo/v9/complete" in routes_hint()
    assert family_of_path("/echo/v9/x") is echo


def _without_created(stream: bytes) -> list[object]:
    out: list[object] = []
    for line in stream.decode().split("\n"):
        if line.startswith("data: {"):
            chunk = json.loads(line[6:])
            chunk.pop("created", None)
            out.append(chunk)
        else:
            out.append(line)
    return out


def test_a_family_that_renders_no_other_provider_refuses_their_scenarios() -> None:
    """The Anthropic route replays Anthropic scenarios only: its output has no renderer."""
    anthropic = get_family("anthropic")
    assert anthropic.output.renderer is None
    assert anthropic.output.replays("anthropic")
    assert not anthropic.output.replays("gemini")
    assert get_family("openai").output.replays("gemini")


def test_unknown_family_and_renderer_say_what_exists() -> None:
    served = ", ".join(family.name for family in FAMILIES)
    assert served.startswith("openai, openai-responses, anthropic, gemini, azure")
    with pytest.raises(UsageError) as family:
        get_family("nope")
    assert str(family.value) == f"unknown family 'nope'; expected one of {served}"
    with pytest.raises(UsageError) as renderer:
        Normalizer("openai", renderer="nope")
    expected = (
        "unknown renderer 'nope'; known renderers: bedrock-converse, openai-chat, openai-responses"
    )
    assert str(renderer.value) == expected


def test_the_default_renderer_is_the_registered_openai_chat_one() -> None:
    stream = anthropic_text("hello")
    assert list(normalize("anthropic", [stream], renderer="openai-chat")) == list(
        normalize("anthropic", [stream])
    )
    assert set(RENDERERS) == {"openai-chat", "openai-responses", "bedrock-converse"}


def test_each_family_has_an_output_and_an_error_shape() -> None:
    for family in FAMILIES:
        assert family.output.family == family.name
        assert error_body(family.name, 429)  # an entry in ERROR_SHAPES


def test_journal_reads_and_writes_from_many_threads() -> None:
    """Writers on one side, readers and resets on the other: no error, counts add up."""
    journal = Journal(max_entries=100_000)
    scenario = parse_scenario("version: 1\nname: s\nprovider: openai\nevents: [{data: x}]\n")
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(test_id: str) -> None:
        for n in range(2000):
            entry = journal.add(test_id, Entry(n, "POST", "/p", {}, {}))
            entry.status = 200
            journal.advance(test_id, scenario)

    def read() -> None:
        try:
            while not stop.is_set():
                for entry in journal.entries(None):
                    assert entry.method == "POST"
                journal.positions("w0")
                len(journal)
                journal.reset("gone")
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(3)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert len(journal) == 6000
    assert journal.positions("w0") == {"s": 2000}
    assert [e.time for e in journal.entries("w1")] == list(range(2000))


def test_a_gemini_path_without_a_model_selects_by_the_body_model() -> None:
    """POST /v1beta/models/:generateContent names no model: the body's one selects (as
    in 0.1: a family reads the path first, then the body)."""
    scenario = parse_scenario(
        "version: 1\nname: by-body\nprovider: gemini\nmatch: {model: body-model}\n"
        'events:\n  - {data: {candidates: [{content: {parts: [{text: "hi"}], role: model},'
        " finishReason: STOP}]}}\n"
    )
    with run_server(ScenarioSet([scenario])) as server:
        answer = httpx.post(
            server.url + "/v1beta/models/:generateContent",
            json={"model": "body-model", "contents": []},
            timeout=10,
        )
        other = httpx.post(
            server.url + "/v1beta/models/:generateContent",
            json={"model": "other", "contents": []},
            timeout=10,
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["candidates"][0]["content"]["parts"] == [{"text": "hi"}]
    assert other.status_code == 404
    assert "(model 'other')" in other.json()["error"]["message"]


def test_an_unknown_error_shape_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no error shape for family 'nope'"):
        error_body("nope", 500)  # type: ignore[arg-type]
