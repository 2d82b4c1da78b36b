"""Amazon Bedrock Converse over a real socket, as boto3's ``bedrock-runtime`` client calls it.

``converse_stream`` (``POST /model/{modelId}/converse-stream``, an AWS event stream) and
``converse`` (``POST /model/{modelId}/converse``, the whole ``ConverseResponse``) are
pointed at the server (loopback, dummy AWS keys: SigV4 signs, nothing checks it). Every
built-in scenario is read through them: ``bedrock-converse`` scenarios are replayed byte
for byte, every other provider's are rendered as a Converse stream (or folded into a
``ConverseResponse``). What boto3 assembles (text, reasoning, tool calls, stop reason and
usage, in OpenAI terms) is compared with the scenario's ``expect``; what it raises on
each break is pinned in ``tests/sdk_behaviour.py`` (sdk ``boto3``). The exceptions and
error types the server sends are checked against botocore's own service model.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError
from botocore.model import OperationModel

from harness.mock.scenario import Scenario, ScenarioSet, load_scenarios, parse_scenario
from harness.testing import RunningServer, run_server
from tests import sdk_behaviour
from tests.test_sdk_conformance import (
    SCENARIOS,
    Seen,
    _expect,
    _params,
    _select,
    assert_answer,
    fault_kind,
)

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
)
MESSAGES: Any = [{"role": "user", "content": [{"text": "hi"}]}]
BY_NAME = {s.name: s for s in SCENARIOS}
ERRORTYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
FAULTS_HEADER = "x-harness-faults"

#: ``stopReason`` in OpenAI finish-reason terms.
CONVERSE_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}
#: The ``ConverseStreamOutput`` exception a rendered stream's break becomes, per the
#: source's error code (the renderer's rule, restated for the codes of the scenarios).
STREAM_EXCEPTION = {
    "overloaded_error": "serviceUnavailableException",
    "UNAVAILABLE": "serviceUnavailableException",
    "server_error": "internalServerException",
    "too_many_requests": "throttlingException",
    "connection_closed": "modelStreamErrorException",
}
#: The HTTP error ``/converse`` answers for a stream that broke with each exception.
FOLDED = {
    "throttlingException": ("ThrottlingException", 429),
    "serviceUnavailableException": ("ServiceUnavailableException", 503),
    "internalServerException": ("InternalServerException", 500),
    "validationException": ("ValidationException", 400),
    "modelStreamErrorException": ("ModelErrorException", 424),
}
#: The exception boto3 raises for an HTTP error answer of each status.
HTTP_EXCEPTION = {
    400: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    529: "ServiceUnavailableException",
}
#: The status Bedrock answers an upstream error with: the one its exception declares
#: (a model's 529 is a ServiceUnavailableException, 503).
WIRE_STATUS = {529: 503}


def _converse_scenario(name: str, model: str | None, steps: str) -> Scenario:
    match = f"match: {{model: '{model}'}}\n" if model else ""
    return parse_scenario(
        f"version: 1\nname: {name}\nprovider: bedrock-converse\n{match}events:\n{steps}"
    )


def _answer_steps(text: str) -> str:
    return (
        "  - {event: messageStart, data: {role: assistant}}\n"
        "  - {event: contentBlockDelta, data: {contentBlockIndex: 0, "
        f"delta: {{text: {text}}}}}}}\n"
        "  - {event: contentBlockStop, data: {contentBlockIndex: 0}}\n"
        "  - {event: messageStop, data: {stopReason: end_turn}}\n"
        "  - {event: metadata, data: {usage: {inputTokens: 1, outputTokens: 1, "
        "totalTokens: 2}, metrics: {latencyMs: 1}}}\n"
    )


#: Scenarios only a request for that model id (with its ':', and the ARN's '/') selects.
BY_MODEL = _converse_scenario("converse-by-model", MODEL, _answer_steps("by-model"))
BY_ARN = _converse_scenario("converse-by-arn", ARN, _answer_steps("by-arn"))
#: A body that ends properly, after a text delta but before messageStop and metadata.
CLEAN_CUT = _converse_scenario(
    "converse-clean-cut",
    None,
    "  - {event: messageStart, data: {role: assistant}}\n"
    "  - {event: contentBlockDelta, data: {contentBlockIndex: 0, delta: {text: half}}}\n",
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_server(ScenarioSet([*load_scenarios(), BY_MODEL, BY_ARN, CLEAN_CUT])) as running:
        yield running


def _root(server: RunningServer, scenario: str | None = None, test_id: str = "") -> str:
    return server.base_url(scenario, "bedrock-converse", test_id=test_id)


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


def _boto(endpoint: str | None = None, faults: str = "", attempts: int = 1) -> Any:
    """A bedrock-runtime client on ``endpoint``, sending ``faults`` in the faults header.

    ``total_max_attempts`` counts the first request (botocore's ``max_attempts`` does
    not: ``max_attempts: 1`` is one retry).
    """
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIAHARNESSFAKE00000",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )
    if faults:
        client.meta.events.register(
            "before-send.bedrock-runtime.*",
            lambda request, **_: request.headers.__setitem__(FAULTS_HEADER, faults),
        )
    _CLIENTS.append(client)
    return client


@functools.cache
def _operation(name: str) -> OperationModel:
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    try:
        return client.meta.service_model.operation_model(name)
    finally:
        client.close()


def _stream_members() -> dict[str, bool]:
    """The members of ``ConverseStreamOutput``: name -> whether it is an exception."""
    union = _operation("ConverseStream").output_shape.members["stream"]
    return {name: bool(shape.metadata.get("exception")) for name, shape in union.members.items()}


def _declared_errors(operation: str) -> dict[str, int]:
    """The exceptions the service model declares for ``operation``, and their status."""
    return {
        shape.name: shape.metadata["error"]["httpStatusCode"]
        for shape in _operation(operation).error_shapes
    }


# --- what boto3 assembled -------------------------------------------------------------------


def _usage(usage: dict[str, int]) -> dict[str, int]:
    """Converse's ``TokenUsage`` in OpenAI terms: cached input is part of the prompt."""
    cached = usage.get("cacheReadInputTokens", 0) + usage.get("cacheWriteInputTokens", 0)
    return {
        "prompt_tokens": usage["inputTokens"] + cached,
        "completion_tokens": usage["outputTokens"],
        "total_tokens": usage["totalTokens"],
    }


