"""Vertex AI's routes over a real socket: Gemini and Claude as Google Cloud serves them.

The SDKs as an application sets them up for Vertex, pointed at the server (no network,
no Google credentials looked up): ``anthropic.AnthropicVertex`` (streamRawPredict,
rawPredict) on Anthropic scenarios, ``google.genai.Client(vertexai=True)``
(streamGenerateContent, generateContent) on Gemini scenarios, compared with each
scenario's ``expect`` as ``test_sdk_conformance`` does on the non-Vertex routes; the
faults must behave as the table (``tests/sdk_behaviour.py``) says they do there. Then the
routes at the HTTP level: model ids, prefixes, the bearer token, error shapes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from google.oauth2.credentials import Credentials

from harness.mock.families import family_of_path, get_family, reachable, routes_hint
from harness.mock.scenario import Scenario, ScenarioSet, load_scenarios, parse_scenario
from harness.stream.provider_errors import error_body, stream_error_event
from harness.testing import RunningServer, run_server
from tests import sdk_behaviour
from tests.test_sdk_conformance import (
    ANTHROPIC_STOP,
    MESSAGES,
    SCENARIOS,
    Seen,
    _anthropic_usage,
    _expect,
    _gemini_finish,
    _select,
    _take_gemini,
    assert_answer,
    fault_kind,
    read_anthropic,
)

PROJECT, CLAUDE_REGION, GEMINI_REGION = "my-project", "us-east5", "us-central1"
CLAUDE_MODEL = "claude-sonnet-4@20250514"  # Vertex names Claude versions with an @
GEMINI_MODEL = "gemini-2.5-flash"
CLAUDE_PATH = f"/v1/projects/{PROJECT}/locations/{CLAUDE_REGION}/publishers/anthropic/models"
GEMINI_PATH = f"/v1beta1/projects/{PROJECT}/locations/{GEMINI_REGION}/publishers/google/models"
TOKEN = "ya29.vertex-access-token-not-a-real-one"

BY_NAME = {s.name: s for s in SCENARIOS}

#: A Claude scenario that only a request for the @-versioned model selects.
VERSIONED = parse_scenario(
    "version: 1\nname: vertex-versioned\nprovider: anthropic\n"
    "match: {model: 'claude-opus-4@20250514'}\nbody: {id: m1, type: message, role: assistant, "
    "model: claude-opus-4, content: [{type: text, text: versioned}], stop_reason: end_turn, "
    "stop_sequence: null, usage: {input_tokens: 1, output_tokens: 1}}\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_server(ScenarioSet([*load_scenarios(), VERSIONED])) as running:
        yield running


# --- anthropic.AnthropicVertex ----------------------------------------------------------


def _claude_options(base_url: str) -> dict[str, Any]:
    # base_url replaces https://{region}-aiplatform.googleapis.com/v1; access_token means
    # no google-auth lookup; region and project_id go into the path.
    return {
        "region": CLAUDE_REGION,
        "project_id": PROJECT,
        "access_token": TOKEN,
        "base_url": base_url,
        "max_retries": 0,
    }


def stream_claude(base_url: str, mode: str, api: str) -> Seen:
    """Stream one message with AnthropicVertex: raw events or the messages.stream helper."""
    options = _claude_options(base_url)
    return read_anthropic(
        lambda: anthropic.AnthropicVertex(**options),
        lambda: anthropic.AsyncAnthropicVertex(**options),
        CLAUDE_MODEL,
        mode,
        api,
    )


CLAUDE_RUNS = pytest.mark.parametrize(
    ("mode", "api"), [("sync", "helper"), ("sync", "events"), ("async", "helper")]
)


@CLAUDE_RUNS
@pytest.mark.parametrize("name", ["anthropic/text", "anthropic/tool-calls-parallel"])
def test_anthropic_vertex_streams_a_scenario_as_expect_says(
    server: RunningServer, name: str, mode: str, api: str
) -> None:
    test_id = str(uuid.uuid4())
    url = server.base_url(name, "vertex-anthropic", test_id=test_id)
    seen = stream_claude(url, mode, api)
    assert_answer(seen, _expect(BY_NAME[name]))
    [entry] = server.entries(test_id)
    assert (entry.family, entry.scenario, entry.status) == ("vertex-anthropic", name, 200)
    assert entry.path == f"{CLAUDE_PATH}/{CLAUDE_MODEL}:streamRawPredict"
    assert entry.headers["authorization"] == "Bearer ***"
    assert entry.body is not None
    assert isinstance(entry.body["anthropic_version"], str)  # in the body, not a header
    assert "anthropic-version" not in entry.headers
    assert "model" not in entry.body


@CLAUDE_RUNS
@pytest.mark.parametrize("name", [s.name for s in _select("anthropic", kind="fault")])
def test_anthropic_vertex_meets_a_broken_stream_as_on_the_anthropic_route(
    server: RunningServer, name: str, mode: str, api: str
) -> None:
    """In-band error, clean and abrupt cuts: the table's row for the anthropic SDK holds."""
    scenario = BY_NAME[name]
    expect = _expect(scenario)
    assert expect.error is not None
    kind = fault_kind(scenario)
    assert kind is not None
    seen = stream_claude(server.base_url(scenario.name, "vertex-anthropic"), mode, api)
    assert seen.text == expect.text
    assert seen.finish_reason is None
    assert "message_stop" not in seen.events
    sdk_behaviour.check("anthropic", kind, f"{scenario.name} vertex {mode}-{api}", seen.error)
    if kind == "in_band":
        assert isinstance(seen.error, anthropic.APIStatusError)
        assert isinstance(seen.error.body, dict)
        assert seen.error.body["error"]["type"] == expect.error.code


