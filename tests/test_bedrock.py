"""Amazon Bedrock's Claude routes over a real socket: InvokeModelWithResponseStream and
InvokeModel as boto3 and ``anthropic.AnthropicBedrock`` call them.

The clients are pointed at the server (loopback, dummy AWS keys: SigV4 signs, nothing
checks it). The stream is Anthropic's events re-framed as AWS event-stream messages
(``harness.stream.bedrock``); an Anthropic ``error`` event becomes an exception message,
which botocore raises as ``EventStreamError`` and AnthropicBedrock turns back into an
``event: error`` (anthropic-sdk-python #1472: the first frame an exception).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from harness import _json
from harness.mock.families import family_of_path, get_family, reachable, routes_hint
from harness.mock.replay import build_plan
from harness.mock.scenario import Faults, Scenario, ScenarioSet, load_scenarios, parse_scenario
from harness.secrets import DEFAULT_HEADERS
from harness.stream.bedrock import EXCEPTION_TYPES, BedrockFramer, bedrock_message
from harness.stream.eventstream import EventStreamDecoder
from harness.stream.provider_errors import error_body, error_headers
from harness.stream.sse import ServerSentEvent, SSEDecoder
from harness.testing import RunningServer, run_server
from tests import sdk_behaviour
from tests.test_sdk_conformance import (
    ANTHROPIC_STOP,
    MESSAGES,
    SCENARIOS,
    Seen,
    _anthropic_usage,
    _expect,
    assert_answer,
    read_anthropic,
)

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1024, "messages": MESSAGES}
BY_NAME = {s.name: s for s in SCENARIOS}
ERRORTYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

#: A Claude scenario that only a request for this model id (with its ':') selects.
VERSIONED = parse_scenario(
    "version: 1\nname: bedrock-versioned\nprovider: anthropic\n"
    "match: {model: 'anthropic.claude-v2:1'}\nbody: {id: m1, type: message, role: assistant, "
    "model: claude-2, content: [{type: text, text: versioned}], stop_reason: end_turn, "
    "stop_sequence: null, usage: {input_tokens: 1, output_tokens: 1}}\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_server(ScenarioSet([*load_scenarios(), VERSIONED])) as running:
        yield running


def _root(server: RunningServer, scenario: str | None = None, test_id: str = "") -> str:
    return server.base_url(scenario, "bedrock-anthropic", test_id=test_id)


_CLIENTS: list[Any] = []
_STREAMS: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close every boto3 stream and client a test opened (no socket left to the GC)."""
    yield
    while _STREAMS:
        _STREAMS.pop().close()
    while _CLIENTS:
        _CLIENTS.pop().close()


def _boto(endpoint: str, **extra: Any) -> Any:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIAHARNESSFAKE00000",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
        **extra,
    )
    original = client.invoke_model_with_response_stream

    def invoke_stream(**kwargs: Any) -> Any:
        response = original(**kwargs)
        _STREAMS.append(response["body"])
        return response

    client.invoke_model_with_response_stream = invoke_stream
    _CLIENTS.append(client)
    return client


def _events(scenario: Scenario) -> list[Any]:
    return [
        json.loads(step.data) if isinstance(step.data, str) else step.data
        for step in scenario.answers[-1].events or []
        if step.data is not None
    ]


def _stream_boto(endpoint: str) -> tuple[list[Any], BaseException | None]:
    """The JSON events of the chunks boto3 yields, and what it raised."""
    seen: list[Any] = []
    try:
        response = _boto(endpoint).invoke_model_with_response_stream(
            modelId=MODEL, body=json.dumps(BODY)
        )
        seen.extend(json.loads(event["chunk"]["bytes"]) for event in response["body"])
    except Exception as exc:
        return seen, exc
    return seen, None


