"""The normalization pipeline: provider streams in, OpenAI-compatible SSE out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from harness import Normalizer, UnknownProviderError, anormalize, normalize
from tests.streams import (
    GM_USAGE,
    an_end,
    an_event,
    an_start,
    an_text_block,
    an_thinking_block,
    an_tool_block,
    anthropic_text,
    chunks_of,
    collect,
    events_of,
    gemini_stream,
    gm_chunk,
    oa_chunk,
    openai_stream,
    openai_text,
    sse,
)

# --- Running the pipeline under different chunkings ----------------------------------


def _whole(stream: bytes) -> list[bytes]:
    return [stream]


def _bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def _sevens(stream: bytes) -> list[bytes]:
    return [stream[i : i + 7] for i in range(0, len(stream), 7)]


CHUNKINGS = [_whole, _bytewise, _sevens]


def run(provider: str, stream: bytes, **options: Any) -> bytes:
    """Normalize ``stream`` whole, byte by byte and in 7-byte pieces; all must agree."""
    outputs = {b"".join(normalize(provider, split(stream), **options)) for split in CHUNKINGS}
    assert len(outputs) == 1, "the output depends on how the input was split"
    return outputs.pop()


def assert_well_formed(out: bytes) -> None:
    """Every data line is JSON or the final [DONE]; exactly one terminal frame ends it."""
    events = events_of(out)
    assert out.endswith(b"\n\n")
    datas = [e.data for e in events]
    for data in datas[:-1]:
        assert data != "[DONE]"
        assert "error" not in json.loads(data)
    last = datas[-1]
    assert last == "[DONE]" or json.loads(last)["error"]["type"] == "stream_error"


# --- OpenAI --------------------------------------------------------------------------


def test_openai_text_with_usage_chunk() -> None:
    """Text deltas pass through; the usage-only chunk's usage ends the stream before [DONE]."""
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0},
    }
    out = run("openai", openai_text("Hel", "lo", "!", usage=usage))
    assert_well_formed(out)
    seen = collect(out)
    assert seen["text"] == "Hello!"
    assert seen["finish_reason"] == "stop"
    assert seen["usage"] == usage
    chunks = chunks_of(out)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-2]["choices"] == []
    assert chunks[-1] == "[DONE]"


def test_openai_output_chunk_shape() -> None:
    """Every chunk is a chat.completion.chunk with the provider's id, model and created."""
    out = run("openai", openai_text("a", "b"))
    for chunk in chunks_of(out)[:-1]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"] == "chatcmpl-abc123"
        assert chunk["model"] == "gpt-4o-mini-2024-07-18"
        assert chunk["created"] == 1731000000
        for choice in chunk["choices"]:
            assert set(choice) == {"index", "delta", "logprobs", "finish_reason"}