def _take(seen: Seen, event: dict[str, Any]) -> None:
    [(kind, body)] = event.items()
    seen.events.append(kind)
    if kind == "contentBlockStart" and "toolUse" in body["start"]:
        seen.calls[body["contentBlockIndex"]] = [body["start"]["toolUse"]["name"], ""]
    elif kind == "contentBlockDelta":
        delta = body["delta"]
        seen.text += delta.get("text", "")
        seen.reasoning += delta.get("reasoningContent", {}).get("text", "")
        if "toolUse" in delta:
            seen.calls[body["contentBlockIndex"]][1] += delta["toolUse"]["input"]
    elif kind == "messageStop":
        seen.finish_reason = CONVERSE_STOP[body["stopReason"]]
    elif kind == "metadata" and "usage" in body:
        seen.usage = _usage(body["usage"])


def stream_converse(client: Any, model: str = MODEL) -> tuple[Seen, list[dict[str, Any]]]:
    """``converse_stream`` read to its end: what it assembled (and raised), and the events."""
    seen, events = Seen(), []
    try:
        response = client.converse_stream(modelId=model, messages=MESSAGES)
        _STREAMS.append(response["stream"])
        for event in response["stream"]:
            events.append(event)
            _take(seen, event)
    except Exception as exc:
        seen.error = exc
    return seen, events


