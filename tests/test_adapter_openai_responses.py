"""The OpenAI Responses adapter: ``POST /v1/responses`` streams in, OpenAI chunks out.

The streams are written from the API's documented event shapes (openai-python's
``ResponseStreamEvent`` types, the API reference's streaming events) with the helpers
of tests/streams.py, and go through ``harness.normalize("openai-responses", ...)``.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from harness import normalize
from harness.cli import main
from harness.mock.replay import _content_faults, build_plan
from harness.mock.scenario import Faults, Step, parse_scenario
from harness.stream.provider_errors import error_body, stream_error_event
from tests.output_rules import check_output
from tests.streams import (
    RS_CREATED,
    RS_ID,
    RS_MODEL,
    RS_USAGE,
    chunks_of,
    collect,
    events_of,
    responses_events,
    responses_stream,
    responses_text,
    rs_args,
    rs_call_added,
    rs_call_done,
    rs_completed,
    rs_incomplete,
    rs_message,
    rs_reasoning,
    rs_response,
    rs_start,
    sse,
)

PROVIDER: Final = "openai-responses"


def run(stream: bytes, **options: Any) -> bytes:
    """Normalize ``stream`` whole, byte by byte, and cut in two at every offset: all
    must give the same bytes, which keep the output rules."""
    whole = b"".join(normalize(PROVIDER, [stream], **options))
    check_output(whole, PROVIDER)
    bytewise = [stream[i : i + 1] for i in range(len(stream))]
    assert b"".join(normalize(PROVIDER, bytewise, **options)) == whole
    for at in range(len(stream) + 1):
        halves = [stream[:at], stream[at:]]
        assert b"".join(normalize(PROVIDER, halves, **options)) == whole, at
    return whole


def error_of(out: bytes) -> dict[str, Any]:
    """The one error chunk that ends ``out`` (and check nothing else is an error)."""
    chunks = chunks_of(out)
    assert "[DONE]" not in chunks
    errors = [c for c in chunks if "error" in c]
    assert errors == [chunks[-1]]
    error: dict[str, Any] = chunks[-1]["error"]
    assert error["type"] == "stream_error"
    assert error["provider"] == PROVIDER
    return error


# --- The happy paths --------------------------------------------------------------------


def test_text() -> None:
    """Text deltas become content; the first chunk is the role; identity from
    response.created; completed is stop, then the usage chunk and [DONE]."""
    out = run(responses_text("Hel", "lo, wor", "ld! 🌍"))
    chunks = chunks_of(out)
    first = chunks[0]
    assert (first["id"], first["model"], first["created"]) == (RS_ID, RS_MODEL, RS_CREATED)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["id"] == RS_ID for c in chunks[:-1])
    got = collect(out)
    assert got["text"] == "Hello, world! 🌍"
    assert got["finish_reason"] == "stop"
    assert got["done"]
    assert got["error"] is None
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"] == []


def test_reasoning_summary() -> None:
    """Reasoning summary deltas become reasoning_content; a second summary part starts
    with a blank line; the answer text follows."""
    stream = responses_stream(
        rs_start(),
        rs_reasoning(0, ["**Weighing", " options**\n\nThe user"], ["**Answering**"]),
        rs_message(1, "Paris."),
        rs_completed(),
    )
    got = collect(run(stream))
    assert got["reasoning"] == "**Weighing options**\n\nThe user\n\n**Answering**"
    assert got["text"] == "Paris."
    assert got["finish_reason"] == "stop"


def test_raw_reasoning_text_and_refusal() -> None:
    """``response.reasoning_text.delta`` (open-weight models) is reasoning too, and
    ``response.refusal.delta`` becomes ``refusal``."""
    at = {"item_id": "x", "output_index": 0, "content_index": 0}
    stream = responses_stream(
        rs_start(),
        {"type": "response.reasoning_text.delta", **at, "delta": "hmm"},
        {"type": "response.refusal.delta", **at, "delta": "I can't help"},
        {"type": "response.refusal.done", **at, "refusal": "I can't help"},
        rs_completed(),
    )
    out = run(stream)
    assert collect(out)["reasoning"] == "hmm"
    refusals = [
        c["choices"][0]["delta"]["refusal"]
        for c in chunks_of(out)
        if isinstance(c, dict) and c.get("choices") and "refusal" in c["choices"][0]["delta"]
    ]
    assert refusals == ["I can't help"]


PARIS = '{"location":"Paris, France"}'
TOKYO = '{"location":"Tōkyō, Japan"}'


def parallel_calls() -> bytes:
    """Reasoning at output 0, then two calls at 1 and 2 whose argument deltas
    interleave, each split in the middle of a token."""
    return responses_stream(
        rs_start(),
        rs_reasoning(0, ["Two cities."], item_id="rs_1"),
        rs_call_added(1, "fc_1", "call_paris", "get_weather"),
        rs_args(1, "fc_1", '{"loc'),
        rs_call_added(2, "fc_2", "call_tokyo", "get_weather"),
        rs_args(2, "fc_2", '{"location":"Tō'),
        rs_args(1, "fc_1", 'ation":"Par'),
        rs_args(2, "fc_2", "kyō, Ja"),
        rs_args(1, "fc_1", 'is, France"}'),
        rs_call_done(1, "fc_1", "call_paris", "get_weather", PARIS),
        rs_args(2, "fc_2", 'pan"}'),
        rs_call_done(2, "fc_2", "call_tokyo", "get_weather", TOKYO),
        rs_completed(),
    )


def test_parallel_function_calls_interleaved() -> None:
    """Each call is a tool call numbered by function calls (0, 1: not output indexes
    1, 2), with the call_id as id; interleaved fragments land on their own call; the
    .done events repeat nothing; the finish reason is tool_calls."""
    out = run(parallel_calls())
    got = collect(out)
    assert got["tool_calls"] == [
        {"id": "call_paris", "name": "get_weather", "arguments": PARIS},
        {"id": "call_tokyo", "name": "get_weather", "arguments": TOKYO},
    ]
    assert got["finish_reason"] == "tool_calls"
    calls = [
        call
        for c in chunks_of(out)
        if isinstance(c, dict) and c.get("choices")
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    starts = [c for c in calls if "id" in c]
    assert starts == [
        {
            "index": 0,
            "id": "call_paris",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "call_tokyo",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
    ]
    fragments = [(c["index"], c["function"]["arguments"]) for c in calls if "id" not in c]
    assert fragments == [
        (0, '{"loc'),
        (1, '{"location":"Tō'),
        (0, 'ation":"Par'),
        (1, "kyō, Ja"),
        (0, 'is, France"}'),
        (1, 'pan"}'),
    ]
    assert not any(c["id"].startswith("fc_") for c in starts)


def test_arguments_found_by_output_index_without_item_id() -> None:
    """A delta without ``item_id`` finds its call by ``output_index``."""
    delta = rs_args(3, "fc_9", '{"a":1}')
    del delta["item_id"]
    stream = responses_stream(
        rs_start(), rs_call_added(3, "fc_9", "call_9", "f"), delta, rs_completed()
    )
    assert collect(run(stream))["tool_calls"] == [
        {"id": "call_9", "name": "f", "arguments": '{"a":1}'}
    ]


def test_arguments_without_deltas_come_from_the_done_events() -> None:
    """A server that sends a call's arguments only whole (no deltas) loses nothing,
    and they are sent once although two .done events repeat them."""
    stream = responses_stream(
        rs_start(),
        rs_call_added(0, "fc_1", "call_1", "lookup"),
        rs_call_done(0, "fc_1", "call_1", "lookup", '{"q":"x"}'),
        rs_completed(),
    )
    got = collect(run(stream))
    assert got["tool_calls"] == [{"id": "call_1", "name": "lookup", "arguments": '{"q":"x"}'}]


def test_usage_with_cached_and_reasoning_tokens() -> None:
    """Responses usage becomes OpenAI's: input -> prompt, output -> completion, with the
    cached and reasoning details carried as the chat usage carries them."""
    usage = {
        "input_tokens": 2006,
        "input_tokens_details": {"cached_tokens": 1920},
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 256},
        "total_tokens": 2306,
    }
    out = run(responses_text("ok", usage=usage))
    assert collect(out)["usage"] == {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920},
        "completion_tokens_details": {"reasoning_tokens": 256},
    }


def test_usage_without_details_or_total() -> None:
    usage = {"input_tokens": 5, "output_tokens": 7}
    out = run(responses_text("ok", usage=usage))
    assert collect(out)["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def test_no_usage_falls_back_to_the_estimate() -> None:
    out = run(responses_text("12345678", usage=None), prompt_tokens=3)
    assert collect(out)["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter"), (None, "length")],
)
def test_incomplete(reason: str | None, finish: str) -> None:
    """response.incomplete ends the stream complete, with the reason as finish_reason
    and the usage it reports."""
    event = rs_incomplete("x")
    event["response"]["incomplete_details"] = None if reason is None else {"reason": reason}
    out = run(responses_stream(rs_start(), rs_message(0, "The answer is"), event))
    got = collect(out)
    assert got["finish_reason"] == finish
    assert got["done"]
    assert got["usage"]["prompt_tokens"] == RS_USAGE["input_tokens"]


# --- Errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "code", "message"),
    [
        (  # the documented shape: fields at the top level
            {
                "type": "error",
                "code": "rate_limit_exceeded",
                "message": "Rate limit reached for gpt-4.1",
                "param": None,
            },
            "rate_limit_exceeded",
            "Rate limit reached for gpt-4.1",
        ),
        (  # the shape the API sends (openai-python #2487): nested under "error"
            {
                "type": "error",
                "error": {
                    "type": "too_many_requests",
                    "code": "too_many_requests",
                    "message": "Too Many Requests",
                    "param": None,
                },
            },
            "too_many_requests",
            "Too Many Requests",
        ),
        (
            {
                "type": "error",
                "error": {"type": "tokens", "code": "rate_limit_exceeded", "message": "TPM"},
            },
            "rate_limit_exceeded",
            "TPM",
        ),
        (  # no code: the type
            {"type": "error", "error": {"type": "server_error", "code": None, "message": "x"}},
            "server_error",
            "x",
        ),
        ({"type": "error", "code": None, "message": "oops", "param": None}, "error", "oops"),
    ],
    ids=["top-level", "nested", "nested-code", "nested-type", "top-level-no-code"],
)
def test_error_event_in_both_shapes(event: dict[str, Any], code: str, message: str) -> None:
    """The in-band error event ends the stream in one stream_error chunk with the
    provider's code, after what came before, and no [DONE]."""
    out = run(responses_stream(rs_start(), rs_message(0, "Hi"), event, rs_completed()))
    assert collect(out)["text"] == "Hi"
    error = error_of(out)
    assert (error["code"], error["message"]) == (code, message)


