"""Bedrock Converse in the core: the adapter, the renderer, the whole answer, the replay.

Every stream is decoded with botocore's own ``EventStreamBuffer`` where the test reads
what harness writes; boto3 end to end is in ``tests/test_bedrock_converse.py``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer

from harness.errors import FaultSpecError, ScenarioError
from harness.mock.golden import eventstream_view
from harness.mock.replay import build_plan, encode_step, parse_faults
from harness.mock.scenario import Scenario, load_scenarios, parse_scenario
from harness.stream.aggregate import converse_answer, reported_usage
from harness.stream.bedrock import ConverseEvents, converse_frame
from harness.stream.events import (
    Delta,
    Done,
    KeepAlive,
    Metadata,
    StreamError,
    ToolCallDelta,
    Usage,
)
from harness.stream.eventstream import EventStreamMessage, encode
from harness.stream.pipeline import Normalizer, normalize
from harness.stream.provider_errors import CONVERSE_EXCEPTIONS, stream_error_event
from harness.stream.renderers.bedrock_converse import ConverseRenderer, exception_for

Frame = tuple[str, dict[str, Any]]


def frame(name: str, body: dict[str, Any]) -> bytes:
    return converse_frame(name, json.dumps(body, separators=(",", ":")).encode())


def parsed(stream: bytes) -> list[Frame]:
    """botocore's reading: (event or exception type, payload) per message."""
    buffer = EventStreamBuffer()
    buffer.add_data(stream)
    out = []
    for message in buffer:
        headers = message.headers
        kind = headers[":message-type"]
        assert headers[":content-type"] == "application/json"
        name = headers[":exception-type" if kind == "exception" else ":event-type"]
        out.append((name, json.loads(message.payload)))
    return out


TEXT = b"".join(
    [
        frame("messageStart", {"role": "assistant"}),
        frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi "}, "p": "ab"}),
        frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "thére"}}),
        frame("contentBlockStop", {"contentBlockIndex": 0}),
        frame("messageStop", {"stopReason": "end_turn"}),
        frame(
            "metadata",
            {
                "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
                "metrics": {"latencyMs": 99},
            },
        ),
    ]
)

TOOL = b"".join(
    [
        frame("messageStart", {"role": "assistant"}),
        frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}},
        ),
        frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}},
        ),
        frame("contentBlockStop", {"contentBlockIndex": 0}),
        frame(
            "contentBlockStart",
            {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "f"}}},
        ),
        frame(
            "contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a"'}}}
        ),
        frame(
            "contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ": 1}"}}}
        ),
        frame("contentBlockStop", {"contentBlockIndex": 1}),
        frame("messageStop", {"stopReason": "tool_use", "additionalModelResponseFields": {"x": 1}}),
        frame(
            "metadata",
            {
                "usage": {
                    "inputTokens": 10,
                    "outputTokens": 4,
                    "totalTokens": 114,
                    "cacheReadInputTokens": 64,
                    "cacheWriteInputTokens": 36,
                },
                "metrics": {"latencyMs": 7},
            },
        ),
    ]
)


def events(stream: bytes) -> list[Any]:
    """The normalized events the adapter gives for a whole stream."""
    from harness.stream.adapters import get_adapter

    adapter = get_adapter("bedrock-converse")
    out: list[Any] = []
    for event in ConverseEvents().feed_items(stream):
        out += adapter.feed(event)  # type: ignore[arg-type]
    return out


# --- the adapter -----------------------------------------------------------------


def test_the_adapter_reads_text_and_usage() -> None:
    assert events(TEXT) == [
        Delta(role="assistant", content=""),
        Delta(content="Hi "),
        Delta(content="thére"),
        Delta(finish_reason="stop"),
        Done(Usage(5, 3, 8)),
    ]