def converse_whole(client: Any, model: str = MODEL) -> Seen:
    """``converse``: the ``ConverseResponse`` in OpenAI terms, or what it raised."""
    try:
        response = client.converse(modelId=model, messages=MESSAGES)
    except Exception as exc:
        return Seen(error=exc)
    seen = Seen(finish_reason=CONVERSE_STOP[response["stopReason"]])
    seen.usage = _usage(response["usage"])
    for index, block in enumerate(response["output"]["message"]["content"]):
        seen.text += block.get("text", "")
        seen.reasoning += block.get("reasoningContent", {}).get("reasoningText", {}).get("text", "")
        if "toolUse" in block:
            seen.calls[index] = [block["toolUse"]["name"], block["toolUse"]["input"]]
    return seen


def _error(seen: Seen) -> dict[str, Any]:
    assert isinstance(seen.error, ClientError), repr(seen.error)
    return seen.error.response


# --- every scenario, through converse_stream and converse ------------------------------------


def _no_error(seen: Seen) -> None:
    # anthropic/529-then-200: the 529 goes out as the 503 Bedrock sends, which botocore
    # retries (it would not retry a 529).
    assert seen.error is None, repr(seen.error)


ANSWERS = _select(kind="answer")
FAULTS = _select(kind="fault")
STATUSES = _select(kind="status")


def test_the_route_serves_every_scenario() -> None:
    """The three lists below cover every built-in scenario: none is left out."""
    assert len(ANSWERS) + len(FAULTS) + len(STATUSES) == len(SCENARIOS)
    assert {s.provider for s in SCENARIOS} >= {"bedrock-converse", "anthropic", "openai"}


@_params(ANSWERS)
def test_converse_stream_answers(server: RunningServer, scenario: Scenario) -> None:
    """Each complete answer streams as ``expect`` says; a ``responses`` sequence is
    retried by botocore (429 / 503 then 200: one request per answer)."""
    test_id = str(uuid.uuid4())
    client = _boto(_root(server, scenario.name, test_id), attempts=len(scenario.answers))
    seen, _ = stream_converse(client)
    _no_error(seen)
    assert_answer(seen, _expect(scenario))
    assert seen.events[0] == "messageStart"
    assert seen.events[-2:] == ["messageStop", "metadata"]
    entries = server.entries(test_id)
    assert [e.status for e in entries] == [
        WIRE_STATUS.get(a.status, a.status) for a in scenario.answers
    ]
    assert {(e.family, e.scenario, e.path) for e in entries} == {
        ("bedrock-converse", scenario.name, f"/model/{MODEL}/converse-stream")
    }


@_params(ANSWERS)
def test_converse_answers(server: RunningServer, scenario: Scenario) -> None:
    """``converse`` gets the whole answer: the same text, tool calls, stop and usage."""
    test_id = str(uuid.uuid4())
    client = _boto(_root(server, scenario.name, test_id), attempts=len(scenario.answers))
    seen = converse_whole(client)
    _no_error(seen)
    assert_answer(seen, _expect(scenario))
    [entry, *_] = server.entries(test_id)
    assert entry.path == f"/model/{MODEL}/converse"


def _stream_exception(scenario: Scenario) -> str | None:
    """The exception message a broken stream ends with (``None``: a raw cut, no message)."""
    code = _expect(scenario).error.code  # type: ignore[union-attr]
    assert code is not None
    if scenario.provider != "bedrock-converse":
        return STREAM_EXCEPTION[code]
    return None if fault_kind(scenario) == "abrupt_cut" else code