def test_response_failed() -> None:
    """response.failed is a provider error with response.error's code and message."""
    failed = {
        "type": "response.failed",
        "response": rs_response(
            "failed", error={"code": "server_error", "message": "The model failed."}
        ),
    }
    out = run(responses_stream(rs_start(), rs_message(0, "Hi"), failed))
    error = error_of(out)
    assert (error["code"], error["message"]) == ("server_error", "The model failed.")


def test_response_failed_without_an_error_object() -> None:
    failed = {"type": "response.failed", "response": rs_response("failed")}
    error = error_of(run(responses_stream(rs_start(), failed)))
    assert error["code"] == "response.failed"


def test_cut_before_completed() -> None:
    """A stream that ends before its terminal event was cut off: connection_closed."""
    events = responses_events(rs_start(), rs_message(0, "Half an ans"))
    stream = b"".join(sse(e, e["type"]) for e in events[:-3])
    out = run(stream)
    assert collect(out)["text"] == "Half an ans"
    error = error_of(out)
    assert error["code"] == "connection_closed"
    assert "response.completed" in error["message"]


def test_cut_in_the_middle_of_an_event() -> None:
    stream = responses_text("Hello")
    cut = stream[: stream.index(b"event: response.completed") + 30]
    error = error_of(run(cut))
    assert error["code"] == "connection_closed"
    assert error["message"].endswith("(it stopped in the middle of an event)")


