"""Recording Amazon Bedrock: boto3 through ``harness record``, then ``harness convert``.

The "live provider" is harness's own mock on loopback (its Bedrock routes), with the
recording proxy in front of it and boto3's ``bedrock-runtime`` client signing every
request with SigV4 and a session token. Checked: no signing material reaches the
cassette, the binary event stream is recorded byte for byte with its chunks, and the
converted scenario replays on its own route exactly the bytes the upstream sent (for
Converse) or the same Anthropic events (for InvokeModel).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import botocore.exceptions
import httpx
import pytest
import urllib3
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from harness.mock.replay import build_plan
from harness.mock.scenario import Scenario, ScenarioSet, parse_scenario
from harness.record.cassette import Chunk, Interaction, load_cassette, save_cassette
from harness.record.convert import (
    _invoke_events,
    convert,
    detect_provider,
    interaction_to_scenario,
    scenario_yaml,
)
from harness.record.recorder import RecordingProxy
from harness.secrets import filter_uri
from harness.stream.eventstream import (
    EventStreamMessage,
    Timestamp,
    Uuid,
    encode,
    event_message,
    exception_message,
)
from harness.testing import RunningServer, run_server

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
SESSION_TOKEN = "SESSIONTOKENSECRET"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "x"
MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
INVOKE_BODY = json.dumps(
    {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": []}
).encode()
EVENTSTREAM = "application/vnd.amazon.eventstream"


@pytest.fixture(scope="module")
def upstream() -> Iterator[RunningServer]:
    """The built-in library, as the real Bedrock: pauses kept (speed 1)."""
    with run_server(speed=1.0) as server:
        yield server


def _client(endpoint: str, **config: Any) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=SESSION_TOKEN,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def _call(client: Any, operation: str) -> list[Any]:
    """What boto3 hands over for one operation: the stream's events, or the answer."""
    if operation == "converse_stream":
        answer = client.converse_stream(modelId=MODEL, messages=MESSAGES)
        return list(answer["stream"])
    if operation == "converse":
        answer = client.converse(modelId=MODEL, messages=MESSAGES)
        return [answer["output"], answer["stopReason"], answer["usage"]]
    if operation == "invoke_model_with_response_stream":
        answer = client.invoke_model_with_response_stream(modelId=MODEL, body=INVOKE_BODY)
        return [event["chunk"]["bytes"] for event in answer["body"]]
    answer = client.invoke_model(modelId=MODEL, body=INVOKE_BODY)
    return [answer["body"].read()]


def _path(operation: str) -> str:
    action = {
        "converse_stream": "converse-stream",
        "converse": "converse",
        "invoke_model_with_response_stream": "invoke-with-response-stream",
        "invoke_model": "invoke",
    }[operation]
    return f"/model/{quote(MODEL, safe='')}/{action}"


def _raw_post(url: str, body: bytes) -> tuple[bytes, bool]:
    """The raw bytes of a POST's answer, and whether the connection was cut."""
    received = b""
    with httpx.Client(timeout=10) as client:
        try:
            with client.stream("POST", url, content=body) as response:
                for part in response.iter_raw():
                    received += part
        except httpx.RemoteProtocolError:
            return received, True
    return received, False


def _record(
    upstream: RunningServer, tmp_path: Path, scenario: str, operation: str
) -> tuple[Path, list[Any] | BaseException]:
    """Record one boto3 call against ``scenario``; what boto3 saw (or raised)."""
    cassette = tmp_path / "bedrock.yaml"
    with RecordingProxy(upstream.url, cassette) as proxy:
        client = _client(f"{proxy.url}/s/{scenario}")
        try:
            seen: list[Any] | BaseException = _call(client, operation)
        except (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            urllib3.exceptions.HTTPError,
        ) as exc:
            seen = exc
    return cassette, seen


def _assert_no_secret(cassette: Path) -> None:
    data = cassette.read_bytes()
    for secret in (SESSION_TOKEN, ACCESS_KEY, "AWS4-HMAC-SHA256", "Signature="):
        assert secret.encode() not in data, secret
    text = data.decode()
    assert "authorization" not in text.lower()
    assert "x-amz-security-token" not in text.lower()


