"""The ``openai-responses`` renderer: any provider's stream as an OpenAI Responses stream.

Every stream rendered here is checked three ways: structurally (event line equals
``type``, sequence numbers 0..n-1, item ids and indexes consistent, the final
response equal to what the deltas add up to), against the openai SDK's own pydantic
types (each event validated as a ``ResponseStreamEvent``), and through the SDK's
stream accumulator (``client.responses.stream()`` over an in-memory transport),
whose final response must hold the text and function calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from harness import normalize
from harness.stream.aggregate import responses_answer
from harness.stream.events import Delta, Done, KeepAlive, Metadata, StreamError, ToolCallDelta
from harness.stream.renderers import RENDERERS
from harness.stream.renderers.openai_responses import ResponsesRenderer
from tests.streams import (
    GM_USAGE,
    an_end,
    an_event,
    an_start,
    an_text_block,
    an_thinking_block,
    an_tool_block,
    anthropic_text,
    events_of,
    gemini_stream,
    gm_chunk,
    oa_chunk,
    openai_stream,
    openai_text,
    sse,
)

EVENT = TypeAdapter[Any](ResponseStreamEvent)
RESPONSE = TypeAdapter(Response)
AN_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
TERMINAL = ("response.completed", "response.incomplete", "error")


def render(provider: str, raw: bytes, **options: Any) -> bytes:
    """``raw`` through the pipeline, whole and byte by byte (both must agree), checked."""
    whole = b"".join(normalize(provider, [raw], renderer="openai-responses", **options))
    pieces = [raw[i : i + 1] for i in range(len(raw))]
    bytewise = b"".join(normalize(provider, pieces, renderer="openai-responses", **options))
    assert whole == bytewise, "the output depends on how the input was split"
    check(whole)
    return whole


def datas(stream: bytes) -> list[dict[str, Any]]:
    """The data of every event, after checking that its event line names its type."""
    out = []
    for event in events_of(stream):
        data = json.loads(event.data)
        assert event.event == data["type"]
        out.append(data)
    return out


def check(stream: bytes) -> None:
    """The structural rules and the SDK's types, for one whole rendered stream."""
    events = datas(stream)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        parsed = EVENT.validate_python(event)  # the SDK's own model of each event
        assert parsed.type == event["type"]
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in TERMINAL
    assert sum(kind in TERMINAL for kind in kinds) == 1
    for head in events[:2]:
        assert head["response"]["status"] == "in_progress"
        assert head["response"]["output"] == []
    if kinds[-1] != "error":
        assert rebuild(events) == events[-1]["response"]["output"]