# --- boto3 -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["anthropic/text", "anthropic/tool-calls-parallel"])
def test_boto3_streams_the_scenarios_events_as_chunks(server: RunningServer, name: str) -> None:
    test_id = str(uuid.uuid4())
    seen, error = _stream_boto(_root(server, name, test_id))
    assert error is None
    assert seen == _events(BY_NAME[name])
    [entry] = server.entries(test_id)
    assert (entry.family, entry.scenario, entry.status) == ("bedrock-anthropic", name, 200)
    assert entry.path == f"/model/{MODEL}/invoke-with-response-stream"
    assert entry.headers["authorization"] == "***"  # SigV4: no bearer scheme to keep
    assert "AKIAHARNESSFAKE00000" not in str(server.requests(test_id))
    assert entry.body is not None
    assert entry.body["anthropic_version"] == "bedrock-2023-05-31"


def test_boto3_invoke_model_gets_the_whole_message(server: RunningServer) -> None:
    test_id = str(uuid.uuid4())
    response = _boto(_root(server, "anthropic/text", test_id)).invoke_model(
        modelId=MODEL, body=json.dumps(BODY)
    )
    message = json.loads(response["body"].read())
    plain = httpx.post(
        f"{server.url}/s/anthropic/text/v1/messages",
        json={"model": "m", "max_tokens": 10, "messages": MESSAGES},
        timeout=10,
    )
    assert message == plain.json()
    assert message["type"] == "message"
    assert "".join(b["text"] for b in message["content"]) == _expect(BY_NAME["anthropic/text"]).text
    [entry] = server.entries(test_id)
    assert entry.path == f"/model/{MODEL}/invoke"


def test_boto3_raises_an_exception_frame_mid_stream(server: RunningServer) -> None:
    name = "anthropic/error-midstream"
    seen, error = _stream_boto(_root(server, name))
    events = _events(BY_NAME[name])
    assert seen == events[:-1]  # every chunk before the error
    assert isinstance(error, EventStreamError)
    assert error.response["Error"]["Code"] == EXCEPTION_TYPES["overloaded_error"]
    assert error.response["Error"]["Message"] == "Overloaded"


def test_boto3_raises_an_exception_as_the_first_frame(server: RunningServer) -> None:
    """anthropic-sdk-python #1472: HTTP 200, and the first frame is an exception."""
    seen, error = _stream_boto(_root(server, "anthropic/bedrock-error-first-frame"))
    assert seen == []
    assert isinstance(error, EventStreamError)
    assert error.response["Error"]["Code"] == "serviceUnavailableException"


@pytest.mark.parametrize(
    ("kind", "exception"),
    [
        ("rate_limit_error", "throttlingException"),
        ("api_error", "internalServerException"),
        ("invalid_request_error", "validationException"),
        ("billing_error", "modelStreamErrorException"),
    ],
)
def test_an_injected_error_is_the_exception_of_its_type(
    server: RunningServer, kind: str, exception: str
) -> None:
    url = _root(server, "anthropic/text")
    client = _boto(url)
    client.meta.events.register(
        "before-send.bedrock-runtime.*",
        lambda request, **_: request.headers.__setitem__(
            "x-harness-faults", f"error_after=3; error_type={kind}; error_message=boom"
        ),
    )
    response = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(BODY))
    events = iter(response["body"])
    seen = [json.loads(next(events)["chunk"]["bytes"]) for _ in range(3)]
    assert seen == _events(BY_NAME["anthropic/text"])[:3]
    with pytest.raises(EventStreamError) as raised:
        next(events)
    assert raised.value.response["Error"] == {"Code": exception, "Message": "boom"}


@pytest.mark.parametrize("call", ["invoke_model_with_response_stream", "invoke_model"])
def test_boto3_raises_throttling_on_a_recorded_429(server: RunningServer, call: str) -> None:
    test_id = str(uuid.uuid4())
    client = _boto(_root(server, "anthropic/http-429", test_id))
    with pytest.raises(ClientError) as raised:
        getattr(client, call)(modelId=MODEL, body=json.dumps(BODY))
    error = raised.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "exceed the rate limit" in error["Error"]["Message"]
    assert [e.status for e in server.entries(test_id)] == [429]  # total_max_attempts 1: no retry


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (503, "ServiceUnavailableException"),
        (500, "InternalServerException"),
        (400, "ValidationException"),
        (429, "ThrottlingException"),
    ],
)
def test_an_http_error_fault_takes_the_bedrock_shape(
    server: RunningServer, status: int, code: str
) -> None:
    answer = httpx.post(
        f"{server.url}/s/anthropic/text/model/{MODEL}/invoke",
        json=BODY,
        headers={"x-harness-faults": f"http_error={status}"},
        timeout=10,
    )
    assert answer.status_code == status
    assert answer.headers["x-amzn-errortype"] == code + ERRORTYPE_SUFFIX
    assert answer.json() == error_body("bedrock-anthropic", status)
    assert set(answer.json()) == {"message"}