@_params(FAULTS)
def test_converse_stream_faults(server: RunningServer, scenario: Scenario) -> None:
    """A broken 200 stream: the text before the break, then botocore raises the
    exception message as ``EventStreamError`` (its type the error code); a raw cut
    inside a frame leaks urllib3's ``ProtocolError`` (tests/sdk_behaviour.py)."""
    seen, _ = stream_converse(_boto(_root(server, scenario.name)))
    assert seen.text == (_expect(scenario).text or "")
    assert "messageStop" not in seen.events
    assert "metadata" not in seen.events
    exception = _stream_exception(scenario)
    if exception is None:
        sdk_behaviour.check("boto3", "converse_abrupt_cut", scenario.name, seen.error)
        return
    sdk_behaviour.check("boto3", "converse_exception_frame", scenario.name, seen.error)
    assert isinstance(seen.error, EventStreamError)
    assert seen.error.response["Error"]["Code"] == exception
    if "first-frame" in scenario.name:
        assert seen.events == []  # no messageStart: the exception is the first message


@_params(FAULTS)
def test_converse_folds_a_broken_stream_into_an_http_error(
    server: RunningServer, scenario: Scenario
) -> None:
    """``converse`` answers a broken stream with the HTTP error of its exception (a raw
    cut: 500 InternalServerException), which boto3 raises as that exception."""
    seen = converse_whole(_boto(_root(server, scenario.name)))
    exception = _stream_exception(scenario)
    code, status = FOLDED[exception] if exception else ("InternalServerException", 500)
    error = _error(seen)
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code + ERRORTYPE_SUFFIX
    assert type(seen.error).__name__ == code  # the client's modelled exception class
    assert code in _declared_errors("Converse")


@pytest.mark.parametrize("call", ["converse_stream", "converse"])
@_params(STATUSES)
def test_http_errors(server: RunningServer, scenario: Scenario, call: str) -> None:
    """An HTTP error answer raises the modelled ``ClientError`` of its status."""
    status = _expect(scenario).error.status  # type: ignore[union-attr]
    test_id = str(uuid.uuid4())
    client = _boto(_root(server, scenario.name, test_id))
    seen = stream_converse(client)[0] if call == "converse_stream" else converse_whole(client)
    if status == 429:
        sdk_behaviour.check("boto3", "http_429", f"{scenario.name} {call}", seen.error)
    error = _error(seen)
    wire = WIRE_STATUS.get(status, status)
    assert error["Error"]["Code"] == HTTP_EXCEPTION[status]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == wire
    header = error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"]
    assert header == HTTP_EXCEPTION[status] + ERRORTYPE_SUFFIX
    assert [e.status for e in server.entries(test_id)] == [wire]  # no retry


#: Every error answer of the route: the status scenarios, and the folds of the broken
#: streams on /converse.
ERROR_ANSWERS = [(s.name, "converse-stream") for s in STATUSES] + [
    (s.name, "converse") for s in [*STATUSES, *FAULTS]
]


@pytest.mark.parametrize(("name", "action"), ERROR_ANSWERS, ids=map("-".join, ERROR_ANSWERS))
def test_every_error_answer_is_declared_by_the_service_model(
    server: RunningServer, name: str, action: str
) -> None:
    """x-amzn-errortype names an exception botocore's model declares for the operation,
    with the HTTP status the model gives it (``httpStatusCode``): a model's 529 goes
    out as ServiceUnavailableException's 503.
    """
    answer = httpx.post(
        f"{server.url}/s/{name}/model/{MODEL}/{action}", json={"messages": MESSAGES}, timeout=10
    )
    assert answer.status_code >= 400
    exception, _, suffix = answer.headers["x-amzn-errortype"].partition(":")
    assert ":" + suffix == ERRORTYPE_SUFFIX
    declared = _declared_errors("ConverseStream" if action == "converse-stream" else "Converse")
    assert exception in declared
    assert set(answer.json()) == {"message"}
    assert answer.status_code == declared[exception], (
        f"{name}: HTTP {answer.status_code} names {exception}, declared as "
        f"{declared[exception]} by botocore's service model"
    )


# --- the bytes, decoded by botocore -----------------------------------------------------------