def rebuild(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output items the events add up to, checking ids and indexes on the way."""
    added: list[dict[str, Any]] = []
    done: dict[int, dict[str, Any]] = {}
    text: dict[tuple[int, int], str] = {}
    for event in events:
        kind = event["type"]
        if kind == "response.output_item.added":
            assert event["output_index"] == len(added)  # in the order items are opened
            added.append(event["item"])
            continue
        if "output_index" not in event:
            continue
        index = event["output_index"]
        item = added[index]
        if "item_id" in event:
            assert event["item_id"] == item["id"]
        if kind == "response.output_item.done":
            assert event["item"]["id"] == item["id"]
            assert event["item"]["type"] == item["type"]
            done[index] = event["item"]
        elif kind == "response.content_part.added":
            assert event["content_index"] == sum(1 for i, _ in text if i == index)
            text[index, event["content_index"]] = ""
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            text[index, event["content_index"]] += event["delta"]
        elif kind == "response.output_text.done":
            assert event["text"] == text[index, event["content_index"]]
        elif kind == "response.refusal.done":
            assert event["refusal"] == text[index, event["content_index"]]
        elif kind == "response.reasoning_summary_part.added":
            text[index, -1] = ""
        elif kind == "response.reasoning_summary_text.delta":
            text[index, -1] += event["delta"]
        elif kind == "response.reasoning_summary_text.done":
            assert event["text"] == text[index, -1]
        elif kind == "response.function_call_arguments.delta":
            text[index, -2] = text.get((index, -2), "") + event["delta"]
        elif kind == "response.function_call_arguments.done":
            assert event["arguments"] == text.get((index, -2), "")
    assert sorted(done) == list(range(len(added)))
    for index, item in done.items():
        if item["type"] == "message":
            parts = [p.get("text", p.get("refusal")) for p in item["content"]]
            assert parts == [text[index, n] for n in range(len(parts))]
        elif item["type"] == "reasoning":
            assert item["summary"] == [{"type": "summary_text", "text": text[index, -1]}]
        else:
            assert item["arguments"] == text.get((index, -2), "")
    return [done[i] for i in range(len(added))]


def final(stream: bytes) -> dict[str, Any]:
    """The response of the terminal event."""
    last = datas(stream)[-1]
    assert last["type"] in ("response.completed", "response.incomplete")
    response: dict[str, Any] = last["response"]
    return response


def client_for(stream: bytes) -> openai.OpenAI:
    """An openai client whose every request is answered with ``stream``."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=stream)

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://responses.test/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


def sdk_final(stream: bytes) -> Any:
    """The final response the SDK's stream helper accumulates from ``stream``."""
    client = client_for(stream)
    with client.responses.stream(model="gpt-4.1", input="hi") as events:
        for _ in events:
            pass
        return events.get_final_response()


def sdk_events(stream: bytes) -> list[Any]:
    """The typed events ``responses.create(stream=True)`` yields for ``stream``."""
    client = client_for(stream)
    return list(client.responses.create(model="gpt-4.1", input="hi", stream=True))


def calls_of(response: Any) -> list[tuple[str, str, str]]:
    return [(o.call_id, o.name, o.arguments) for o in response.output if o.type == "function_call"]


# --- Every provider, through the pipeline and the SDK --------------------------------------


def test_registered() -> None:
    """The renderer is the RENDERERS entry ``openai-responses``."""
    assert RENDERERS["openai-responses"] is ResponsesRenderer


def test_anthropic_text() -> None:
    """Text is one message item: added, part added, deltas, done events, completed."""
    stream = render("anthropic", anthropic_text("Hel", "lo", "!"))
    kinds = [e["type"] for e in datas(stream)]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    response = final(stream)
    assert response["id"] == f"resp_{AN_ID}"
    assert response["model"] == "claude-sonnet-4-5-20250929"
    assert response["status"] == "completed"
    assert response["output"] == [
        {
            "id": f"msg_{AN_ID}_0",
            "type": "message",
            "status": "completed",
            "content": [
                {"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello!"}
            ],
            "role": "assistant",
        }
    ]
    assert response["usage"] == {
        "input_tokens": 25,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 15,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 40,
    }
    RESPONSE.validate_python(response)
    got = sdk_final(stream)
    assert got.output_text == "Hello!"
    assert got.status == "completed"
    assert got.usage is not None
    assert got.usage.total_tokens == 40


def test_anthropic_tool_use_keeps_the_toolu_ids() -> None:
    """Text then two tool_use blocks: a message and two function_call items, in order."""
    raw = (
        an_start()
        + an_text_block(0, "Checking.")
        + an_tool_block(1, "toolu_01A", "get_weather", '{"city":', ' "Paris"}')
        + an_tool_block(2, "toolu_01B", "get_time", "", '{"tz": "CET"}')
        + an_end("tool_use")
    )
    stream = render("anthropic", raw)
    events = datas(stream)
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert [(i["type"], i["id"]) for i in added] == [
        ("message", f"msg_{AN_ID}_0"),
        ("function_call", f"fc_{AN_ID}_1"),
        ("function_call", f"fc_{AN_ID}_2"),
    ]
    assert added[1] == {
        "id": f"fc_{AN_ID}_1",
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": "toolu_01A",
        "name": "get_weather",
    }
    # Each item closes before the next one opens, as the API streams them.
    kinds = [e["type"] for e in events]
    first_call = kinds.index("response.function_call_arguments.delta")
    assert kinds[first_call - 2 : first_call] == [
        "response.output_item.done",
        "response.output_item.added",
    ]
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"city":', ' "Paris"}', '{"tz": "CET"}']  # empty fragments send nothing
    got = sdk_final(stream)
    assert got.output_text == "Checking."
    assert calls_of(got) == [
        ("toolu_01A", "get_weather", '{"city": "Paris"}'),
        ("toolu_01B", "get_time", '{"tz": "CET"}'),
    ]