@pytest.mark.parametrize("name", ["anthropic/http-529", "anthropic/http-429"])
def test_anthropic_vertex_raises_the_status_of_an_http_error(
    server: RunningServer, name: str
) -> None:
    status = _expect(BY_NAME[name]).error.status  # type: ignore[union-attr]
    seen = stream_claude(server.base_url(name, "vertex-anthropic"), "sync", "helper")
    sdk_behaviour.check("anthropic", f"http_{status}", f"{name} vertex", seen.error)
    assert isinstance(seen.error, anthropic.APIStatusError)
    assert seen.error.status_code == status
    assert isinstance(seen.error.body, dict)
    assert seen.error.body["type"] == "error"  # Anthropic's shape, passed through


def test_anthropic_vertex_create_without_stream_gets_the_whole_message(
    server: RunningServer,
) -> None:
    test_id = str(uuid.uuid4())
    url = server.base_url("anthropic/text", "vertex-anthropic", test_id=test_id)
    with anthropic.AnthropicVertex(**_claude_options(url)) as client:
        message = client.messages.create(model=CLAUDE_MODEL, max_tokens=1024, messages=MESSAGES)
    seen = Seen(text="".join(b.text for b in message.content if b.type == "text"))
    seen.finish_reason = ANTHROPIC_STOP[message.stop_reason]
    seen.usage = _anthropic_usage(message.usage.model_dump(exclude_none=True))
    assert_answer(seen, _expect(BY_NAME["anthropic/text"]))
    [entry] = server.entries(test_id)
    assert entry.path.endswith(f"/{CLAUDE_MODEL}:rawPredict")


def test_anthropic_vertex_selects_by_the_versioned_model_in_the_path(
    server: RunningServer,
) -> None:
    """No prefix: the @-versioned model in the path selects the scenario that names it."""
    with anthropic.AnthropicVertex(**_claude_options(server.url + "/v1")) as client:
        message = client.messages.create(
            model="claude-opus-4@20250514", max_tokens=10, messages=MESSAGES
        )
    assert [b.text for b in message.content if b.type == "text"] == ["versioned"]


# --- google-genai with vertexai=True ----------------------------------------------------


def _vertex_genai(base_url: str) -> genai.Client:
    # A static OAuth token: google-genai sends it as a bearer token and never refreshes
    # it (not expired); project and location go into the path, under v1beta1.
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=GEMINI_REGION,
        credentials=Credentials(token=TOKEN),
        http_options=genai_types.HttpOptions(base_url=base_url),
    )


def stream_vertex_gemini(base_url: str, mode: str) -> Seen:
    seen = Seen()
    finish: list[Any] = []
    if mode == "sync":
        with _vertex_genai(base_url) as client:
            try:
                for response in client.models.generate_content_stream(
                    model=GEMINI_MODEL, contents="hi"
                ):
                    _take_gemini(seen, response, finish)
            except Exception as exc:
                seen.error = exc
    else:

        async def main() -> None:
            async with _vertex_genai(base_url).aio as client:
                try:
                    async for response in await client.models.generate_content_stream(
                        model=GEMINI_MODEL, contents="hi"
                    ):
                        _take_gemini(seen, response, finish)
                except Exception as exc:
                    seen.error = exc

        asyncio.run(main())
    seen.finish_reason = _gemini_finish(seen, finish)
    return seen


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