#: The exceptions of ConverseStreamOutput (test_the_exceptions_are_the_models checks them).
STREAM_EXCEPTIONS = tuple(FOLDED)
RAW_CASES = [(s.name, "") for s in [*ANSWERS, *FAULTS] if len(s.answers) == 1] + [
    (name, f"error_after=2; error_type={exception}")
    for name in ("bedrock-converse/text", "openai/text")
    for exception in STREAM_EXCEPTIONS
]


def test_the_exceptions_are_the_models() -> None:
    members = _stream_members()
    assert {name for name, exception in members.items() if exception} == set(STREAM_EXCEPTIONS)
    assert set(_declared_errors("Converse")) >= {code for code, _ in FOLDED.values()}


def _raw(server: RunningServer, name: str, faults: str = "") -> tuple[httpx.Response, bytes]:
    """The bytes of a converse-stream answer, up to where the connection was cut."""
    url = f"{server.url}/s/{name}/model/{MODEL}/converse-stream"
    headers = {FAULTS_HEADER: faults} if faults else {}
    data = b""
    with httpx.stream("POST", url, json={"messages": MESSAGES}, headers=headers, timeout=10) as got:
        try:
            for chunk in got.iter_raw():
                data += chunk
        except httpx.RemoteProtocolError:
            pass  # a cut: keep what arrived
    return got, data


def _frame_ends(data: bytes) -> list[int]:
    """Where each complete event-stream message ends (its prelude's total length)."""
    ends, offset = [], 0
    while offset + 4 <= len(data):
        offset += int.from_bytes(data[offset : offset + 4], "big")
        if offset <= len(data):
            ends.append(offset)
    return ends


@pytest.mark.parametrize(("name", "faults"), RAW_CASES, ids=[f"{n}-{f}" for n, f in RAW_CASES])
def test_every_message_is_a_member_of_converse_stream_output(
    server: RunningServer, name: str, faults: str
) -> None:
    """Decoded by botocore's EventStreamBuffer, every message is an event or exception
    of ``ConverseStreamOutput``; an exception is the last message, payload ``{message}``."""
    answer, data = _raw(server, name, faults)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    messages = list(buffer)
    assert len(messages) == len(_frame_ends(data))
    members = _stream_members()
    kinds = []
    for message in messages:
        kind = message.headers[":message-type"]
        assert kind in ("event", "exception")
        member = message.headers[":event-type" if kind == "event" else ":exception-type"]
        assert members[member] == (kind == "exception"), member
        assert message.headers[":content-type"] == "application/json"
        kinds.append(kind)
        if kind == "exception":
            assert "message" in json.loads(message.payload)
    assert "exception" not in kinds[:-1]
    if faults:
        assert messages[-1].headers[":exception-type"] == faults.rpartition("=")[2]
    elif name in BY_NAME and BY_NAME[name] in FAULTS:
        assert (kinds[-1] == "exception") == (_stream_exception(BY_NAME[name]) is not None)


# --- faults on the route --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "frames", "default"),
    # Content faults act on the scenario's own stream: error_after counts its events
    # (Anthropic's message_start and content_block_start render as one messageStart),
    # and the default error is its provider's (Anthropic: overloaded_error, "Overloaded").
    [
        (
            "bedrock-converse/text",
            2,
            ("modelStreamErrorException", "The model stream failed. Try your request again."),
        ),
        ("anthropic/text", 1, ("serviceUnavailableException", "Overloaded")),
    ],
)
@pytest.mark.parametrize("error_type", [None, "throttlingException"])
def test_error_after_gives_n_frames_then_the_exception(
    server: RunningServer, name: str, frames: int, default: tuple[str, str], error_type: str | None
) -> None:
    """``error_after=2``: two events of the scenario, then the exception message
    (the default one, unless ``error_type`` names another); ``converse`` raises its fold."""
    _, whole = stream_converse(_boto(_root(server, name)))
    faults = "error_after=2" + (f"; error_type={error_type}" if error_type else "")
    seen, events = stream_converse(_boto(_root(server, name), faults))
    assert events == whole[:frames]
    sdk_behaviour.check("boto3", "converse_exception_frame", f"{name} {faults}", seen.error)
    assert isinstance(seen.error, EventStreamError)
    assert seen.error.response["Error"] == {"Code": error_type or default[0], "Message": default[1]}
    folded = converse_whole(_boto(_root(server, name), faults + "; error_message=boom"))
    code, status = FOLDED[error_type or default[0]]
    if error_type == "throttlingException":
        sdk_behaviour.check("boto3", "converse_in_stream_error", f"{name} {faults}", folded.error)
    error = _error(folded)
    assert error["Error"] == {"Code": code, "Message": "boom"}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status