def test_done_sentinel_does_not_complete_the_response() -> None:
    """A ``data: [DONE]`` (some compatible servers) is not the terminal event."""
    events = responses_events(rs_start(), rs_message(0, "Hi"))
    stream = b"".join(sse(e, e["type"]) for e in events) + sse("[DONE]")
    assert error_of(run(stream))["code"] == "connection_closed"


def test_malformed_json_is_a_parse_error_naming_the_event() -> None:
    events = responses_events(rs_start(), rs_message(0, "Hi"))
    stream = b"".join(sse(e, e["type"]) for e in events[:4])
    stream += b'event: response.output_text.delta\ndata: {"type": "response.output_te\n\n'
    out = run(stream)
    error = error_of(out)
    assert error["code"] == "parse_error"
    assert error["message"].startswith("event 5: data is not valid JSON")


def test_wrong_field_type_is_a_parse_error_naming_the_field() -> None:
    bad = {"type": "response.output_text.delta", "item_id": "m", "output_index": 0, "delta": 7}
    out = run(responses_stream(rs_start(), bad))
    error = error_of(out)
    assert error["code"] == "parse_error"
    assert error["message"] == (
        "event 3: response.output_text.delta.delta: expected a string, got an integer"
    )


def test_usage_of_the_wrong_type_names_the_field() -> None:
    usage = {**RS_USAGE, "output_tokens_details": {"reasoning_tokens": "many"}}
    error = error_of(run(responses_text("x", usage=usage)))
    assert error["code"] == "parse_error"
    assert (
        "response.completed.response.usage.output_tokens_details.reasoning_tokens"
        in (error["message"])
    )


def test_unknown_events_and_keepalives() -> None:
    """Event types this adapter does not know pass silently; comments are keep-alives."""
    stream = responses_stream(
        rs_start(),
        {"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"},
        {"type": "response.some_future_event", "whatever": [1, 2]},
        {"type": "response.output_text.annotation.added", "annotation": {"type": "url"}},
        rs_message(1, "Found it."),
        rs_completed(),
    )
    stream = b": keep-alive\n\n" + stream
    out = run(stream)
    assert out.startswith(b": keep-alive\n\n")
    assert collect(out)["text"] == "Found it."