def test_the_session_token_is_masked_in_the_journal(server: RunningServer) -> None:
    assert "x-amz-security-token" in DEFAULT_HEADERS
    test_id = str(uuid.uuid4())
    token = "FwoGZXIvYXdzEHarnessSessionTokenNotARealOne0123456789"
    client = _boto(_root(server, "anthropic/text", test_id), aws_session_token=token)
    client.invoke_model(modelId=MODEL, body=json.dumps(BODY))
    [entry] = server.entries(test_id)
    assert entry.headers["x-amz-security-token"] == "***"
    assert entry.headers["authorization"] == "***"
    assert token not in str(server.requests(test_id))


# --- anthropic.AnthropicBedrock -----------------------------------------------------------


def _bedrock_options(base_url: str) -> dict[str, Any]:
    return {
        "aws_access_key": "AKIAHARNESSFAKE00000",
        "aws_secret_key": "x",
        "aws_region": "us-east-1",
        "base_url": base_url,
        "max_retries": 0,
    }


def stream_bedrock(base_url: str, mode: str, api: str) -> Seen:
    """Stream one message with AnthropicBedrock: raw events or the messages.stream helper."""
    options = _bedrock_options(base_url)
    return read_anthropic(
        lambda: anthropic.AnthropicBedrock(**options),
        lambda: anthropic.AsyncAnthropicBedrock(**options),
        MODEL,
        mode,
        api,
    )


RUNS = pytest.mark.parametrize(
    ("mode", "api"), [("sync", "helper"), ("sync", "events"), ("async", "helper")]
)


@RUNS
@pytest.mark.parametrize("name", ["anthropic/text", "anthropic/tool-calls-parallel"])
def test_anthropic_bedrock_streams_a_scenario_as_expect_says(
    server: RunningServer, name: str, mode: str, api: str
) -> None:
    test_id = str(uuid.uuid4())
    seen = stream_bedrock(_root(server, name, test_id), mode, api)
    assert_answer(seen, _expect(BY_NAME[name]))
    [entry] = server.entries(test_id)
    assert (entry.family, entry.scenario, entry.status) == ("bedrock-anthropic", name, 200)
    assert entry.path == f"/model/{MODEL}/invoke-with-response-stream"
    assert entry.headers["authorization"] == "***"
    assert entry.body is not None
    assert "model" not in entry.body
    assert "stream" not in entry.body


@RUNS
@pytest.mark.parametrize(
    "name", ["anthropic/bedrock-error-first-frame", "anthropic/error-midstream"]
)
def test_anthropic_bedrock_raises_an_exception_frame(
    server: RunningServer, name: str, mode: str, api: str
) -> None:
    """#1472: an exception as the first frame (or later) raises, with no None message."""
    expect = _expect(BY_NAME[name])
    seen = stream_bedrock(_root(server, name), mode, api)
    assert seen.text == expect.text
    assert "message_stop" not in seen.events
    if name.endswith("first-frame"):
        assert seen.events == []  # no message_start (whose message was None in #1472)
    sdk_behaviour.check("anthropic", "bedrock_exception_frame", f"{name} {mode}-{api}", seen.error)
    assert isinstance(seen.error, anthropic.APIStatusError)
    assert seen.error.status_code == 200
    assert seen.error.body == {
        "type": "error",
        "error": {"type": "serviceUnavailableException", "message": "Overloaded"},
    }