def test_converse_raises_the_throttling_of_a_recorded_stream(server: RunningServer) -> None:
    name = "bedrock-converse/throttling-midstream"
    seen = converse_whole(_boto(_root(server, name)))
    sdk_behaviour.check("boto3", "converse_in_stream_error", name, seen.error)
    assert _error(seen)["Error"]["Message"] == "Too many tokens, please wait before trying again."


@pytest.mark.parametrize("name", ["bedrock-converse/tool-use", "openai/tool-calls-parallel"])
def test_disconnects_leak_urllib3s_protocol_error(server: RunningServer, name: str) -> None:
    """A connection dropped between frames or inside one: the frames before it, then
    urllib3's ProtocolError out of the iteration (not a botocore exception). Wire faults
    do not apply to a whole answer: ``converse`` answers as without them (as on every
    route's non-streaming answer)."""
    _, whole = stream_converse(_boto(_root(server, name)))
    answer = converse_whole(_boto(_root(server, name)))
    _, data = _raw(server, name)
    inside = _frame_ends(data)[2] + 10  # 10 bytes into the fourth frame
    cases = [
        ("disconnect_after=3", "converse_cut_between_frames"),
        (f"disconnect_after_bytes={inside}", "converse_abrupt_cut"),
    ]
    for faults, key in cases:
        seen, events = stream_converse(_boto(_root(server, name), faults))
        assert events == whole[:3], faults
        sdk_behaviour.check("boto3", key, f"{name} {faults}", seen.error)
        assert converse_whole(_boto(_root(server, name), faults)) == answer


@pytest.mark.parametrize(
    "faults", ["chunking=byte", "chunking=random; seed=7; max_chunk=5", "chunking=random; seed=8"]
)
@pytest.mark.parametrize("name", ["bedrock-converse/reasoning", "gemini/tool-calls-parallel"])
def test_chunking_changes_no_event(server: RunningServer, name: str, faults: str) -> None:
    whole_seen, whole = stream_converse(_boto(_root(server, name)))
    seen, events = stream_converse(_boto(_root(server, name), faults))
    assert seen.error is None
    assert events == whole
    assert seen == whole_seen
    assert _raw(server, name, faults)[1] == _raw(server, name)[1]


@pytest.mark.parametrize("call", ["converse_stream", "converse"])
def test_an_http_error_fault_raises_throttling(server: RunningServer, call: str) -> None:
    test_id = str(uuid.uuid4())
    client = _boto(_root(server, "bedrock-converse/text", test_id), "http_error=429")
    seen = stream_converse(client)[0] if call == "converse_stream" else converse_whole(client)
    sdk_behaviour.check("boto3", "http_429", f"http_error=429 {call}", seen.error)
    error = _error(seen)
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert [e.status for e in server.entries(test_id)] == [429]


def test_drop_usage_removes_the_metadata_usage(server: RunningServer) -> None:
    name = "bedrock-converse/usage-cache"
    whole_seen, whole = stream_converse(_boto(_root(server, name)))
    seen, events = stream_converse(_boto(_root(server, name), "drop_usage=true"))
    assert whole_seen.usage is not None
    assert seen.error is None
    assert seen.usage is None
    assert events[:-1] == whole[:-1]
    metadata = dict(whole[-1]["metadata"])
    del metadata["usage"]
    assert events[-1] == {"metadata": metadata}