def test_openai_parallel_tool_calls_with_fragmented_arguments() -> None:
    """Two tool calls whose arguments arrive in fragments keep their indexes and ids."""

    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    stream = openai_stream(
        oa_chunk({"role": "assistant", "content": None}),
        oa_chunk(
            call(0, id="call_A", type="function", function={"name": "get_weather", "arguments": ""})
        ),
        oa_chunk(call(0, function={"arguments": '{"ci'})),
        oa_chunk(call(0, function={"arguments": 'ty": "Paris"}'})),
        oa_chunk(
            call(1, id="call_B", type="function", function={"name": "get_time", "arguments": ""})
        ),
        oa_chunk(call(1, function={"arguments": '{"tz": "CET"}'})),
        oa_chunk({}, "tool_calls"),
    )
    seen = collect(run("openai", stream))
    assert seen["tool_calls"] == [
        {"id": "call_A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "call_B", "name": "get_time", "arguments": '{"tz": "CET"}'},
    ]
    assert seen["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_openai_compatible_reasoning_fields(field: str) -> None:
    """DeepSeek's reasoning_content and OpenRouter's reasoning both become reasoning_content."""
    stream = openai_stream(
        oa_chunk({"role": "assistant", field: "Think"}),
        oa_chunk({field: "ing."}),
        oa_chunk({"content": "42"}),
        oa_chunk({}, "stop"),
    )
    seen = collect(run("openai", stream))
    assert seen["reasoning"] == "Thinking."
    assert seen["text"] == "42"


def test_openai_usage_absent_is_estimated_deterministically() -> None:
    """Without provider usage, completion tokens are ceil(chars / 4) and prompt tokens as given."""
    out = run("openai", openai_text("Hello", " world!"), prompt_tokens=9)
    assert collect(out)["usage"] == {
        "prompt_tokens": 9,
        "completion_tokens": 3,  # 12 characters
        "total_tokens": 12,
    }


def test_token_counter_plugs_in() -> None:
    """A plugged-in tokenizer is called per fragment and its counts summed."""
    seen: list[str] = []

    def words(text: str) -> int:
        seen.append(text)
        return len(text.split())

    out = b"".join(normalize("openai", [openai_text("one two", " three")], token_counter=words))
    assert collect(out)["usage"]["completion_tokens"] == 3
    assert seen == ["one two", " three"]  # empty fragments are not counted


def test_openai_usage_inside_a_choice_chunk() -> None:
    """Usage reported on the chunk that carries finish_reason (or inside the choice) is used."""
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    on_chunk = openai_stream(oa_chunk({"content": "hi"}), oa_chunk({}, "stop", usage=usage))
    assert collect(run("openai", on_chunk))["usage"] == usage
    choice = {"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}
    in_choice = openai_stream(oa_chunk({"content": "hi"}), oa_chunk(choices=[choice]))
    assert collect(run("openai", in_choice))["usage"] == usage


def test_groq_usage() -> None:
    """Groq's x_groq.usage counts as the provider's usage report."""
    usage = {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}
    stream = openai_stream(
        oa_chunk({"content": "x"}), oa_chunk({}, "stop", x_groq={"id": "req_1", "usage": usage})
    )
    assert collect(run("openai", stream))["usage"] == usage


def test_azure_prompt_filter_first_chunk() -> None:
    """Azure's empty-choices first chunk (empty id and model) emits nothing and sets no identity."""
    first = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [
            {
                "prompt_index": 0,
                "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
            }
        ],
    }
    filtered = {"hate": {"filtered": False, "severity": "safe"}}
    stream = (
        sse(first)
        + openai_text("Hi")[: -len(sse("[DONE]"))]
        + sse(
            oa_chunk(
                choices=[
                    {
                        "index": 0,
                        "delta": {},
                        "finish_reason": None,
                        "content_filter_results": filtered,
                    }
                ]
            )
        )
        + sse("[DONE]")
    )
    out = run("openai", stream)
    chunks = chunks_of(out)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["id"] for c in chunks[:-1]} == {"chatcmpl-abc123"}
    assert {c["model"] for c in chunks[:-1]} == {"gpt-4o-mini-2024-07-18"}
    assert collect(out)["text"] == "Hi"


def test_metadata_is_the_first_non_empty_and_stays() -> None:
    """Later chunks with other ids or models do not change what the output carries."""
    stream = openai_stream(
        oa_chunk({"content": "a"}, id="", model=""),
        oa_chunk({"content": "b"}, id="chatcmpl-first", model="m1"),
        oa_chunk({}, "stop", id="chatcmpl-second", model="m2"),
    )
    chunks = chunks_of(run("openai", stream, model="fallback-model"))[:-1]
    # The first chunk was rendered before any id was known: the fallbacks stay.
    assert {c["id"] for c in chunks} == {"chatcmpl-harness"}
    assert {c["model"] for c in chunks} == {"fallback-model"}


def test_openai_in_band_error_after_content() -> None:
    """An {"error": ...} chunk mid-stream ends it with a stream_error and no [DONE]."""
    error = {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    stream = (
        sse(oa_chunk({"role": "assistant", "content": "Par"}))
        + sse(error)
        + sse(oa_chunk({"content": "tial"}))
    )
    out = run("openai", stream)
    assert_well_formed(out)
    seen = collect(out)
    assert seen["text"] == "Par"
    assert seen["error"] == {
        "type": "stream_error",
        "code": "server_error",
        "message": "The server had an error while processing your request.",
        "provider": "openai",
    }
    assert not seen["done"]


def test_openai_event_error_field() -> None:
    """An `event: error` SSE event with an error object is a provider error too."""
    stream = sse(oa_chunk({"content": "x"})) + sse(
        {"error": {"code": "rate_limit_exceeded", "message": "slow down"}}, "error"
    )
    assert collect(run("openai", stream))["error"]["code"] == "rate_limit_exceeded"


def test_openai_finish_without_done_is_complete() -> None:
    """A stream that ends after finish_reason but without [DONE] is complete."""
    out = run(
        "openai", openai_stream(oa_chunk({"content": "ok"}), oa_chunk({}, "stop"), done=False)
    )
    assert_well_formed(out)
    assert collect(out)["done"]


def test_openai_truncated_before_finish() -> None:
    """A stream cut before any finish_reason ends in a connection_closed error."""
    out = run("openai", openai_stream(oa_chunk({"content": "Hel"}), done=False))
    assert_well_formed(out)
    seen = collect(out)
    assert seen["text"] == "Hel"
    assert seen["error"]["code"] == "connection_closed"
    assert "finish_reason" in seen["error"]["message"]


def test_openai_cut_mid_event_says_so() -> None:
    """A stream cut inside an event reports that the last event was incomplete."""
    stream = sse(oa_chunk({"content": "Hel"})) + b'data: {"id":"chatcmpl-abc123","cho'
    error = collect(run("openai", stream))["error"]
    assert error["code"] == "connection_closed"
    assert "middle of an event" in error["message"]


def test_malformed_json_is_a_parse_error_naming_the_event() -> None:
    """Data that is not JSON where JSON is due is a parse_error naming the event number."""
    stream = (
        sse(oa_chunk({"content": "ok"}))
        + b'data: {"choices": [\n\n'
        + sse(oa_chunk({"content": "lost"}))
    )
    out = run("openai", stream)
    assert_well_formed(out)
    seen = collect(out)
    assert seen["text"] == "ok"
    assert seen["error"]["code"] == "parse_error"
    assert seen["error"]["message"].startswith("event 2: data is not valid JSON")


@pytest.mark.parametrize(
    ("chunk", "where"),
    [
        ({"choices": "nope"}, "choices: expected an array"),
        (
            {"choices": [{"index": 0, "delta": {"content": 5}}]},
            "choices[0].delta.content: expected a string",
        ),
        (
            {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": []}]}}]},
            "choices[0].delta.tool_calls[0].function: expected an object",
        ),
        ([1, 2], "not an object"),
    ],
)
def test_wrong_shapes_are_parse_errors_naming_the_field(chunk: Any, where: str) -> None:
    """JSON of the wrong shape is a parse_error whose message names the field."""
    error = collect(run("openai", sse(chunk)))["error"]
    assert error["code"] == "parse_error"
    assert where in error["message"]


def test_input_after_done_is_ignored() -> None:
    """Nothing is emitted after [DONE], even a duplicated terminal event or an error."""
    stream = openai_text("a") + sse(oa_chunk({"content": "late"})) + sse("[DONE]") + b"garbage"
    out = run("openai", stream)
    assert out.count(b"[DONE]") == 1
    assert collect(out)["text"] == "a"


def test_multiple_choices_keep_their_index() -> None:
    """With n=2 each choice keeps its own index."""
    choices = [
        {"index": 0, "delta": {"content": "A"}, "finish_reason": None},
        {"index": 1, "delta": {"content": "B"}, "finish_reason": None},
    ]
    stream = openai_stream(oa_chunk(choices=choices), oa_chunk({}, "stop"))
    first = chunks_of(run("openai", stream))[0]
    assert [(c["index"], c["delta"]["content"]) for c in first["choices"]] == [(0, "A")]
    second = chunks_of(run("openai", stream))[1]
    assert [(c["index"], c["delta"]["content"]) for c in second["choices"]] == [(1, "B")]


# --- Anthropic -----------------------------------------------------------------------


def test_anthropic_text() -> None:
    """message_start/content_block_delta/message_delta/message_stop become an OpenAI stream."""
    out = run("anthropic", anthropic_text("Hello", ", world"))
    assert_well_formed(out)
    seen = collect(out)
    assert seen["text"] == "Hello, world"
    assert seen["finish_reason"] == "stop"
    assert seen["usage"] == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}
    chunks = chunks_of(out)
    assert chunks[0]["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert chunks[0]["model"] == "claude-sonnet-4-5-20250929"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_anthropic_tool_indexes_count_tool_calls_not_blocks() -> None:
    """A text block at index 0 and tools at 1 and 2 give tool calls 0 and 1, arguments intact."""
    stream = (
        an_start()
        + an_text_block(0, "Let me check.")
        + an_tool_block(1, "toolu_01A", "get_weather", "", '{"city": ', '"Paris"}')
        + an_tool_block(2, "toolu_01B", "get_time", '{"tz":"CET"}')
        + an_end("tool_use")
    )
    out = run("anthropic", stream)
    seen = collect(out)
    assert seen["text"] == "Let me check."
    assert seen["tool_calls"] == [
        {"id": "toolu_01A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "toolu_01B", "name": "get_time", "arguments": '{"tz":"CET"}'},
    ]
    assert seen["finish_reason"] == "tool_calls"
    indexes = [
        call["index"]
        for chunk in chunks_of(out)[:-1]
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls", [])
    ]
    assert indexes == [0, 0, 0, 1, 1]
    first_call = next(c for c in chunks_of(out) if "tool_calls" in c["choices"][0]["delta"])
    assert first_call["choices"][0]["delta"]["tool_calls"][0] == {
        "index": 0,
        "id": "toolu_01A",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }


def test_anthropic_thinking_becomes_reasoning_and_signature_is_dropped() -> None:
    """thinking_delta becomes reasoning_content; signature_delta carries nothing to OpenAI."""
    stream = (
        an_start() + an_thinking_block(0, "Let me ", "think.") + an_text_block(1, "42") + an_end()
    )
    out = run("anthropic", stream)
    seen = collect(out)
    assert seen["reasoning"] == "Let me think."
    assert seen["text"] == "42"
    assert b"EqQBCgIYAhIM1gbcDa9GJwZA2b3h" not in out


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("model_context_window_exceeded", "length"),
        ("something_new", "stop"),
    ],
)
def test_anthropic_stop_reasons(reason: str, expected: str) -> None:
    """Anthropic stop_reason maps to OpenAI finish_reason."""
    out = run("anthropic", an_start() + an_text_block(0, "x") + an_end(reason))
    assert collect(out)["finish_reason"] == expected


def test_anthropic_cache_usage() -> None:
    """Cached input counts in prompt_tokens, and cache reads appear as cached_tokens."""
    stream = an_start(10, cache_creation_input_tokens=100, cache_read_input_tokens=2000)
    stream += an_text_block(0, "x") + an_end(output_tokens=7)
    assert collect(run("anthropic", stream))["usage"] == {
        "prompt_tokens": 2110,
        "completion_tokens": 7,
        "total_tokens": 2117,
        "prompt_tokens_details": {"cached_tokens": 2000},
    }


def test_anthropic_usage_absent_is_estimated() -> None:
    """A stream whose events carry no usage at all gets the deterministic estimate."""
    start = an_event("message_start", message={"id": "msg_1", "model": "claude", "content": []})
    stop = an_event("message_delta", delta={"stop_reason": "end_turn"}) + an_event("message_stop")
    out = run("anthropic", start + an_text_block(0, "abcdefgh") + stop, prompt_tokens=4)
    assert collect(out)["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


def test_anthropic_overloaded_mid_stream() -> None:
    """An in-band overloaded_error after HTTP 200 ends the stream with that code, no [DONE]."""
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    stream = an_start() + an_event(
        "content_block_start", index=0, content_block={"type": "text", "text": ""}
    )
    stream += an_event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Par"})
    stream += sse(error, "error")
    out = run("anthropic", stream)
    assert_well_formed(out)
    seen = collect(out)
    assert seen["text"] == "Par"
    assert seen["error"] == {
        "type": "stream_error",
        "code": "overloaded_error",
        "message": "Overloaded",
        "provider": "anthropic",
    }
    assert not seen["done"]


def test_anthropic_clean_close_before_message_stop() -> None:
    """A stream that closes cleanly after message_delta but before message_stop is incomplete."""
    stream = (
        an_start()
        + an_text_block(0, "Hi")
        + an_event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 2})
    )
    seen = collect(run("anthropic", stream))
    assert seen["error"]["code"] == "connection_closed"
    assert "message_stop" in seen["error"]["message"]
    assert seen["text"] == "Hi"


def test_anthropic_unknown_events_are_ignored() -> None:
    """Event types added after this adapter was written are skipped, not errors."""
    stream = (
        an_start()
        + an_event("brand_new_event", payload={"x": 1})
        + an_text_block(0, "ok")
        + an_end()
    )
    seen = collect(run("anthropic", stream))
    assert seen["text"] == "ok"
    assert seen["done"]


def test_anthropic_events_without_event_lines() -> None:
    """The data's type decides, so a proxy that dropped the `event:` lines changes nothing."""
    with_names = anthropic_text("Hi")
    without = b"".join(
        line + b"\n" for line in with_names.split(b"\n")[:-1] if not line.startswith(b"event:")
    )
    assert run("anthropic", without) == run("anthropic", with_names)


# --- Gemini --------------------------------------------------------------------------


def test_gemini_text() -> None:
    """Gemini text parts become content; STOP is stop; usageMetadata is the usage."""
    stream = gemini_stream(
        gm_chunk({"text": "Hello"}),
        gm_chunk({"text": ", world"}, finish="STOP", usage=GM_USAGE),
    )
    out = run("gemini", stream)
    assert_well_formed(out)
    seen = collect(out)
    assert seen["text"] == "Hello, world"
    assert seen["finish_reason"] == "stop"
    assert seen["usage"] == {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}
    first = chunks_of(out)[0]
    assert first["id"] == "mJ4aZ9yZLsOg1MkP-YmCuQ4"
    assert first["model"] == "gemini-2.5-flash"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Hello"}


def test_gemini_parallel_function_calls() -> None:
    """functionCall parts become complete tool calls; STOP after a call is tool_calls."""
    stream = gemini_stream(
        gm_chunk(
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {"tz": "CET"}, "id": "fc_2"}},
            finish="STOP",
            usage=GM_USAGE,
        )
    )
    seen = collect(run("gemini", stream))
    assert seen["tool_calls"] == [
        {"id": "call_0", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"id": "fc_2", "name": "get_time", "arguments": '{"tz":"CET"}'},
    ]
    assert seen["finish_reason"] == "tool_calls"