@MODES
@pytest.mark.parametrize("name", ["gemini/text", "gemini/tool-calls-parallel"])
def test_genai_on_vertex_streams_a_scenario_as_expect_says(
    server: RunningServer, name: str, mode: str
) -> None:
    test_id = str(uuid.uuid4())
    seen = stream_vertex_gemini(server.base_url(name, "vertex-gemini", test_id=test_id), mode)
    assert_answer(seen, _expect(BY_NAME[name]))
    [entry] = server.entries(test_id)
    assert (entry.family, entry.scenario, entry.status) == ("vertex-gemini", name, 200)
    assert entry.path == f"{GEMINI_PATH}/{GEMINI_MODEL}:streamGenerateContent"
    assert entry.query == {"alt": "sse"}
    assert entry.headers["authorization"] == "Bearer ***"


@MODES
@pytest.mark.parametrize("name", [s.name for s in _select("gemini", kind="fault")])
def test_genai_on_vertex_meets_a_broken_stream_as_on_the_gemini_route(
    server: RunningServer, name: str, mode: str
) -> None:
    """In-band error, clean and abrupt cuts: the table's row for google-genai holds."""
    scenario = BY_NAME[name]
    expect = _expect(scenario)
    assert expect.error is not None
    kind = fault_kind(scenario)
    assert kind is not None
    seen = stream_vertex_gemini(server.base_url(scenario.name, "vertex-gemini"), mode)
    assert seen.text == expect.text
    assert seen.finish_reason is None
    sdk_behaviour.check("google-genai", kind, f"{scenario.name} vertex {mode}", seen.error)
    if kind == "in_band":
        assert isinstance(seen.error, genai_errors.APIError)
        assert seen.error.status == expect.error.code


@MODES
def test_genai_on_vertex_raises_the_status_of_an_http_error(
    server: RunningServer, mode: str
) -> None:
    scenario = BY_NAME["gemini/http-503"]
    status = _expect(scenario).error.status  # type: ignore[union-attr]
    test_id = str(uuid.uuid4())
    seen = stream_vertex_gemini(
        server.base_url(scenario.name, "vertex-gemini", test_id=test_id), mode
    )
    sdk_behaviour.check("google-genai", f"http_{status}", f"{scenario.name} vertex", seen.error)
    assert type(seen.error) is genai_errors.ServerError
    assert seen.error.code == status
    body = scenario.answers[-1].body
    assert isinstance(body, dict)
    assert seen.error.status == body["error"]["status"]
    assert [entry.status for entry in server.entries(test_id)] == [status]  # no retry


def test_genai_on_vertex_generate_content_gets_the_whole_response(
    server: RunningServer,
) -> None:
    test_id = str(uuid.uuid4())
    seen = Seen()
    finish: list[Any] = []
    with _vertex_genai(server.base_url("gemini/text", "vertex-gemini", test_id=test_id)) as client:
        _take_gemini(
            seen, client.models.generate_content(model=GEMINI_MODEL, contents="hi"), finish
        )
    seen.finish_reason = _gemini_finish(seen, finish)
    assert_answer(seen, _expect(BY_NAME["gemini/text"]))
    [entry] = server.entries(test_id)
    assert entry.path == f"{GEMINI_PATH}/{GEMINI_MODEL}:generateContent"


# --- HTTP level ---------------------------------------------------------------------------