def test_cli_normalize(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """``harness normalize --provider openai-responses FILE`` works."""
    path = tmp_path / "capture.sse"
    path.write_bytes(responses_text("Hi"))
    assert main(["normalize", "--provider", PROVIDER, str(path)]) == 0
    out = capsys.readouterr().out.encode()
    assert collect(out)["text"] == "Hi"
    assert out.endswith(b"data: [DONE]\n\n")


# --- Error shapes and replay content faults ---------------------------------------------


def test_in_stream_error_shape() -> None:
    name, data = stream_error_event(PROVIDER, type="rate_limit_exceeded", sequence_number=7)
    assert name == "error"
    assert json.loads(data) == {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "The server had an error while processing your request.",
        "param": None,
        "sequence_number": 7,
    }
    # Formats that do not number their events ignore the number.
    assert stream_error_event("openai", sequence_number=7) == stream_error_event("openai")


def test_http_error_bodies() -> None:
    assert error_body(PROVIDER, 429) == error_body("openai", 429)
    assert error_body("azure", 500) == error_body("openai", 500)
    assert error_body("azure-responses", 404, "gone") == error_body("openai", 404, "gone")
    body = error_body("azure", 400, type="content_filter")["error"]
    assert (body["code"], body["type"], body["param"], body["status"]) == (
        "content_filter",
        None,
        "prompt",
        400,
    )
    assert body["message"].startswith("The response was filtered")
    assert body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert body["innererror"]["content_filter_result"]["hate"] == {
        "filtered": True,
        "severity": "high",
    }
    custom = error_body("azure-responses", 400, "blocked", type="content_filter")
    assert custom["error"]["message"] == "blocked"
    assert stream_error_event("azure") == stream_error_event("openai")
    assert stream_error_event("azure-responses") == stream_error_event(PROVIDER)


def _scenario(events: list[dict[str, Any]]) -> Any:
    lines = ["version: 1", f"provider: {PROVIDER}", "events:"]
    lines += [f"  - {json.dumps({'event': e['type'], 'data': e})}" for e in events]
    return parse_scenario("\n".join(lines) + "\n", name="t/responses")


def test_error_after_continues_the_sequence_numbers() -> None:
    """The injected error event is the Responses one, numbered after the event before."""
    events = responses_events(rs_start(), rs_message(0, "a", "b"), rs_completed())
    steps = [Step(event=e["type"], data=e) for e in events]
    out = list(_content_faults(steps, PROVIDER, Faults(error_after=4, error_type="server_error")))
    assert [s.data for s in out[:4]] == events[:4]
    assert out[4].event == "error"
    assert isinstance(out[4].data, str)
    assert json.loads(out[4].data) == {
        "type": "error",
        "code": "server_error",
        "message": "The server had an error while processing your request.",
        "param": None,
        "sequence_number": 4,
    }
    first = list(_content_faults(steps, PROVIDER, Faults(error_after=0)))
    assert json.loads(str(first[0].data))["sequence_number"] == 0


def test_error_after_through_the_openai_route() -> None:
    scenario = _scenario(responses_events(rs_start(), rs_message(0, "a", "b"), rs_completed()))
    faults = Faults(error_after=5, error_type="rate_limit_exceeded", error_message="slow down")
    plan = build_plan(scenario, scenario.answers[0], target="openai", stream=True, faults=faults)
    out = b"".join(w.data for w in plan.writes)
    assert collect(out)["text"] == "a"
    error = error_of(out)
    assert (error["code"], error["message"]) == ("rate_limit_exceeded", "slow down")


def test_drop_usage() -> None:
    """drop_usage removes response.usage from the terminal event; nothing else changes."""
    events = responses_events(rs_start(), rs_message(0, "12345678"), rs_completed())
    steps = [Step(event=e["type"], data=e) for e in events]
    out = list(_content_faults(steps, PROVIDER, Faults(drop_usage=True)))
    assert [s.data for s in out[:-1]] == [s.data for s in steps[:-1]]
    last = out[-1].data
    assert isinstance(last, dict)
    assert "usage" not in last["response"]
    assert last["sequence_number"] == events[-1]["sequence_number"]
    scenario = _scenario(events)
    faults = Faults(drop_usage=True)
    plan = build_plan(scenario, scenario.answers[0], target="openai", stream=True, faults=faults)
    usage = collect(b"".join(w.data for w in plan.writes))["usage"]
    assert usage == {"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 2}


def test_sse_events_are_named_like_their_type() -> None:
    """The helper writes the API's wire form: ``event: <type>`` and the same ``type``."""
    for event in events_of(responses_text("x")):
        assert json.loads(event.data)["type"] == event.event