def test_the_adapter_reads_reasoning_tools_and_cached_usage() -> None:
    got = events(TOOL)
    assert got[1] == Delta(reasoning_content="hm")
    assert got[2] == Delta(
        tool_calls=(ToolCallDelta(0, id="tooluse_1", type="function", name="f", arguments=""),)
    )
    assert [d.tool_calls[0].arguments for d in got[3:5]] == ['{"a"', ": 1}"]
    assert got[5] == Delta(finish_reason="tool_calls")
    usage = got[6].usage
    # OpenAI's prompt count includes cached input, reads and writes; cached = the reads.
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (110, 4, 114)
    assert usage.prompt_tokens_details == {"cached_tokens": 64}


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "stop"),
    ],
)
def test_every_stop_reason_has_a_finish_reason(reason: str, finish: str) -> None:
    assert events(frame("messageStop", {"stopReason": reason})) == [Delta(finish_reason=finish)]


def test_an_exception_message_is_a_provider_error() -> None:
    stream = converse_frame("throttlingException", b'{"message":"slow down"}')
    assert events(stream) == [
        StreamError("provider_error", "throttlingException", "slow down", "bedrock-converse")
    ]


def test_an_aws_error_message_is_a_provider_error_with_its_code() -> None:
    message = EventStreamMessage(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}
    )
    [error] = events(encode(message))
    assert (error.code, error.message) == ("InternalFailure", "boom")


def test_unknown_events_and_stops_are_ignored() -> None:
    assert events(frame("contentBlockStop", {"contentBlockIndex": 0})) == []
    assert events(frame("somethingNew", {"a": 1})) == []
    image = {"contentBlockIndex": 0, "delta": {"image": {"x": 1}}}
    assert events(frame("contentBlockDelta", image)) == []


def test_a_stream_without_metadata_is_cut() -> None:
    out = b"".join(
        normalize(
            "bedrock-converse",
            [
                TEXT[
                    : TEXT.rindex(
                        frame(
                            "metadata",
                            {
                                "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
                                "metrics": {"latencyMs": 99},
                            },
                        )
                    )
                ]
            ],
        )
    )
    assert b'"code":"connection_closed"' in out
    assert b"before metadata" in out


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_any_split_gives_the_same_normalized_stream(size: int) -> None:
    whole = b"".join(normalize("bedrock-converse", [TOOL]))
    pieces = [TOOL[i : i + size] for i in range(0, len(TOOL), size)]
    assert b"".join(normalize("bedrock-converse", pieces)) == whole
    assert b"[DONE]" in whole


def test_broken_framing_is_a_parse_error_after_the_good_messages() -> None:
    first = frame("messageStart", {"role": "assistant"})
    second = bytearray(frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}))
    second[-1] ^= 0xFF  # the message CRC
    normalizer = Normalizer("bedrock-converse")
    out = normalizer.feed(first + bytes(second) + TEXT)
    assert len(out) == 2  # the role chunk, then the error
    error = json.loads(out[-1][6:])["error"]
    assert error["code"] == "parse_error"
    assert error["message"].startswith("after event 1: ")
    assert "CRC" in error["message"]
    assert normalizer.closed
    assert normalizer.feed(TEXT) == []
    assert normalizer.finish() == []


def test_bad_json_names_the_event() -> None:
    stream = frame("messageStart", {"role": "assistant"}) + converse_frame("metadata", b"{nope")
    out = b"".join(normalize("bedrock-converse", [stream]))
    assert b'"code":"parse_error"' in out
    assert b"event 2: data is not valid JSON" in out


def test_reported_usage_reads_the_event_stream() -> None:
    assert reported_usage("bedrock-converse", TEXT) == Usage(5, 3, 8)
    assert reported_usage("bedrock-converse", TEXT[:40]) is None


# --- the renderer ----------------------------------------------------------------


def render(*stream_events: Any, **options: Any) -> list[Frame]:
    renderer = ConverseRenderer(**options)
    out = b"".join(b"".join(renderer.render(event)) for event in stream_events)
    assert renderer.closed == isinstance(stream_events[-1], Done | StreamError)
    return parsed(out)