def _post(server: RunningServer, path: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("json", {"anthropic_version": "vertex-2023-10-16", "messages": []})
    return httpx.post(server.url + path, timeout=10, **kwargs)


@pytest.mark.parametrize(
    ("route", "plain"),
    [
        (
            f"{GEMINI_PATH}/{GEMINI_MODEL}:streamGenerateContent?alt=sse",
            "/v1beta/models/m:streamGenerateContent?alt=sse",
        ),
        (f"{GEMINI_PATH}/{GEMINI_MODEL}:generateContent", "/v1beta/models/m:generateContent"),
        (
            f"{GEMINI_PATH.replace('v1beta1', 'v1')}/m:generateContent",
            "/v1beta/models/m:generateContent",
        ),
    ],
)
def test_gemini_on_vertex_sends_what_the_gemini_route_sends(
    server: RunningServer, route: str, plain: str
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    vertex = _post(server, "/s/gemini/tool-calls-parallel" + route, json=body)
    gemini = _post(server, "/s/gemini/tool-calls-parallel" + plain, json=body)
    assert vertex.status_code == gemini.status_code == 200
    assert vertex.headers["content-type"] == gemini.headers["content-type"]
    assert vertex.content == gemini.content


@pytest.mark.parametrize("action", ["streamRawPredict", "rawPredict"])
def test_claude_on_vertex_sends_what_the_anthropic_route_sends(
    server: RunningServer, action: str
) -> None:
    vertex = _post(server, f"/s/anthropic/tool-calls-parallel{CLAUDE_PATH}/m:{action}")
    plain = _post(
        server,
        "/s/anthropic/tool-calls-parallel/v1/messages",
        json={"model": "m", "messages": [], "stream": action == "streamRawPredict"},
    )
    assert vertex.status_code == plain.status_code == 200
    assert vertex.headers["content-type"] == plain.headers["content-type"]
    assert vertex.content == plain.content


def test_the_action_decides_the_stream_not_the_body(server: RunningServer) -> None:
    body = {"anthropic_version": "vertex-2023-10-16", "messages": [], "stream": True}
    whole = _post(server, f"/s/anthropic/text{CLAUDE_PATH}/m:rawPredict", json=body)
    assert whole.headers["content-type"] == "application/json"
    assert whole.json()["type"] == "message"
    streamed = _post(server, f"/s/anthropic/text{CLAUDE_PATH}/m:streamRawPredict")
    assert streamed.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize(
    ("sent", "model"),
    [
        ("claude-opus-4@20250514", "claude-opus-4@20250514"),
        ("claude-opus-4%4020250514", "claude-opus-4@20250514"),
        ("claude%2Dopus-4%4020250514", "claude-opus-4@20250514"),
        ("publisher:model@1", "publisher:model@1"),
        ("a%3Ab", "a:b"),
    ],
)
def test_model_ids_with_at_colon_and_percent_encoding(
    server: RunningServer, sent: str, model: str
) -> None:
    """The model is everything before the last ':' of the last part, decoded."""
    test_id = f"vx-model-{uuid.uuid4()}"
    answer = _post(server, f"/t/{test_id}{CLAUDE_PATH}/{sent}:rawPredict")
    if model == "claude-opus-4@20250514":
        assert answer.status_code == 200, answer.text
        assert answer.json()["content"][0]["text"] == "versioned"
    else:
        assert answer.status_code == 404
        assert f"(model {model!r})" in answer.json()["error"]["message"]
    [entry] = server.entries(test_id)
    assert entry.path == f"{CLAUDE_PATH}/{model}:rawPredict"
    assert entry.family == "vertex-anthropic"


@pytest.mark.parametrize(
    ("path", "family", "scenario"),
    [
        (f"{CLAUDE_PATH}/m:streamRawPredict", "vertex-anthropic", "anthropic/text"),
        (
            f"{CLAUDE_PATH.replace('/v1/', '/v1beta1/')}/m:rawPredict",
            "vertex-anthropic",
            "anthropic/text",
        ),
        (f"{GEMINI_PATH}/m:streamGenerateContent?alt=sse", "vertex-gemini", "gemini/text"),
        (
            f"{GEMINI_PATH.replace('/v1beta1/', '/v1/')}/m:generateContent",
            "vertex-gemini",
            "gemini/text",
        ),
    ],
)
def test_every_vertex_path_serves_behind_the_prefixes(
    server: RunningServer, path: str, family: str, scenario: str
) -> None:
    test_id = f"vx-{uuid.uuid4()}"
    answer = _post(
        server, f"/t/{test_id}/s/{scenario}{path}", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 200, answer.text
    [entry] = server.entries(test_id)
    assert (entry.family, entry.scenario) == (family, scenario)
    assert entry.headers["authorization"] == "Bearer ***"
    assert TOKEN not in str(server.requests(test_id))


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        (f"/s/no-such{CLAUDE_PATH}/m:rawPredict", "anthropic"),
        (f"/s/no-such{GEMINI_PATH}/m:generateContent", "gemini"),  # v1beta1 ends the name
        (f"/s/no/such{GEMINI_PATH}/m:generateContent", "gemini"),
    ],
)
def test_an_unknown_scenario_on_a_vertex_path_gets_its_404(
    server: RunningServer, path: str, shape: str
) -> None:
    answer = _post(server, path)
    assert answer.status_code == 404
    body = answer.json()
    message = body["error"]["message"]
    assert "No scenario named 'no" in message
    assert body == error_body(shape, 404, message)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        (f"{CLAUDE_PATH}/m:countTokens", "anthropic"),
        (f"{CLAUDE_PATH}/m", "anthropic"),
        (f"{GEMINI_PATH}/m:countTokens", "gemini"),
        (f"{GEMINI_PATH}/m:streamRawPredict", "gemini"),
        ("/v1/projects/p/locations/l/publishers/meta/models/m:rawPredict", "gemini"),
        ("/v2/projects/p/locations/l/publishers/google/models/m:generateContent", "gemini"),
        (f"{CLAUDE_PATH.replace('/v1/', '/v2/')}/m:rawPredict", "openai"),
    ],
)
def test_an_unknown_vertex_path_gets_the_error_shape_of_its_publisher(
    server: RunningServer, path: str, shape: str
) -> None:
    answer = _post(server, path)
    assert answer.status_code == 404
    body = answer.json()
    message = body["error"]["message"]
    assert message.startswith(f"Unknown route POST {path}")
    assert body == error_body(shape, 404, message)  # type: ignore[arg-type]
    assert "publishers/anthropic/models/{model}:streamRawPredict and :rawPredict" in message
    assert "publishers/google/models/{model}:streamGenerateContent" in message