def test_anthropic_bedrock_create_without_stream_gets_the_whole_message(
    server: RunningServer,
) -> None:
    test_id = str(uuid.uuid4())
    with anthropic.AnthropicBedrock(
        **_bedrock_options(_root(server, "anthropic/text", test_id))
    ) as client:
        message = client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)
    seen = Seen(text="".join(b.text for b in message.content if b.type == "text"))
    seen.finish_reason = ANTHROPIC_STOP[message.stop_reason]
    seen.usage = _anthropic_usage(message.usage.model_dump(exclude_none=True))
    assert_answer(seen, _expect(BY_NAME["anthropic/text"]))
    [entry] = server.entries(test_id)
    assert entry.path == f"/model/{MODEL}/invoke"


def test_anthropic_bedrock_raises_the_status_of_an_http_error(server: RunningServer) -> None:
    seen = stream_bedrock(_root(server, "anthropic/http-429"), "sync", "helper")
    assert isinstance(seen.error, anthropic.RateLimitError)
    assert seen.error.status_code == 429


# --- bytes ---------------------------------------------------------------------------------


def _plan_bytes(name: str, **faults: Any) -> bytes:
    scenario = load_scenarios().get(name)
    assert scenario is not None
    plan = build_plan(
        scenario,
        scenario.answers[-1],
        target="bedrock-anthropic",
        stream=True,
        faults=Faults.model_validate(faults),
    )
    assert dict(plan.headers)["content-type"] == "application/vnd.amazon.eventstream"
    return b"".join(write.data for write in plan.writes)


@pytest.mark.parametrize(
    "name", ["anthropic/text", "anthropic/error-midstream", "anthropic/utf8-split"]
)
def test_the_frames_decode_with_botocores_buffer_at_every_split(name: str) -> None:
    data = _plan_bytes(name)
    whole = EventStreamBuffer()
    whole.add_data(data)
    messages = list(whole)
    ours = EventStreamDecoder().feed(data)
    assert [m.headers for m in messages] == [dict(m.headers) for m in ours]
    assert [m.payload for m in messages] == [m.payload for m in ours]
    for split in range(0, len(data), 7):
        buffer = EventStreamBuffer()
        buffer.add_data(data[:split])
        got = list(buffer)
        buffer.add_data(data[split:])
        got += list(buffer)
        assert [m.payload for m in got] == [m.payload for m in messages]
    chunks = [m for m in messages if m.headers[":message-type"] == "event"]
    for message in chunks:
        assert message.headers[":event-type"] == "chunk"
        assert message.headers[":content-type"] == "application/json"
        assert set(json.loads(message.payload)) == {"bytes"}
    decoded = [json.loads(base64.b64decode(json.loads(m.payload)["bytes"])) for m in chunks]
    scenario = load_scenarios().get(name)
    assert scenario is not None
    own = build_plan(scenario, scenario.answers[-1], target="anthropic", stream=True)
    sse = SSEDecoder().feed(b"".join(write.data for write in own.writes))
    assert decoded == [json.loads(e.data) for e in sse if e.event != "error"]
    if name == "anthropic/error-midstream":
        last = messages[-1]
        assert last.headers[":message-type"] == "exception"
        assert last.headers[":exception-type"] == "serviceUnavailableException"
        assert json.loads(last.payload) == {"message": "Overloaded"}


def test_disconnect_after_counts_frames_and_bytes_cut_inside_one() -> None:
    frames = EventStreamDecoder().feed(_plan_bytes("anthropic/text"))
    cut = EventStreamDecoder().feed(_plan_bytes("anthropic/text", disconnect_after=3))
    assert cut == frames[:3]
    decoder = EventStreamDecoder()
    assert decoder.feed(_plan_bytes("anthropic/text", disconnect_after_bytes=50)) == []
    assert decoder.pending == 50


def test_the_framer_drops_comments_and_joins_split_events() -> None:
    framer = BedrockFramer()
    assert framer.feed(b": keep-alive\n\n") == b""
    assert framer.feed(b'event: ping\ndata: {"type"') == b""
    out = framer.feed(b': "ping"}\n\n')
    assert out == bedrock_message(ServerSentEvent(data='{"type": "ping"}', event="ping"))
    assert framer.finish() == b""