def test_text_then_tools_are_blocks_in_order() -> None:
    got = render(
        Metadata(id="x", model="m"),
        Delta(role="assistant", content=""),
        KeepAlive(),
        Delta(content="Hi"),
        Delta(
            tool_calls=(ToolCallDelta(0, id="toolu_1", type="function", name="f", arguments=""),)
        ),
        Delta(tool_calls=(ToolCallDelta(0, arguments='{"a":'),)),
        Delta(tool_calls=(ToolCallDelta(1, name="g", arguments="{}"),)),
        Delta(tool_calls=(ToolCallDelta(0, arguments="1}"),)),  # interleaved: its old index
        Delta(finish_reason="tool_calls"),
        Done(Usage(9, 4, 13)),
    )
    assert got == [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        (
            "contentBlockStart",
            {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "toolu_1", "name": "f"}}},
        ),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a":'}}}),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        (
            "contentBlockStart",
            {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "g"}}},
        ),
        ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{}"}}}),
        ("contentBlockStop", {"contentBlockIndex": 2}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "1}"}}}),
        ("messageStop", {"stopReason": "tool_use"}),
        (
            "metadata",
            {
                "usage": {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13},
                "metrics": {"latencyMs": 0},
            },
        ),
    ]


def test_reasoning_then_text_then_text_again_after_a_refusal() -> None:
    got = render(
        Delta(reasoning_content="think", content="say"),
        Delta(content=""),  # an empty fragment opens nothing
        Delta(refusal="no"),  # Converse has no refusal block: text
        Done(),
    )
    names = [(name, body.get("contentBlockIndex"), body.get("delta")) for name, body in got]
    assert names[:6] == [
        ("messageStart", None, None),
        ("contentBlockDelta", 0, {"reasoningContent": {"text": "think"}}),
        ("contentBlockStop", 0, None),
        ("contentBlockDelta", 1, {"text": "say"}),
        ("contentBlockDelta", 1, {"text": "no"}),
        ("contentBlockStop", 1, None),
    ]
    assert got[6] == ("messageStop", {"stopReason": "end_turn"})  # complete, no finish


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
     ("function_call", "tool_use"), ("content_filter", "content_filtered"), ("odd", "end_turn")],
)  # fmt: skip
def test_finish_reasons_become_stop_reasons(finish: str, reason: str) -> None:
    got = render(Delta(content="x"), Delta(finish_reason=finish), Delta(content="late"), Done())
    assert ("messageStop", {"stopReason": reason}) in got
    assert all(body.get("delta") != {"text": "late"} for _, body in got)  # after the stop


def test_usage_is_estimated_and_cached_tokens_are_apart() -> None:
    [*_, (_, estimated)] = render(Delta(content="x" * 9), Done(), prompt_tokens=4)
    assert estimated["usage"] == {"inputTokens": 4, "outputTokens": 3, "totalTokens": 7}
    cached = Usage(100, 5, 105, prompt_tokens_details={"cached_tokens": 60})
    [*_, (_, reported)] = render(Done(cached))
    assert reported["usage"] == {
        "inputTokens": 40,
        "outputTokens": 5,
        "totalTokens": 105,
        "cacheReadInputTokens": 60,
    }


def test_only_choice_zero_is_rendered() -> None:
    got = render(Delta(index=1, content="other"), Delta(content="mine"), Done())
    assert [body.get("delta") for _, body in got if "delta" in body] == [{"text": "mine"}]


@pytest.mark.parametrize(
    ("code", "exception"),
    [
        ("rate_limit_error", "throttlingException"),
        ("RESOURCE_EXHAUSTED", "throttlingException"),
        ("overloaded_error", "serviceUnavailableException"),
        ("UNAVAILABLE", "serviceUnavailableException"),
        ("server_error", "internalServerException"),
        ("invalid_request_error", "validationException"),
        ("validationException", "validationException"),
        ("connection_closed", "modelStreamErrorException"),
        ("parse_error", "modelStreamErrorException"),
        ("timeout_error", "modelStreamErrorException"),
    ],
)
def test_a_stream_error_is_an_exception_of_the_union(code: str, exception: str) -> None:
    assert exception_for(code) == exception
    assert exception in CONVERSE_EXCEPTIONS
    got = render(Delta(content="x"), StreamError("provider_error", code, "bad", "anthropic"))
    assert got[-1] == (exception, {"message": "bad"})
    assert [name for name, _ in got] == ["messageStart", "contentBlockDelta", exception]