def test_anthropic_thinking_is_a_reasoning_item_before_the_message() -> None:
    """Thinking becomes a reasoning item with one summary part, ahead of the message."""
    raw = an_start() + an_thinking_block(0, "Let me", " think.") + an_text_block(1, "42") + an_end()
    stream = render("anthropic", raw)
    events = datas(stream)
    kinds = [e["type"] for e in events]
    assert kinds[2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert all(e["summary_index"] == 0 for e in events if "summary_index" in e)
    output = final(stream)["output"]
    assert output[0] == {
        "id": f"rs_{AN_ID}_0",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Let me think."}],
    }
    assert output[1]["type"] == "message"
    got = sdk_final(stream)
    assert got.output_text == "42"
    assert got.output[0].type == "reasoning"
    assert got.output[0].summary[0].text == "Let me think."


def test_gemini_text_and_usage() -> None:
    """A Gemini stream: its responseId and modelVersion, its usage."""
    raw = gemini_stream(
        gm_chunk({"text": "Hi "}),
        gm_chunk({"text": "there"}, finish="STOP", usage=GM_USAGE),
    )
    stream = render("gemini", raw)
    response = final(stream)
    assert response["id"] == "resp_mJ4aZ9yZLsOg1MkP-YmCuQ4"
    assert response["model"] == "gemini-2.5-flash"
    assert response["usage"]["input_tokens"] == 8
    assert response["usage"]["output_tokens"] == 4
    assert response["usage"]["total_tokens"] == 12
    assert sdk_final(stream).output_text == "Hi there"


def test_gemini_function_call_without_id_gets_a_call_id() -> None:
    """Gemini's function calls come whole; without an id the call_id is call_<index>."""
    raw = gemini_stream(
        gm_chunk({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}),
        gm_chunk({"functionCall": {"name": "get_time", "args": {}}}, finish="STOP", usage=GM_USAGE),
    )
    stream = render("gemini", raw)
    got = sdk_final(stream)
    assert calls_of(got) == [
        ("call_0", "get_weather", '{"city":"Paris"}'),
        ("call_1", "get_time", "{}"),
    ]


def test_openai_parallel_tool_calls() -> None:
    """An OpenAI stream's parallel tool calls: one function_call item each, ids kept."""

    def call(index: int, **fields: Any) -> dict[str, Any]:
        return oa_chunk({"tool_calls": [{"index": index, **fields}]})

    raw = openai_stream(
        oa_chunk({"role": "assistant", "content": None}),
        call(0, id="call_a", type="function", function={"name": "f", "arguments": ""}),
        call(0, function={"arguments": '{"x"'}),
        call(0, function={"arguments": ":1}"}),
        call(1, id="call_b", type="function", function={"name": "g", "arguments": ""}),
        call(1, function={"arguments": "{}"}),
        oa_chunk({}, "tool_calls"),
    )
    stream = render("openai", raw, prompt_tokens=3)
    output = final(stream)["output"]
    assert [(o["id"], o["call_id"], o["arguments"]) for o in output] == [
        ("fc_chatcmpl-abc123_0", "call_a", '{"x":1}'),
        ("fc_chatcmpl-abc123_1", "call_b", "{}"),
    ]
    assert final(stream)["created_at"] == 1731000000
    assert calls_of(sdk_final(stream)) == [("call_a", "f", '{"x":1}'), ("call_b", "g", "{}")]


def test_openai_reasoning_text_and_usage_details() -> None:
    """reasoning_content then content, and the usage details in Responses terms."""
    usage = {
        "prompt_tokens": 20,
        "completion_tokens": 30,
        "total_tokens": 50,
        "prompt_tokens_details": {"cached_tokens": 16},
        "completion_tokens_details": {"reasoning_tokens": 24},
    }
    raw = openai_stream(
        oa_chunk({"role": "assistant", "reasoning_content": "Hmm"}),
        oa_chunk({"reasoning_content": "..."}),
        oa_chunk({"content": "Yes"}),
        oa_chunk({}, "stop"),
        oa_chunk(choices=[], usage=usage),
    )
    stream = render("openai", raw)
    response = final(stream)
    assert [o["type"] for o in response["output"]] == ["reasoning", "message"]
    assert response["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 16, "cache_write_tokens": 0},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 24},
        "total_tokens": 50,
    }
    got = sdk_final(stream)
    assert got.output_text == "Yes"
    assert got.usage.input_tokens_details.cached_tokens == 16
    assert got.usage.output_tokens_details.reasoning_tokens == 24


def test_anthropic_cache_read_is_cached_tokens() -> None:
    """Anthropic's cache reads reach input_tokens_details.cached_tokens."""
    raw = (
        an_start(input_tokens=5, cache_read_input_tokens=100, cache_creation_input_tokens=7)
        + an_text_block(0, "Hi")
        + an_end()
    )
    usage = final(render("anthropic", raw))["usage"]
    assert usage["input_tokens"] == 112
    assert usage["input_tokens_details"]["cached_tokens"] == 100


def test_openai_refusal_is_a_refusal_part() -> None:
    """A refusal is a refusal content part of the message, after the text part."""
    raw = openai_stream(
        oa_chunk({"role": "assistant", "content": "I"}),
        oa_chunk({"refusal": "Sorry, "}),
        oa_chunk({"refusal": "no."}),
        oa_chunk({}, "stop"),
    )
    stream = render("openai", raw)
    kinds = [e["type"] for e in datas(stream)]
    assert "response.refusal.delta" in kinds
    assert "response.refusal.done" in kinds
    (message,) = final(stream)["output"]
    assert message["content"] == [
        {"type": "output_text", "annotations": [], "logprobs": [], "text": "I"},
        {"type": "refusal", "refusal": "Sorry, no."},
    ]
    got = sdk_final(stream)
    assert got.output[0].content[1].refusal == "Sorry, no."


def test_text_after_a_tool_call_is_a_new_message() -> None:
    """Items never reopen (bar tool calls): text after a call is a second message."""
    renderer = ResponsesRenderer(response_id="r1", model="m", created=5)
    frames: list[bytes] = []
    for event in (
        Delta(content="A"),
        Delta(tool_calls=(ToolCallDelta(0, id="c1", name="f", arguments="{}"),)),
        Delta(content="B"),
        Delta(finish_reason="stop"),
        Done(),
    ):
        frames += renderer.render(event)
    stream = b"".join(frames)
    check(stream)
    response = final(stream)
    assert response["id"] == "resp_r1"
    assert response["created_at"] == 5
    assert [(o["type"], o["id"]) for o in response["output"]] == [
        ("message", "msg_r1_0"),
        ("function_call", "fc_r1_1"),
        ("message", "msg_r1_2"),
    ]
    assert sdk_final(stream).output_text == "AB"


def test_interleaved_tool_call_fragments_reopen_the_call() -> None:
    """A late fragment of a closed call reopens it: more deltas, then done again, whole."""
    renderer = ResponsesRenderer()
    frames: list[bytes] = []
    for event in (
        Delta(tool_calls=(ToolCallDelta(0, id="a", name="f", arguments='{"x"'),)),
        Delta(tool_calls=(ToolCallDelta(1, id="b", name="g", arguments="{}"),)),
        Delta(tool_calls=(ToolCallDelta(0, arguments=":1}"),)),
        Delta(finish_reason="tool_calls"),
        Done(),
    ):
        frames += renderer.render(event)
    stream = b"".join(frames)
    events = datas(stream)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        EVENT.validate_python(event)
    dones = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [(d["call_id"], d["arguments"]) for d in dones] == [
        ("a", '{"x"'),
        ("b", "{}"),
        ("a", '{"x":1}'),
    ]
    assert [o["arguments"] for o in final(stream)["output"]] == ['{"x":1}', "{}"]
    assert calls_of(sdk_final(stream)) == [("a", "f", '{"x":1}'), ("b", "g", "{}")]


def test_other_choice_indexes_are_ignored() -> None:
    """Responses has no choices: index 0 is rendered, the others are dropped."""
    raw = openai_stream(
        oa_chunk(
            choices=[
                {"index": 0, "delta": {"content": "zero"}, "finish_reason": None},
                {"index": 1, "delta": {"content": "one"}, "finish_reason": None},
            ]
        ),
        oa_chunk(choices=[{"index": 1, "delta": {}, "finish_reason": "length"}]),
        oa_chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    )
    stream = render("openai", raw)
    response = final(stream)
    assert response["status"] == "completed"
    assert sdk_final(stream).output_text == "zero"
    assert response["usage"]["output_tokens"] == 1  # "zero": 4 characters


# --- The end of a stream ----------------------------------------------------------------------


def test_usage_is_estimated_when_the_provider_sent_none() -> None:
    """No usage: prompt_tokens from the caller, output estimated (reasoning separately)."""
    raw = openai_stream(
        oa_chunk({"reasoning_content": "abcdefgh"}),  # 8 characters: 2 tokens
        oa_chunk({"content": "Hello"}),  # 13 characters in all: 4 tokens
        oa_chunk({}, "stop"),
    )
    usage = final(render("openai", raw, prompt_tokens=7))["usage"]
    assert usage == {
        "input_tokens": 7,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 11,
    }
    counted = final(render("openai", raw, token_counter=lambda text: 1))["usage"]
    assert (counted["output_tokens"], counted["output_tokens_details"]) == (
        2,
        {"reasoning_tokens": 1},
    )


def test_empty_answer_still_has_created_and_completed() -> None:
    """A stream with no content: created, in_progress, completed with an empty output."""
    stream = render("openai", openai_stream(oa_chunk({}, "stop")))
    kinds = [e["type"] for e in datas(stream)]
    assert kinds == ["response.created", "response.in_progress", "response.completed"]
    assert final(stream)["output"] == []
    assert sdk_final(stream).output_text == ""


@pytest.mark.parametrize(
    ("provider", "raw", "reason"),
    [
        pytest.param(
            "anthropic",
            an_start() + an_text_block(0, "Once upon") + an_end("max_tokens"),
            "max_output_tokens",
            id="anthropic-max-tokens",
        ),
        pytest.param(
            "openai",
            openai_stream(oa_chunk({"content": "Once upon"}), oa_chunk({}, "length")),
            "max_output_tokens",
            id="openai-length",
        ),
        pytest.param(
            "gemini",
            gemini_stream(gm_chunk({"text": "Once upon"}, finish="SAFETY", usage=GM_USAGE)),
            "content_filter",
            id="gemini-safety",
        ),
    ],
)
def test_length_and_content_filter_are_incomplete(provider: str, raw: bytes, reason: str) -> None:
    """A length (or content filter) finish ends in response.incomplete, items incomplete."""
    stream = render(provider, raw)
    last = datas(stream)[-1]
    assert last["type"] == "response.incomplete"
    response = last["response"]
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert [o["status"] for o in response["output"]] == ["incomplete"]
    RESPONSE.validate_python(response)
    typed = sdk_events(stream)
    assert typed[-1].type == "response.incomplete"
    assert typed[-1].response.incomplete_details.reason == reason
    assert responses_answer(stream) == (200, response)


@pytest.mark.parametrize(
    ("provider", "raw", "code", "delivered"),
    [
        pytest.param(
            "anthropic",
            an_start()
            + an_text_block(0, "Hi")
            + an_event("error", error={"type": "overloaded_error", "message": "Overloaded"}),
            "overloaded_error",
            "Hi",
            id="anthropic-overloaded",
        ),
        pytest.param(
            "anthropic",
            an_start() + an_text_block(0, "Hel"),
            "connection_closed",
            "Hel",
            id="cut",
        ),
        pytest.param(
            "openai",
            openai_stream(oa_chunk({"content": "Hi"}), done=False) + sse("{not json"),
            "parse_error",
            "Hi",
            id="bad-json",
        ),
        pytest.param(
            "gemini",
            gemini_stream(
                {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}
            ),
            "RESOURCE_EXHAUSTED",
            "",
            id="gemini-error-first",
        ),
    ],
)
def test_a_broken_stream_ends_in_one_error_event(
    provider: str, raw: bytes, code: str, delivered: str
) -> None:
    """Everything valid up to the break, one error event, and nothing after."""
    stream = render(provider, raw)
    events = datas(stream)
    error = events[-1]
    assert list(error) == ["type", "code", "message", "param", "sequence_number"]
    assert (error["type"], error["code"], error["param"]) == ("error", code, None)
    assert error["message"]
    assert sum(e["type"] == "error" for e in events) == 1
    assert not any(e["type"] in ("response.completed", "response.incomplete") for e in events)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == delivered
    typed = sdk_events(stream)  # the SDK yields the error event, typed
    assert (typed[-1].type, typed[-1].code) == ("error", code)
    client = client_for(stream)
    with client.responses.stream(model="gpt-4.1", input="hi") as seen:
        for _ in seen:
            pass
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            seen.get_final_response()


def test_nothing_after_the_end() -> None:
    """Once Done or StreamError is rendered the renderer is closed and renders nothing."""
    renderer = ResponsesRenderer()
    assert renderer.render(Done()) != []
    assert renderer.closed
    assert renderer.render(Delta(content="late")) == []
    assert renderer.render(StreamError("provider_error", "x", "y", "openai")) == []
    assert renderer.render(KeepAlive()) == []


# --- Identity, keep-alives, determinism -------------------------------------------------------


def test_keepalive_is_a_comment_outside_the_sequence() -> None:
    """A provider ping is the keep-alive comment and takes no sequence number."""
    raw = an_start() + an_event("ping") + an_text_block(0, "Hi") + an_end()
    stream = render("anthropic", raw)
    assert b": keep-alive\n\n" in stream
    # message_start opened the response; the ping follows, outside the sequence.
    assert stream.index(b": keep-alive") > stream.index(b"event: response.in_progress")
    check(stream)


def test_identity_rules() -> None:
    """A resp_ id is kept as it is; fallbacks fill in what the provider did not say."""
    renderer = ResponsesRenderer(response_id="fallback", model="fallback-model", created=9)
    frames = renderer.render(Metadata(id="resp_abc", model=None, created=None))
    frames += renderer.render(Metadata(id="other", model="later-model", created=3))
    frames += renderer.render(Delta(content="x"))
    frames += renderer.render(Metadata(model="too-late"))
    frames += renderer.render(Done())
    response = final(b"".join(frames))
    assert (response["id"], response["model"], response["created_at"]) == (
        "resp_abc",
        "later-model",
        3,
    )
    assert response["output"][0]["id"] == "msg_abc_0"
    default = ResponsesRenderer()
    response = final(b"".join(default.render(Done())))
    assert (response["id"], response["model"], response["created_at"]) == (
        "resp_harness",
        "unknown",
        0,
    )


def test_same_stream_same_bytes() -> None:
    """Item ids are derived, not random: the same input renders the same bytes."""
    raw = an_start() + an_text_block(0, "Hi") + an_tool_block(1, "toolu_1", "f", "{}") + an_end()
    assert render("anthropic", raw) == render("anthropic", raw)


def test_frames_are_compact_named_events() -> None:
    """Each frame is ``event: <type>`` and one compact data line, then a blank line."""
    stream = render("anthropic", anthropic_text("Hi"))
    for frame in stream.split(b"\n\n")[:-1]:
        name, data = frame.split(b"\n")
        assert name.startswith(b"event: response.")
        assert data.startswith(b'data: {"type":"' + name[7:] + b'","sequence_number":')
        assert b'", "' not in data
        assert b'": ' not in data


def test_non_ascii_and_lone_surrogates() -> None:
    """Text is written as UTF-8; a lone surrogate falls back to escapes, still valid."""
    renderer = ResponsesRenderer()
    frames = renderer.render(Delta(content="héllo \ud800"))
    frames += renderer.render(Done())
    stream = b"".join(frames)
    stream.decode("utf-8")
    check(stream)


# --- The non-streaming answer of a rendered stream ---------------------------------------------


def test_answer_of_rendered_streams() -> None:
    """responses_answer of a rendered stream is its completed response, SDK-valid."""
    raw = (
        an_start()
        + an_thinking_block(0, "Hmm")
        + an_text_block(1, "Hi")
        + an_tool_block(2, "toolu_9", "f", '{"a":1}')
        + an_end("tool_use")
    )
    stream = render("anthropic", raw)
    status, body = responses_answer(stream)
    assert status == 200
    assert body == final(stream)
    parsed = RESPONSE.validate_python(body)
    assert parsed.output_text == "Hi"


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        pytest.param(
            an_start()
            + an_text_block(0, "Hi")
            + an_event("error", error={"type": "overloaded_error", "message": "Overloaded"}),
            529,
            "overloaded_error",
            id="overloaded",
        ),
        pytest.param(
            an_start() + an_event("error", error={"type": "rate_limit_error", "message": "Slow"}),
            429,
            "rate_limit_error",
            id="rate-limit",
        ),
        pytest.param(an_start() + an_text_block(0, "Hi"), 502, "connection_closed", id="cut"),
        pytest.param(
            an_start() + sse("{oops", "content_block_delta"), 502, "parse_error", id="bad"
        ),
    ],
)
def test_answer_of_rendered_error_streams(raw: bytes, status: int, code: str) -> None:
    """A rendered error stream answers with an OpenAI error body, status by code."""
    got_status, body = responses_answer(render("anthropic", raw))
    assert got_status == status
    assert body["error"]["type"] == code
    assert body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}