# --- HTTP level -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "model"),
    [
        ("anthropic.claude-v2:1", "anthropic.claude-v2:1"),
        ("anthropic.claude-v2%3A1", "anthropic.claude-v2:1"),
        ("anthropic.claude-v2%3a1", "anthropic.claude-v2:1"),
        ("us.anthropic.claude-v9%3A0", "us.anthropic.claude-v9:0"),
        # An inference profile ARN, as AnthropicBedrock quotes it (safe=":;", "/" -> %2F).
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.anthropic.x-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.x-v1:0",
        ),
    ],
)
def test_model_ids_with_colon_and_percent_encoding(
    server: RunningServer, sent: str, model: str
) -> None:
    test_id = f"bedrock-model-{uuid.uuid4()}"
    answer = httpx.post(f"{server.url}/t/{test_id}/model/{sent}/invoke", json=BODY, timeout=10)
    if model == "anthropic.claude-v2:1":
        assert answer.status_code == 200, answer.text
        assert answer.json()["content"][0]["text"] == "versioned"
    else:
        assert answer.status_code == 404
        assert answer.headers["x-amzn-errortype"] == "ResourceNotFoundException" + ERRORTYPE_SUFFIX
        assert f"(model {model!r})" in answer.json()["message"]
    [entry] = server.entries(test_id)
    assert entry.path == f"/model/{model}/invoke"
    assert entry.family == "bedrock-anthropic"


def test_boto3_selects_by_the_model_id_it_percent_encodes(server: RunningServer) -> None:
    client = _boto(server.url)
    response = client.invoke_model(modelId="anthropic.claude-v2:1", body=json.dumps(BODY))
    assert json.loads(response["body"].read())["content"][0]["text"] == "versioned"


def test_keep_alive_faults_are_refused_on_bedrock(server: RunningServer) -> None:
    answer = httpx.post(
        f"{server.url}/s/anthropic/text/model/{MODEL}/invoke-with-response-stream",
        json=BODY,
        headers={"x-harness-faults": "keepalive_every=1"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("keep-alive faults cannot apply to a Bedrock")
    assert answer.headers["x-amzn-errortype"].startswith("ValidationException:")


@pytest.mark.parametrize(
    "path", [f"/model/{MODEL}/converse-streams", "/model/invoke", f"/model/{MODEL}"]
)
def test_an_unknown_bedrock_path_gets_the_bedrock_shape(server: RunningServer, path: str) -> None:
    answer = httpx.post(server.url + path, json=BODY, timeout=10)
    assert answer.status_code == 404
    assert set(answer.json()) == {"message"}
    assert "/model/{modelId}/invoke-with-response-stream" in answer.json()["message"]


def test_a_gemini_scenario_is_refused_on_bedrock(server: RunningServer) -> None:
    answer = httpx.post(f"{server.url}/s/gemini/text/model/{MODEL}/invoke", json=BODY, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"].startswith("ValidationException:")


# --- the registry ---------------------------------------------------------------------------


def test_the_bedrock_family_and_its_shapes() -> None:
    family = get_family("bedrock-anthropic")
    assert family.output.provider == "anthropic"
    assert family.output.renderer is None
    assert family.output.answer is get_family("anthropic").output.answer
    assert family.roots() == ("model",)
    assert not family.listed
    assert family_of_path(f"/model/{MODEL}/invoke").name == "bedrock-anthropic"
    assert reachable(f"/model/{MODEL}/invoke-with-response-stream", None)
    assert reachable("/model/*/invoke", MODEL)
    assert not reachable(f"/model/{MODEL}/converse-streams", None)
    assert reachable(f"/model/{MODEL}/converse", None)  # Bedrock Converse's route
    assert "/model/{modelId}/invoke-with-response-stream" in routes_hint()
    assert error_headers("bedrock-anthropic", 429) == {
        "x-amzn-errortype": "ThrottlingException" + ERRORTYPE_SUFFIX
    }
    assert error_headers("anthropic", 429) == {}
    assert _json.loads(_json.dumps(error_body("bedrock-anthropic", 503, "x"))) == {"message": "x"}