def test_an_error_before_anything_is_the_only_message() -> None:
    got = render(StreamError("provider_error", "overloaded_error", "Overloaded", "anthropic"))
    assert got == [("serviceUnavailableException", {"message": "Overloaded"})]


def test_a_lone_surrogate_is_escaped_not_fatal() -> None:
    got = render(Delta(content="a\ud800b"), Done())
    assert got[1][1]["delta"] == {"text": "a\ud800b"}


@pytest.mark.parametrize(
    "name", ["text", "tool-use", "reasoning", "usage-cache"], ids=lambda n: f"bedrock-converse/{n}"
)
def test_a_converse_stream_survives_the_round_trip(name: str) -> None:
    """Converse in, Converse out: the same events but for what the normalized events
    do not carry (the p padding, the reasoning signature, the latency)."""
    scenario = load_scenarios().get(f"bedrock-converse/{name}")
    assert scenario is not None
    raw = b"".join(
        encode_step(s, provider="bedrock-converse") for s in scenario.answers[0].events or []
    )
    again = b"".join(normalize("bedrock-converse", [raw], renderer="bedrock-converse"))

    def kept(frames: list[Frame]) -> list[Frame]:
        out = []
        for name, body in frames:
            body = {k: v for k, v in body.items() if k not in ("p", "metrics")}
            if "signature" in json.dumps(body):
                continue
            if name == "metadata":
                body["usage"].pop("cacheWriteInputTokens", None)  # folded into the prompt
            out.append((name, body))
        return out

    original, rendered = kept(parsed(raw)), kept(parsed(again))
    if name.endswith("usage-cache"):
        original[-1][1]["usage"]["inputTokens"] += 48  # the cache writes, now uncached input
    tool_use = name.endswith("tool-use")
    assert rendered == [
        f for f in original if not (tool_use and f[1].get("delta") == {"toolUse": {"input": ""}})
    ]


# --- the whole answer ------------------------------------------------------------


def test_the_whole_answer_folds_text_and_usage() -> None:
    status, body = converse_answer(TEXT)
    assert status == 200
    assert body == {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hi thére"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
        "metrics": {"latencyMs": 99},
    }


def test_the_whole_answer_keeps_reasoning_signature_and_tool_input() -> None:
    status, body = converse_answer(TOOL)
    assert status == 200
    assert body["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "c2ln"}}},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"a": 1}}},
    ]
    assert body["stopReason"] == "tool_use"
    assert body["additionalModelResponseFields"] == {"x": 1}


@pytest.mark.parametrize(("name", "status"), list(CONVERSE_EXCEPTIONS.items()))
def test_an_exception_is_the_status_it_stands_for(name: str, status: int) -> None:
    stream = frame("messageStart", {"role": "assistant"})
    got = converse_answer(stream + converse_frame(name, b'{"message":"m"}'))
    assert got == (status, {"message": "m"})


@pytest.mark.parametrize(
    "stream",
    [
        TEXT[:-10],
        frame("metadata", {}).replace(b"metadata", b"metadatb"),
        frame(
            "contentBlockStart",
            {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}},
        )
        + frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{"}}})
        + frame("metadata", {}),
    ],
    ids=["cut", "bad-crc", "bad-tool-json"],
)
def test_a_broken_stream_is_an_internal_server_error(stream: bytes) -> None:
    status, body = converse_answer(stream)
    assert status == 500
    assert set(body) == {"message"}
    assert body["message"]


# --- errors, replay and faults ----------------------------------------------------