def iter_frames(stream: bytes) -> Iterator[bytes]:
    yield from (frame + b"\n\n" for frame in stream.split(b"\n\n")[:-1])


def test_answer_of_a_stream_cut_anywhere_is_total() -> None:
    """Every prefix of a rendered stream answers (200 only for the whole one), never raises."""
    stream = render("anthropic", an_start() + an_text_block(0, "Hi") + an_end())
    frames = list(iter_frames(stream))
    for n in range(len(frames)):
        status, _ = responses_answer(b"".join(frames[:n]))
        assert status == 502
    assert responses_answer(stream)[0] == 200


def test_openai_text_helper_roundtrip() -> None:
    """The plain openai_text stream renders and answers with its text and usage."""
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    stream = render("openai", openai_text("Hel", "lo", usage=usage))
    status, body = responses_answer(stream)
    assert status == 200
    assert RESPONSE.validate_python(body).output_text == "Hello"
    assert body["usage"]["input_tokens"] == 9


@pytest.mark.parametrize(
    "fragment", ["plain", 'quote " and \\ backslash', "line\nbreak\ttab", "é 漢字 🙂", "\x00\x1f"]
)
def test_delta_frames_are_the_canonical_encoding_of_their_event(fragment: str) -> None:
    """Delta frames take a fast path (the JSON around the fragment is encoded once per
    item): each frame must be exactly what encoding its event whole gives."""
    renderer = ResponsesRenderer()
    frames: list[bytes] = []
    for event in (
        Metadata(id="resp_x", model="m", created=1),
        Delta(role="assistant", reasoning_content=fragment),
        Delta(content=fragment),
        Delta(content=fragment),
        Delta(tool_calls=(ToolCallDelta(0, id="call_1", type="function", name="f"),)),
        Delta(tool_calls=(ToolCallDelta(0, arguments=fragment),)),
        Delta(finish_reason="tool_calls"),
        Done(),
    ):
        frames += renderer.render(event)
    deltas = [f for f in frames if f.split(b"\n", 1)[0].endswith(b".delta")]
    assert len(deltas) == 4
    for frame in deltas:
        head, data = frame.decode().removesuffix("\n\n").split("\n")
        event = json.loads(data.removeprefix("data: "))
        canonical = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        assert frame == f"{head}\ndata: {canonical}\n\n".encode()
        assert fragment in (event["delta"],)