def _steps(text: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = yaml.safe_load(text)["events"]
    return events


def _served(text: str, name: str = "rec/bedrock") -> Scenario:
    return parse_scenario(text, name=name)


def _assert_boundaries_kept(scenario: Scenario, target: Any, chunks: tuple[Chunk, ...]) -> None:
    """Every recorded chunk boundary is a write boundary of the replay."""
    plan = build_plan(scenario, scenario.answers[0], target=target, stream=True)
    writes = {0}
    offset = 0
    for write in plan.writes:
        offset += len(write.data)
        writes.add(offset)
    recorded = set()
    offset = 0
    for chunk in chunks:
        offset += len(chunk.data)
        recorded.add(offset)
    assert recorded <= writes


# --- Converse --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["text", "tool-use"])
def test_a_converse_stream_is_recorded_and_replayed_byte_for_byte(
    upstream: RunningServer, tmp_path: Path, name: str
) -> None:
    """converse-stream through the proxy: the cassette holds the upstream's exact bytes
    and no signing material; converted, each message is a structured step, the model id
    is match.model, and a fresh server sends exactly the recorded bytes (and boto3 sees
    the same events) with every recorded chunk boundary a write boundary."""
    scenario_name = f"bedrock-converse/{name}"
    cassette, seen_live = _record(upstream, tmp_path, scenario_name, "converse_stream")
    assert isinstance(seen_live, list)
    assert "metadata" in seen_live[-1]
    _assert_no_secret(cassette)
    (recorded,) = load_cassette(cassette)
    assert recorded.complete
    assert len(recorded.chunks) > 1
    assert recorded.timed
    assert recorded.request_headers["x-amz-date"]  # kept: not a secret (docs/recording.md)
    live, cut = _raw_post(f"{upstream.url}/s/{scenario_name}{_path('converse_stream')}", b"{}")
    assert not cut
    assert live == recorded.body

    text = convert(cassette, name="rec/bedrock")
    scenario = _served(text)
    assert scenario.provider == "bedrock-converse"
    assert yaml.safe_load(text)["match"] == {"model": MODEL}
    events = [step for step in _steps(text) if "sleep_ms" not in step]
    assert events
    assert all(set(step) == {"event", "data"} for step in events)
    assert all(isinstance(step["data"], dict) for step in events)
    assert events[0]["event"] == "messageStart"
    assert events[-1]["event"] == "metadata"
    assert "finish_reason" in yaml.safe_load(text)["expect"]
    _assert_boundaries_kept(scenario, "bedrock-converse", recorded.chunks)

    with run_server(ScenarioSet([scenario])) as server:
        replayed, cut = _raw_post(f"{server.url}/s/rec/bedrock{_path('converse_stream')}", b"{}")
        seen_replay = _call(_client(f"{server.url}/s/rec/bedrock"), "converse_stream")
    assert not cut
    assert replayed == recorded.body
    assert seen_replay == seen_live


LIBRARY = Path(__file__).resolve().parent.parent / "scenarios" / "bedrock-converse"


@pytest.mark.parametrize("name", sorted(path.stem for path in LIBRARY.glob("*.yaml")))
def test_every_library_converse_scenario_round_trips_through_record_and_convert(
    upstream: RunningServer, tmp_path: Path, name: str
) -> None:
    """Each built-in bedrock-converse scenario (errors and cuts included), recorded
    through the proxy with httpx, converts to a scenario that sends the same bytes and
    the same cut on the converse-stream route, and the expect suggestion is made."""
    cassette = tmp_path / "c.yaml"
    url = f"/s/bedrock-converse/{name}{_path('converse_stream')}"
    with RecordingProxy(upstream.url, cassette) as proxy:
        live, live_cut = _raw_post(f"{proxy.url}{url}", b"{}")
    (recorded,) = load_cassette(cassette)
    assert recorded.body == live
    assert recorded.complete is not live_cut
    text = convert(cassette, name="rec/bedrock")
    assert "expect" in yaml.safe_load(text)
    with run_server(ScenarioSet([_served(text)])) as server:
        replayed, cut = _raw_post(f"{server.url}/s/rec/bedrock{_path('converse_stream')}", b"{}")
    assert replayed == live
    assert cut is live_cut


def test_the_recorded_pauses_survive_into_the_scenario(
    upstream: RunningServer, tmp_path: Path
) -> None:
    """The upstream's 20 ms between messages come back as delay_ms / sleep_ms."""
    cassette, _ = _record(upstream, tmp_path, "bedrock-converse/text", "converse_stream")
    scenario = _served(convert(cassette, name="rec/bedrock"))
    answer = scenario.answers[0]
    steps = answer.events or []
    sends = [step for step in steps if step.sleep_ms is None]
    total = sum(step.sleep_ms or 0 for step in steps) + answer.delay_ms * (len(sends) - 1)
    assert 20 * (len(sends) - 1) <= total < 20 * (len(sends) - 1) + 400


def test_a_converse_stream_cut_inside_a_message_ends_raw_and_disconnected(
    upstream: RunningServer, tmp_path: Path
) -> None:
    """cut-in-frame: boto3 fails, the cassette is incomplete, the scenario ends with the
    half message as raw_b64 and a disconnect, and its replay cuts after the same bytes."""
    cassette, seen = _record(upstream, tmp_path, "bedrock-converse/cut-in-frame", "converse_stream")
    assert isinstance(seen, BaseException)
    (recorded,) = load_cassette(cassette)
    assert not recorded.complete
    text = convert(cassette, name="rec/bedrock")
    steps = [step for step in _steps(text) if "sleep_ms" not in step]
    assert [set(step) for step in steps[-2:]] == [{"raw_b64"}, {"disconnect"}]
    assert all("event" in step for step in steps[:-2])
    assert len(steps) > 2
    assert yaml.safe_load(text)["expect"]["error"] == {"code": "connection_closed"}
    with run_server(ScenarioSet([_served(text)])) as server:
        replayed, cut = _raw_post(f"{server.url}/s/rec/bedrock{_path('converse_stream')}", b"{}")
    assert cut
    assert replayed == recorded.body


def test_a_whole_converse_answer_is_kept_as_a_mapping(
    upstream: RunningServer, tmp_path: Path
) -> None:
    """/converse: the JSON body is a mapping and replays byte for byte."""
    cassette, seen_live = _record(upstream, tmp_path, "bedrock-converse/text", "converse")
    _assert_no_secret(cassette)
    (recorded,) = load_cassette(cassette)
    text = convert(cassette, name="rec/bedrock")
    document = yaml.safe_load(text)
    assert document["provider"] == "bedrock-converse"
    assert "events" not in document
    assert document["body"]["stopReason"] == "end_turn"
    assert document["match"] == {"model": MODEL}
    with run_server(ScenarioSet([_served(text)])) as server:
        replayed = httpx.post(f"{server.url}/s/rec/bedrock{_path('converse')}", content=b"{}")
        seen_replay = _call(_client(f"{server.url}/s/rec/bedrock"), "converse")
    assert replayed.content == recorded.body
    assert seen_replay == seen_live


# --- InvokeModel (Claude) ----------------------------------------------------------------


def test_an_invoke_stream_converts_to_the_anthropic_events_it_carries(
    upstream: RunningServer, tmp_path: Path
) -> None:
    """invoke-with-response-stream: an anthropic scenario whose steps are the events the
    chunks carry; on the invoke route boto3 gets the same chunk bytes as live, and on
    /v1/messages the same events come as SSE."""
    operation = "invoke_model_with_response_stream"
    cassette, seen_live = _record(upstream, tmp_path, "anthropic/text", operation)
    assert isinstance(seen_live, list)
    assert len(seen_live) > 3
    _assert_no_secret(cassette)
    (recorded,) = load_cassette(cassette)
    text = convert(cassette, name="rec/bedrock")
    document = yaml.safe_load(text)
    assert document["provider"] == "anthropic"
    assert document["match"] == {"model": MODEL}
    assert "text" in document["expect"]
    events = [step for step in document["events"] if "sleep_ms" not in step]
    assert [step["event"] for step in events] == [json.loads(chunk)["type"] for chunk in seen_live]
    assert all(isinstance(step["data"], dict) for step in events)

    scenario = _served(text)
    with run_server(ScenarioSet([scenario])) as server:
        seen_replay = _call(_client(f"{server.url}/s/rec/bedrock"), operation)
        replayed, cut = _raw_post(f"{server.url}/s/rec/bedrock{_path(operation)}", INVOKE_BODY)
        sse = httpx.post(f"{server.url}/s/rec/bedrock/v1/messages", json={"stream": True})
    assert seen_replay == seen_live
    assert not cut
    keys = [event.key for event in _invoke_events(recorded.body)[0]]
    assert [event.key for event in _invoke_events(replayed)[0]] == keys
    # Both ends frame the events with harness's framer here, so even the bytes agree
    # (Bedrock's own would differ by its "p" padding).
    assert replayed == recorded.body
    data = [line[6:] for line in sse.text.split("\n") if line.startswith("data: ")]
    assert [line.encode() for line in data] == seen_live


@pytest.fixture(scope="module")
def library() -> Iterator[RunningServer]:
    """The built-in library without pauses."""
    with run_server() as server:
        yield server


ANTHROPIC = Path(__file__).resolve().parent.parent / "scenarios" / "anthropic"


@pytest.mark.parametrize("name", sorted(path.stem for path in ANTHROPIC.glob("*.yaml")))
def test_every_library_anthropic_scenario_round_trips_through_the_invoke_route(
    library: RunningServer, tmp_path: Path, name: str
) -> None:
    """Each built-in anthropic scenario, recorded from invoke-with-response-stream
    (errors, exceptions and cuts included), converts to an anthropic scenario whose
    replay on that route sends the same events and the same cut."""
    cassette = tmp_path / "c.yaml"
    operation = "invoke_model_with_response_stream"
    with RecordingProxy(library.url, cassette) as proxy:
        live, live_cut = _raw_post(f"{proxy.url}/s/anthropic/{name}{_path(operation)}", b"{}")
    text = convert(cassette, name="rec/bedrock")
    assert yaml.safe_load(text)["provider"] == "anthropic"
    with run_server(ScenarioSet([_served(text)])) as server:
        replayed, cut = _raw_post(f"{server.url}/s/rec/bedrock{_path(operation)}", b"{}")
    assert [e.key for e in _invoke_events(replayed)[0]] == [e.key for e in _invoke_events(live)[0]]
    assert cut is live_cut


def test_a_whole_invoke_answer_is_kept_as_a_mapping(
    upstream: RunningServer, tmp_path: Path
) -> None:
    cassette, seen_live = _record(upstream, tmp_path, "anthropic/text", "invoke_model")
    (recorded,) = load_cassette(cassette)
    text = convert(cassette, name="rec/bedrock")
    document = yaml.safe_load(text)
    assert document["provider"] == "anthropic"
    assert document["body"]["type"] == "message"
    with run_server(ScenarioSet([_served(text)])) as server:
        replayed = httpx.post(f"{server.url}/s/rec/bedrock{_path('invoke_model')}", content=b"{}")
        seen_replay = _call(_client(f"{server.url}/s/rec/bedrock"), "invoke_model")
    assert replayed.content == recorded.body
    assert seen_replay == seen_live


def test_an_invoke_exception_becomes_an_anthropic_error_event() -> None:
    """A throttlingException message in an invoke stream is Anthropic's rate_limit_error
    event, which the invoke route sends back as the same exception."""
    chunk = base64.b64encode(b'{"type":"message_start","message":{}}').decode()
    first = encode(event_message("chunk", json.dumps({"bytes": chunk, "p": "abc"}).encode()))
    second = encode(exception_message("throttlingException", b'{"message":"slow down"}'))
    interaction = _interaction(
        [first, second], path=_path("invoke_model_with_response_stream"), complete=False
    )
    text = scenario_yaml(interaction, name="rec/bedrock")
    steps = [step for step in _steps(text) if "sleep_ms" not in step]
    assert steps[0] == {"event": "message_start", "data": {"type": "message_start", "message": {}}}
    assert steps[1] == {
        "event": "error",
        "data": {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
    }
    assert steps[-1] == {"disconnect": True}


@pytest.mark.parametrize("operation", ["invoke_model", "converse_stream"])
def test_a_bedrock_http_error_replays_its_body_and_error_type(operation: str) -> None:
    """A 429 from Bedrock (AWS's {"message"} and x-amzn-errortype): on its own route the
    replay sends the recorded body and header, and boto3 raises the same exception."""
    body = b'{"message":"Too many requests, please wait before trying again."}'
    errortype = "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    interaction = Interaction(
        method="POST",
        uri=f"https://bedrock-runtime.us-east-1.amazonaws.com{_path(operation)}",
        request_headers={},
        request_body=INVOKE_BODY,
        status=429,
        reason="Too Many Requests",
        response_headers={
            "content-type": ["application/json"],
            "x-amzn-errortype": [errortype],
        },
        chunks=(Chunk(body, 0.2),),
    )
    text = scenario_yaml(interaction, name="rec/bedrock")
    document = yaml.safe_load(text)
    assert document["status"] == 429
    assert document["expect"] == {"error": {"status": 429}}
    with run_server(ScenarioSet([_served(text)])) as server:
        answer = httpx.post(f"{server.url}/s/rec/bedrock{_path(operation)}", content=b"{}")
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            _call(_client(f"{server.url}/s/rec/bedrock"), operation)
    assert answer.status_code == 429
    assert answer.content == body
    assert answer.headers["x-amzn-errortype"] == errortype
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


# --- what falls back to raw_b64 ------------------------------------------------------------


def _interaction(
    chunks: list[bytes], *, path: str | None = None, complete: bool = True
) -> Interaction:
    return Interaction(
        method="POST",
        uri=f"https://bedrock-runtime.us-east-1.amazonaws.com{path or _path('converse_stream')}",
        request_headers={"content-type": ["application/json"]},
        request_body=b"{}",
        status=200,
        reason="OK",
        response_headers={"content-type": [EVENTSTREAM]},
        chunks=tuple(Chunk(data, 0.01 * (index + 1)) for index, data in enumerate(chunks)),
        complete=complete,
    )


def _converse(name: str, payload: bytes) -> bytes:
    return encode(event_message(name, payload))


#: Messages a Converse step cannot write: each must come back as raw_b64.
UNUSUAL = {
    "extra header": encode(
        EventStreamMessage(
            {
                ":event-type": "contentBlockDelta",
                ":content-type": "application/json",
                ":message-type": "event",
                "x-extra": "1",
            },
            b'{"contentBlockIndex":0,"delta":{"text":" extra"}}',
        )
    ),
    "header order": encode(
        EventStreamMessage(
            {
                ":message-type": "event",
                ":event-type": "contentBlockDelta",
                ":content-type": "application/json",
            },
            b'{"contentBlockIndex":0,"delta":{"text":" order"}}',
        )
    ),
    "typed headers": encode(
        EventStreamMessage(
            {
                ":event-type": "contentBlockDelta",
                ":content-type": "application/json",
                ":message-type": "event",
                ":date": Timestamp(1_700_000_000_000),
                ":id": Uuid(bytes(range(16))),
            },
            b'{"contentBlockIndex":0,"delta":{"text":" typed"}}',
        )
    ),
    "unknown event": _converse("futureEvent", b'{"x":1}'),
    "not utf-8": _converse("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"\xff"}}'),
    "chunk event": _converse("chunk", b'{"bytes":"e30="}'),
}


@pytest.mark.parametrize("kind", sorted(UNUSUAL))
def test_an_unusual_message_falls_back_to_raw_b64_and_round_trips(kind: str) -> None:
    start = _converse("messageStart", b'{"role":"assistant"}')
    spaced = _converse("contentBlockDelta", b'{"contentBlockIndex": 0, "delta": {"text": "Hi"}}')
    stop = _converse("messageStop", b'{"stopReason":"end_turn"}')
    interaction = _interaction([start, spaced + UNUSUAL[kind], stop])
    text = scenario_yaml(interaction, name="rec/bedrock")
    steps = [step for step in _steps(text) if "sleep_ms" not in step]
    assert steps[0] == {"event": "messageStart", "data": {"role": "assistant"}}
    # Spaced JSON is kept as the exact payload text.
    assert steps[1] == {
        "event": "contentBlockDelta",
        "data": '{"contentBlockIndex": 0, "delta": {"text": "Hi"}}',
    }
    assert steps[2] == {"raw_b64": base64.b64encode(UNUSUAL[kind]).decode()}
    assert steps[3] == {"event": "messageStop", "data": {"stopReason": "end_turn"}}
    scenario = _served(text)
    plan = build_plan(scenario, scenario.answers[0], target="bedrock-converse", stream=True)
    assert b"".join(write.data for write in plan.writes) == interaction.body
    _assert_boundaries_kept(scenario, "bedrock-converse", interaction.chunks)


def test_a_message_split_across_chunks_is_one_raw_write_per_piece() -> None:
    """A recorded chunk boundary inside a message: both pieces raw_b64, replayed as two
    writes with the recorded pause between them; the whole messages stay structured."""
    start = _converse("messageStart", b'{"role":"assistant"}')
    delta = _converse("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}')
    stop = _converse("messageStop", b'{"stopReason":"end_turn"}')
    interaction = _interaction([start + delta[:30], delta[30:] + stop])
    text = scenario_yaml(interaction, name="rec/bedrock")
    steps = _steps(text)
    assert steps == [
        {"sleep_ms": 10},
        {"event": "messageStart", "data": {"role": "assistant"}},
        {"raw_b64": base64.b64encode(delta[:30]).decode()},
        {"sleep_ms": 10},
        {"raw_b64": base64.b64encode(delta[30:]).decode()},
        {"event": "messageStop", "data": {"stopReason": "end_turn"}},
    ]
    scenario = _served(text)
    _assert_boundaries_kept(scenario, "bedrock-converse", interaction.chunks)


def test_a_broken_framing_keeps_the_rest_as_raw_bytes() -> None:
    """A bad CRC: the messages before it are steps, the rest is raw_b64, byte for byte."""
    start = _converse("messageStart", b'{"role":"assistant"}')
    broken = bytearray(_converse("contentBlockDelta", b'{"contentBlockIndex":0}'))
    broken[-1] ^= 0xFF
    interaction = _interaction([start + bytes(broken) + start])
    steps = _steps(scenario_yaml(interaction, name="rec/bedrock"))
    assert steps[1] == {"event": "messageStart", "data": {"role": "assistant"}}
    assert steps[2] == {"raw_b64": base64.b64encode(bytes(broken) + start).decode()}


def test_a_wrong_converse_conversion_falls_back_to_the_recorded_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The safety net works for event streams too: one raw_b64 step per chunk."""
    from harness.record import convert as convert_module

    start = _converse("messageStart", b'{"role":"assistant"}')
    stop = _converse("messageStop", b'{"stopReason":"end_turn"}')
    interaction = _interaction([start, stop], complete=False)
    monkeypatch.setattr(convert_module, "_pieces", lambda *args: [({"raw_b64": "AAAA"}, 0)])
    steps = _steps(scenario_yaml(interaction, name="rec/bedrock"))
    assert steps == [
        {"sleep_ms": 10},
        {"raw_b64": base64.b64encode(start).decode()},
        {"sleep_ms": 10},
        {"raw_b64": base64.b64encode(stop).decode()},
        {"disconnect": True},
    ]


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "provider", "model"),
    [
        (
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
            "bedrock-converse",
            MODEL,
        ),
        ("/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse", "bedrock-converse", MODEL),
        (
            "/model/anthropic.claude-v2/invoke-with-response-stream",
            "anthropic",
            "anthropic.claude-v2",
        ),
        ("/model/anthropic.claude-v2/invoke", "anthropic", "anthropic.claude-v2"),
        (
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse",
            "bedrock-converse",
            "arn:aws:bedrock:us-east-1:1:inference-profile/us.x",
        ),
    ],
)
def test_provider_and_model_from_a_bedrock_path(path: str, provider: str, model: str) -> None:
    interaction = _interaction([b"{}"], path=path)
    assert detect_provider(interaction) == provider
    scenario = interaction_to_scenario(interaction, name="rec/bedrock")
    assert scenario["match"] == {"model": model}


# --- signing material ----------------------------------------------------------------------


def test_sigv4_query_string_signing_is_dropped_from_recorded_uris() -> None:
    uri = (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke?X-Amz-Algorithm="
        "AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-east-1%2Fbedrock"
        "%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Security-Token=FwoGZXIvYXdz"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=0123abcd"
    )
    assert filter_uri(uri) == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke?X-Amz-Algorithm="
        "AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z&X-Amz-SignedHeaders=host"
    )


class _SigV4Upstream(BaseHTTPRequestHandler):
    """An upstream that checks each request's SigV4 signature as AWS does, for the host
    it was sent to, and answers a Converse body (or AWS's 403)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        valid = _signature_valid(self.command, self.path, dict(self.headers.items()), body)
        answer = (
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                "metrics": {"latencyMs": 1},
            }
            if valid
            else {"message": "The request signature we calculated does not match"}
        )
        data = json.dumps(answer).encode()
        self.send_response(200 if valid else 403)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        if not valid:
            self.send_header("x-amzn-errortype", "InvalidSignatureException")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _signature_valid(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "")
    fields = dict(part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    signed = fields["SignedHeaders"].split(";")
    request = AWSRequest(
        method=method,
        url=f"https://{lowered['host']}{path}",
        headers={name: lowered[name] for name in signed},
        data=body,
    )
    request.context["timestamp"] = lowered["x-amz-date"]
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "bedrock", "us-east-1")
    string_to_sign = auth.string_to_sign(request, auth.canonical_request(request))
    return bool(fields["Signature"] == auth.signature(string_to_sign, request))


@pytest.fixture
def sigv4_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SigV4Upstream)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_sigv4_signature_survives_the_proxy_when_signed_for_the_upstream_host(
    sigv4_upstream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SigV4 signs the host: boto3 pointed straight at the proxy signs the proxy's
    address, which the upstream refuses (and the proxy warns); boto3 sending through the
    proxy as its HTTP proxy signs the upstream's host, which passes (docs/recording.md)."""
    host = urlsplit(sigv4_upstream).netloc
    with RecordingProxy(sigv4_upstream, tmp_path / "c.yaml") as proxy:
        with pytest.raises(botocore.exceptions.ClientError, match="InvalidSignature"):
            _call(_client(proxy.url), "converse")
        assert "SigV4-signed for host" in capsys.readouterr().err
        via_proxy = _client(f"http://{host}", proxies={"http": proxy.url})
        assert _call(via_proxy, "converse")[1] == "end_turn"
    _assert_no_secret(tmp_path / "c.yaml")
    assert [i.status for i in load_cassette(tmp_path / "c.yaml")] == [403, 200]


def test_the_cassette_survives_any_binary_body(tmp_path: Path) -> None:
    """Event-stream bytes of every value (NUL, CR, invalid UTF-8) load back unchanged."""
    data = bytes(range(256)) * 3 + b"\x00\r\n\x85\xe2\x80\xa8"
    interaction = _interaction([data[:300], data[300:]])
    save_cassette(tmp_path / "c.yaml", [interaction])
    (loaded,) = load_cassette(tmp_path / "c.yaml")
    assert loaded.chunks == interaction.chunks