def test_drop_usage_on_a_rendered_stream_gives_the_estimate(server: RunningServer) -> None:
    """The source's usage is dropped; the renderer's ``metadata`` always reports usage,
    estimated (as on the OpenAI route): completion tokens counted, no prompt, no cache."""
    name = "anthropic/usage-cache"
    seen, events = stream_converse(_boto(_root(server, name), "drop_usage=true"))
    assert seen.error is None
    assert seen.text == _expect(BY_NAME[name]).text
    usage = events[-1]["metadata"]["usage"]
    assert set(usage) == {"inputTokens", "outputTokens", "totalTokens"}
    assert usage["inputTokens"] == 0
    assert usage["totalTokens"] == usage["outputTokens"] > 0


@pytest.mark.parametrize(
    ("call", "faults", "wanted"),
    [
        (
            "converse_stream",
            "keepalive_every=1",
            "keep-alive faults cannot apply to a Bedrock Converse stream",
        ),
        *[
            (call, "error_after=1; error_type=overloaded_error", "error_type 'overloaded_error'")
            for call in ("converse_stream", "converse")
        ],
    ],
)
def test_faults_a_converse_stream_cannot_carry_are_refused(
    server: RunningServer, call: str, faults: str, wanted: str
) -> None:
    """400 ValidationException: keep-alives (an event stream has no comments; a whole
    answer ignores them, as every wire fault) and an error type that is not a member
    of ``ConverseStreamOutput``."""
    client = _boto(_root(server, "bedrock-converse/text"), faults)
    seen = stream_converse(client)[0] if call == "converse_stream" else converse_whole(client)
    error = _error(seen)
    assert error["Error"]["Code"] == "ValidationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"].startswith(wanted)


def test_a_clean_cut_ends_the_iteration_silently(server: RunningServer) -> None:
    """A body that ends properly before messageStop: boto3 just stops iterating (no
    exception, no stop reason: the application must notice the missing messageStop);
    ``converse`` answers 500 InternalServerException."""
    seen, events = stream_converse(_boto(_root(server, CLEAN_CUT.name)))
    sdk_behaviour.check("boto3", "converse_clean_cut", CLEAN_CUT.name, seen.error)
    assert [list(e) for e in events] == [["messageStart"], ["contentBlockDelta"]]
    assert (seen.text, seen.finish_reason, seen.usage) == ("half", None, None)
    error = _error(converse_whole(_boto(_root(server, CLEAN_CUT.name))))
    assert error["Error"]["Code"] == "InternalServerException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500


# --- model ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "scenario", "encoded"),
    [(MODEL, BY_MODEL, "v1%3A0/"), (ARN, BY_ARN, "inference-profile%2Fus.anthropic")],
    ids=["colon", "arn"],
)
def test_model_ids_route_and_select_by_match(
    server: RunningServer, model: str, scenario: Scenario, encoded: str
) -> None:
    """boto3 percent-encodes the model id (':' and the ARN's '/'); it arrives decoded,
    routes, and selects the scenario whose ``match.model`` it is."""
    test_id = str(uuid.uuid4())
    client = _boto(f"{server.url}/t/{test_id}")
    sent: list[str] = []
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: sent.append(request.url)
    )
    seen, _ = stream_converse(client, model)
    assert seen.error is None
    assert seen.text == scenario.name.removeprefix("converse-")
    assert converse_whole(client, model).text == seen.text
    assert all(encoded in url for url in sent), sent
    entries = server.entries(test_id)
    assert [(e.path, e.family, e.scenario, e.status) for e in entries] == [
        (f"/model/{model}/{action}", "bedrock-converse", scenario.name, 200)
        for action in ("converse-stream", "converse")
    ]
    assert entries[0].headers["authorization"] == "***"
    assert "AKIAHARNESSFAKE00000" not in str(server.requests(test_id))