def test_a_gemini_scenario_on_the_claude_route_is_refused_as_on_the_anthropic_route(
    server: RunningServer,
) -> None:
    vertex = _post(server, f"/s/gemini/text{CLAUDE_PATH}/m:streamRawPredict")
    plain = _post(server, "/s/gemini/text/v1/messages", json={"model": "m", "stream": True})
    assert vertex.status_code == plain.status_code == 400
    assert (
        vertex.json()["error"]["type"] == plain.json()["error"]["type"] == "invalid_request_error"
    )
    claude_on_gemini = _post(server, f"/s/anthropic/text{GEMINI_PATH}/m:generateContent")
    assert claude_on_gemini.status_code == 400
    assert claude_on_gemini.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_keep_alive_faults_are_refused_on_gemini_on_vertex(server: RunningServer) -> None:
    answer = _post(
        server,
        f"/s/gemini/text{GEMINI_PATH}/m:streamGenerateContent",
        headers={"x-harness-faults": "keepalive_every=1"},
    )
    assert answer.status_code == 400
    assert "keep-alive faults cannot apply to a Gemini stream" in answer.json()["error"]["message"]


def test_an_injected_error_takes_the_publisher_shape(server: RunningServer) -> None:
    claude = _post(
        server,
        f"/s/anthropic/text{CLAUDE_PATH}/m:streamRawPredict",
        headers={"x-harness-faults": "error_after=2"},
    )
    assert claude.status_code == 200
    name, data = stream_error_event("vertex-anthropic")
    assert (name, data) == stream_error_event("anthropic")
    assert f"event: {name}\ndata: {data}" in claude.text
    gemini = _post(
        server,
        f"/s/gemini/text{GEMINI_PATH}/m:generateContent",
        headers={"x-harness-faults": "http_error=429"},
    )
    assert gemini.status_code == 429
    assert gemini.json() == error_body("gemini", 429)


# --- the registry -------------------------------------------------------------------------


def test_vertex_families_reuse_the_gemini_and_anthropic_outputs() -> None:
    for vertex, plain in (("vertex-gemini", "gemini"), ("vertex-anthropic", "anthropic")):
        family, other = get_family(vertex), get_family(plain)
        assert family.output.provider == other.output.provider == plain
        assert family.output.renderer is None
        assert family.output.answer is other.output.answer
        assert family.output.no_keepalive == other.output.no_keepalive
        assert error_body(vertex, 503) == error_body(plain, 503)  # type: ignore[arg-type]
        assert not family.listed
    assert family_of_path(f"{CLAUDE_PATH}/m:x").name == "vertex-anthropic"
    assert family_of_path(f"{GEMINI_PATH}/m:x").name == "vertex-gemini"
    assert "v1beta1" in get_family("vertex-gemini").roots()
    assert "publishers/google/models/{model}:streamGenerateContent" in routes_hint()


def test_match_path_globs_reach_the_vertex_routes() -> None:
    assert reachable("*/publishers/anthropic/models/*:streamRawPredict", None)
    assert reachable("/v1/*/publishers/google/models/gemini-2.5-flash:*", "gemini-2.5-flash")
    assert reachable(f"{CLAUDE_PATH}/m:rawPredict", None)
    assert reachable(f"{GEMINI_PATH}/m:streamGenerateContent", None)
    assert not reachable(f"{CLAUDE_PATH}/m:countTokens", None)
    assert not reachable("/v1/projects/p/locations/l/publishers/meta/models/m:rawPredict", None)


def test_each_vertex_family_replays_its_publishers_scenarios_only() -> None:
    gemini: Scenario = BY_NAME["gemini/text"]
    claude: Scenario = BY_NAME["anthropic/text"]
    assert get_family("vertex-gemini").output.replays(gemini.provider)
    assert not get_family("vertex-gemini").output.replays(claude.provider)
    assert get_family("vertex-anthropic").output.replays(claude.provider)
    assert not get_family("vertex-anthropic").output.replays(gemini.provider)