def test_the_in_stream_error_of_converse() -> None:
    assert stream_error_event("bedrock-converse") == (
        "modelStreamErrorException",
        '{"message":"The model stream failed. Try your request again."}',
    )
    assert stream_error_event("bedrock-converse", type="throttlingException", message="m") == (
        "throttlingException",
        '{"message":"m"}',
    )
    with pytest.raises(FaultSpecError, match="not an exception of a Bedrock Converse stream"):
        stream_error_event("bedrock-converse", type="overloaded_error")


def scenario(name: str) -> Scenario:
    found = load_scenarios().get(name)
    assert found is not None
    return found


def plan(
    name: str, faults: str = "", *, target: str = "bedrock-converse", stream: bool = True
) -> Any:
    found = scenario(name)
    return build_plan(
        found,
        found.answers[-1],
        target=target,  # type: ignore[arg-type]
        stream=stream,
        faults=parse_faults(faults) if faults else None,
    )


def test_a_converse_scenario_replays_as_its_frames() -> None:
    got = plan("bedrock-converse/text")
    assert dict(got.headers)["content-type"] == "application/vnd.amazon.eventstream"
    body = b"".join(w.data for w in got.writes)
    assert [name for name, _ in parsed(body)][:2] == ["messageStart", "contentBlockDelta"]
    assert parsed(body)[1][1]["p"]  # the padding, as recorded
    assert len(got.writes) == 8


def test_error_after_counts_frames_and_sends_the_exception() -> None:
    got = plan("bedrock-converse/text", "error_after=2; error_type=throttlingException")
    frames = parsed(b"".join(w.data for w in got.writes))
    assert [name for name, _ in frames] == [
        "messageStart",
        "contentBlockDelta",
        "throttlingException",
    ]
    with pytest.raises(FaultSpecError, match="expected one of internalServerException"):
        plan("bedrock-converse/text", "error_after=1; error_type=nope")


def test_drop_usage_keeps_the_metrics() -> None:
    frames = parsed(b"".join(w.data for w in plan("bedrock-converse/text", "drop_usage=1").writes))
    assert frames[-1][0] == "metadata"
    assert "usage" not in frames[-1][1]
    assert frames[-1][1]["metrics"] == {"latencyMs": 412}


def test_wire_faults_cut_and_split_frames() -> None:
    whole = b"".join(w.data for w in plan("bedrock-converse/text").writes)
    cut = plan("bedrock-converse/text", "disconnect_after_bytes=100")
    assert cut.abort
    assert b"".join(w.data for w in cut.writes) == whole[:100]
    byte = plan("bedrock-converse/text", "chunking=byte")
    assert all(len(w.data) == 1 for w in byte.writes)
    assert len(byte.writes) == len(whole)
    assert len(plan("bedrock-converse/text", "disconnect_after=3").writes) == 3
    with pytest.raises(
        FaultSpecError, match="keep-alive faults cannot apply to a Bedrock Converse"
    ):
        plan("bedrock-converse/text", "keepalive_every=1")


def test_any_provider_is_rendered_on_the_converse_route() -> None:
    body = b"".join(w.data for w in plan("anthropic/tool-calls-parallel").writes)
    names = [name for name, _ in parsed(body)]
    assert names.count("contentBlockStart") == 2
    assert names[-2:] == ["messageStop", "metadata"]