@pytest.mark.parametrize("where", ["id", "fragment"])
def test_a_lone_surrogate_makes_its_frames_ascii_escaped_whole(where: str) -> None:
    """A lone surrogate (JSON input can carry ``\\ud800``) cannot be UTF-8: a frame that
    holds one, in a fragment or in the ids around it (item ids come from the response
    id), is written whole in ASCII escapes, as the canonical encoding of its event with
    ensure_ascii; every other frame keeps its UTF-8. It used to raise
    UnicodeEncodeError when the response id held one."""
    renderer = ResponsesRenderer()
    rid, text = ("resp_\ud800", "é") if where == "id" else ("resp_é", "a\ud800")
    frames: list[bytes] = []
    for event in (
        Metadata(id=rid, model="m", created=1),
        Delta(role="assistant", content="é 🙂"),
        Delta(content=text),
        Delta(content="more"),
        Delta(reasoning_content=text),
        Done(),
    ):
        frames += renderer.render(event)
    escaped = 0
    for frame in frames:
        head, data = frame.decode("utf-8").removesuffix("\n\n").split("\n")
        event = json.loads(data.removeprefix("data: "))
        lone = "\ud800" in json.dumps(event, ensure_ascii=False)
        canonical = json.dumps(event, ensure_ascii=lone, separators=(",", ":"))
        assert frame == f"{head}\ndata: {canonical}\n\n".encode(), frame
        escaped += lone
    # Every frame names the response or an item when the id holds it; at least the
    # two deltas and what repeats their text (done events, the completed response).
    assert escaped == len(frames) if where == "id" else 2 <= escaped < len(frames)