def test_gemini_thoughts_and_reasoning_usage() -> None:
    """thought parts become reasoning; thoughtsTokenCount counts as completion and reasoning."""
    usage = {
        "promptTokenCount": 10,
        "candidatesTokenCount": 5,
        "thoughtsTokenCount": 20,
        "cachedContentTokenCount": 4,
        "totalTokenCount": 35,
    }
    stream = gemini_stream(
        gm_chunk({"text": "Considering...", "thought": True}),
        gm_chunk(
            {"text": "Answer", "thoughtSignature": "c2lnbmF0dXJl"}, finish="STOP", usage=usage
        ),
    )
    seen = collect(run("gemini", stream))
    assert seen["reasoning"] == "Considering..."
    assert seen["text"] == "Answer"
    assert seen["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 25,
        "total_tokens": 35,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_gemini_finish_reasons(reason: str, expected: str) -> None:
    """Gemini finishReason maps to OpenAI finish_reason."""
    stream = gemini_stream(gm_chunk({"text": "x"}, finish=reason))
    assert collect(run("gemini", stream))["finish_reason"] == expected


def test_gemini_usage_only_chunk_after_final_candidate() -> None:
    """A usage-only chunk after the finishReason still counts; the stream ends at EOF."""
    stream = gemini_stream(
        gm_chunk({"text": "x"}, finish="STOP"),
        {"usageMetadata": GM_USAGE, "modelVersion": "gemini-2.5-flash"},
    )
    seen = collect(run("gemini", stream))
    assert seen["usage"]["total_tokens"] == 12
    assert seen["done"]


def test_gemini_usage_is_the_last_one_sent_however_often_it_repeats() -> None:
    """Gemini repeats the usage so far in every chunk (the adapter reads it only when it
    changes): the usage reported is the last one sent, back to an earlier value
    included, and a malformed one is refused where it first appears."""
    early = {"promptTokenCount": 8, "totalTokenCount": 8}
    for usages, total in (([early, dict(early), GM_USAGE], 12), ([early, GM_USAGE, early], 8)):
        stream = gemini_stream(
            *(gm_chunk({"text": "a"}, usage=usage) for usage in usages[:-1]),
            gm_chunk({"text": "b"}, finish="STOP", usage=usages[-1]),
        )
        assert collect(run("gemini", stream))["usage"]["total_tokens"] == total
    bad = {"promptTokenCount": "8", "totalTokenCount": 8}
    stream = gemini_stream(
        gm_chunk({"text": "a"}, usage=early),
        gm_chunk({"text": "b"}, usage=bad),
        gm_chunk({"text": "c"}, finish="STOP", usage=bad),
    )
    seen = collect(run("gemini", stream))
    assert seen["error"]["code"] == "parse_error"
    assert "event 2" in seen["error"]["message"]


def test_gemini_prompt_blocked() -> None:
    """promptFeedback.blockReason ends the answer with content_filter."""
    stream = gemini_stream({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": GM_USAGE})
    seen = collect(run("gemini", stream))
    assert seen["finish_reason"] == "content_filter"
    assert seen["done"]


def test_gemini_in_band_error() -> None:
    """An in-band error object ends the stream with its status as code."""
    error = {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }
    stream = gemini_stream(gm_chunk({"text": "Hal"}), error)
    seen = collect(run("gemini", stream))
    assert seen["text"] == "Hal"
    assert seen["error"]["code"] == "UNAVAILABLE"
    assert seen["error"]["provider"] == "gemini"


def test_gemini_truncated_without_finish_reason() -> None:
    """A Gemini stream that ends before any finishReason was cut off."""
    seen = collect(run("gemini", gemini_stream(gm_chunk({"text": "Hal"}))))
    assert seen["error"]["code"] == "connection_closed"


# --- Across providers ----------------------------------------------------------------


@pytest.mark.parametrize("comment", [b": ping", b": OPENROUTER PROCESSING", b":", b":keep-alive"])
def test_keepalive_comment_styles_become_one_keepalive(comment: bytes) -> None:
    """Any SSE comment becomes exactly one `: keep-alive` frame, in place."""
    stream = openai_text("a")
    stream = stream.replace(b"\n\n", b"\n\n" + comment + b"\n\n", 1)
    out = run("openai", stream)
    frames = list(normalize("openai", [stream]))
    assert frames[1] == b": keep-alive\n\n"
    assert out.count(b": keep-alive\n\n") == 1


def test_anthropic_ping_event_is_a_keepalive() -> None:
    """Anthropic's `event: ping` becomes `: keep-alive`."""
    stream = an_start() + an_event("ping") + an_text_block(0, "x") + an_end()
    assert run("anthropic", stream).count(b": keep-alive\n\n") == 1


@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_line_endings(eol: str) -> None:
    """CRLF and CR-only streams normalize exactly like LF streams."""
    lf = anthropic_text("Hi", " there")
    assert run("anthropic", lf.replace(b"\n", eol.encode())) == run("anthropic", lf)


def test_utf8_split_across_chunks() -> None:
    """A multi-byte character split across reads arrives whole."""
    stream = openai_text("naïve ", "日本語 ", "🙂")
    out = b"".join(normalize("openai", _bytewise(stream)))
    assert collect(out)["text"] == "naïve 日本語 🙂"
    assert "🙂".encode() in out  # written as UTF-8, not \\u escapes


def test_frames_come_out_as_soon_as_their_input_is_complete() -> None:
    """feed returns a delta's frame in the same call that completes its event."""
    normalizer = Normalizer("openai")
    event = sse(oa_chunk({"content": "x"}))
    assert normalizer.feed(event[:-1]) == []
    frames = normalizer.feed(event[-1:])
    assert len(frames) == 1
    assert json.loads(frames[0][6:])["choices"][0]["delta"] == {"content": "x"}


def test_unknown_provider_raises_at_call_time_listing_known() -> None:
    """normalize with an unknown provider raises before iterating, naming the known ones."""
    with pytest.raises(
        UnknownProviderError, match="known providers: anthropic, bedrock-converse, gemini, openai"
    ):
        normalize("cohere", iter([]))


def test_empty_input_is_connection_closed() -> None:
    """No input at all is an incomplete stream."""
    for provider in ("openai", "anthropic", "gemini"):
        assert collect(run(provider, b""))["error"]["code"] == "connection_closed"


def test_include_usage_false_omits_the_usage_chunk() -> None:
    """With include_usage=False the stream ends with the finish chunk and [DONE]."""
    chunks = chunks_of(run("anthropic", anthropic_text("x"), include_usage=False))
    assert chunks[-1] == "[DONE]"
    assert "usage" not in chunks[-2]


# --- The async twin ------------------------------------------------------------------


def _sync(provider: str, parts: list[bytes]) -> bytes:
    return b"".join(normalize(provider, iter(parts)))


def _async(provider: str, parts: list[bytes]) -> bytes:
    async def source() -> AsyncIterator[bytes]:
        for part in parts:
            await asyncio.sleep(0)
            yield part

    async def main() -> bytes:
        return b"".join([frame async for frame in anormalize(provider, source())])

    return asyncio.run(main())


STREAMS: dict[str, tuple[str, bytes]] = {
    "openai-text": ("openai", openai_text("a", "b")),
    "anthropic-tools": (
        "anthropic",
        an_start() + an_tool_block(0, "toolu_1", "f", '{"a":', "1}") + an_end("tool_use"),
    ),
    "gemini-truncated": ("gemini", gemini_stream(gm_chunk({"text": "x"}))),
}


@pytest.mark.parametrize("driver", [_sync, _async], ids=["sync", "async"])
@pytest.mark.parametrize("name", list(STREAMS))
def test_sync_and_async_agree(driver: Callable[[str, list[bytes]], bytes], name: str) -> None:
    """normalize and anormalize give the same bytes for the same input."""
    provider, stream = STREAMS[name]
    assert driver(provider, _sevens(stream)) == b"".join(normalize(provider, [stream]))


def test_normalize_streams_lazily() -> None:
    """normalize pulls input only as far as needed for the next frame."""
    pulled: list[int] = []

    def source() -> Iterator[bytes]:
        for n, part in enumerate(_bytewise(openai_text("abc"))):
            pulled.append(n)
            yield part

    frames = normalize("openai", source())
    next(frames)
    assert len(pulled) < len(openai_text("abc")) // 2