def test_the_whole_answer_of_a_converse_scenario_folds_it_as_recorded() -> None:
    got = plan("bedrock-converse/reasoning", stream=False)
    body = json.loads(got.writes[0].data)
    reasoning = body["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
    assert reasoning["signature"] == "SGFybmVzc0Zha2VTaWduYXR1cmUwMDAx"  # kept: not re-rendered
    assert body["metrics"] == {"latencyMs": 2210}


def test_a_broken_stream_whole_is_an_aws_error_with_a_declared_type() -> None:
    got = plan("bedrock-converse/error-first-frame", stream=False)
    headers = dict(got.headers)
    assert got.status == 424
    assert headers["x-amzn-errortype"].startswith("ModelErrorException:")
    assert json.loads(got.writes[0].data) == {
        "message": "Model stream failed: the model returned an error."
    }
    throttled = plan("anthropic/text", "error_after=2; error_type=rate_limit_error", stream=False)
    assert throttled.status == 429
    assert dict(throttled.headers)["x-amzn-errortype"].startswith("ThrottlingException:")
    overloaded = plan("anthropic/error-midstream", stream=False)
    assert overloaded.status == 503
    assert dict(overloaded.headers)["x-amzn-errortype"].startswith("ServiceUnavailableException:")
    # InvokeModel answers the model's 529 as the 503 its ServiceUnavailableException declares.
    invoke = plan("anthropic/http-529", target="bedrock-anthropic", stream=False)
    assert invoke.status == 503


def test_a_converse_http_error_is_re_shaped_on_the_openai_route() -> None:
    got = plan("bedrock-converse/http-429", target="openai", stream=False)
    assert got.status == 429
    assert json.loads(got.writes[0].data)["error"]["message"] == (
        "Too many requests, please wait before trying again."
    )


# --- the scenario file -------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "field", "problem"),
    [
        ("{comment: hi}", "events[0].comment", "an event stream has no comments"),
        ("{raw: x}", "events[0].raw", "give exact bytes as raw_b64"),
        ("{data: {}}", "events[0].data", "a message needs event"),
        (
            "{event: contentBlockDelt, data: {}}",
            "events[0].event",
            "did you mean 'contentBlockDelta'?",
        ),
        ("{event: messageStart, id: '1', data: {}}", "events[0].id", "no SSE id field"),
    ],
)
def test_a_converse_scenario_refuses_what_an_event_stream_cannot_hold(
    step: str, field: str, problem: str
) -> None:
    text = f"version: 1\nname: c\nprovider: bedrock-converse\nevents:\n  - {step}\n"
    with pytest.raises(ScenarioError) as error:
        parse_scenario(text, path="c.yaml")
    assert error.value.line == 5
    assert error.value.field == field
    assert problem in str(error.value)


def test_newline_is_refused_and_raw_b64_is_accepted() -> None:
    with pytest.raises(ScenarioError, match="no line ends"):
        parse_scenario(
            "version: 1\nname: c\nprovider: bedrock-converse\nnewline: crlf\nevents: []\n"
        )
    ok = parse_scenario(
        "version: 1\nname: c\nprovider: bedrock-converse\nevents:\n"
        f"  - {{raw_b64: {base64.b64encode(b'xyz').decode()}}}\n  - {{disconnect: true}}\n"
    )
    assert ok.answers[0].events is not None


# --- goldens -------------------------------------------------------------------------


def test_the_golden_view_of_an_event_stream() -> None:
    odd = encode(EventStreamMessage({":event-type": "chunk", "x": True}, b"{}"))
    body = TEXT[:400] + odd
    view = eventstream_view(frame("messageStart", {"role": "assistant"}) + odd + TEXT[:30]).decode()
    assert view.splitlines()[0] == 'event messageStart {"role":"assistant"}'
    assert view.splitlines()[1] == "message [:event-type='chunk', x=True] {}"
    assert view.splitlines()[2].startswith("# cut inside a message: 30 more bytes: ")
    broken = bytearray(body)
    broken[len(frame("messageStart", {"role": "assistant"})) + 5] ^= 1
    lines = eventstream_view(bytes(broken)).decode().splitlines()
    assert lines[0].startswith("event messageStart")
    assert lines[1].startswith("# broken framing: ")
    exception = eventstream_view(converse_frame("throttlingException", b'{"message":"a\\nb"}'))
    assert exception == b'exception throttlingException {"message":"a\\nb"}\n'


def test_the_whole_answer_makes_no_tool_call_of_an_image_block() -> None:
    image = frame(
        "contentBlockStart", {"contentBlockIndex": 0, "start": {"image": {"format": "png"}}}
    )
    stream = (
        frame("messageStart", {"role": "assistant"})
        + image
        + TEXT[len(frame("messageStart", {"role": "assistant"})) :]
    )
    status, body = converse_answer(stream)
    assert status == 200
    assert all("toolUse" not in block for block in body["output"]["message"]["content"])
