"""Aggregating a whole stream into the provider's non-streaming answer."""

from __future__ import annotations

from typing import Any

import pytest

from harness import normalize
from harness.stream.aggregate import (
    anthropic_message,
    fold_openai,
    gemini_response,
    openai_completion,
    reported_usage,
    responses_answer,
)
from harness.stream.events import Usage
from harness.stream.provider_errors import error_body
from tests.streams import (
    GM_USAGE,
    an_end,
    an_event,
    an_start,
    an_text_block,
    an_thinking_block,
    an_tool_block,
    gemini_stream,
    gm_chunk,
    oa_chunk,
    openai_stream,
    openai_text,
    sse,
)

AN_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
AN_MODEL = "claude-sonnet-4-5-20250929"
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"


def normalized(provider: str, raw: bytes) -> bytes:
    """The pipeline's output for ``raw``, joined: the input openai_completion expects."""
    return b"".join(normalize(provider, [raw]))


def sole_message(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["choices"]) == 1
    message: dict[str, Any] = body["choices"][0]["message"]
    return message


# --- OpenAI: the normalized stream of each provider ----------------------------------


def test_openai_text_and_usage_from_an_openai_stream() -> None:
    """An OpenAI text stream with usage adds up to the full chat.completion object."""
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    stream = normalized("openai", openai_text("Hel", "lo", "!", usage=usage))
    assert openai_completion(stream) == (
        200,
        {
            "id": "chatcmpl-abc123",
            "object": "chat.completion",
            "created": 1731000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello!", "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        },
    )


def test_openai_parallel_tool_calls_from_an_anthropic_stream() -> None:
    """Anthropic parallel tool_use blocks with fragmented JSON become ordered tool_calls."""
    raw = (
        an_start(25)
        + an_text_block(0, "Let me ", "check.")
        + an_tool_block(1, "toolu_01A", "get_weather", '{"loc', 'ation": "Pa', 'ris"}')
        + an_tool_block(2, "toolu_01B", "get_time", "", '{"tz":', ' "CET"}')
        + an_end("tool_use", 40)
    )
    status, body = openai_completion(normalized("anthropic", raw))
    assert status == 200
    assert (body["id"], body["model"], body["created"]) == (AN_ID, AN_MODEL, 0)
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert sole_message(body) == {
        "role": "assistant",
        "content": "Let me check.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "toolu_01A",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
            },
            {
                "id": "toolu_01B",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
            },
        ],
    }
    assert body["usage"] == {"prompt_tokens": 25, "completion_tokens": 40, "total_tokens": 65}


def test_openai_text_from_a_gemini_stream() -> None:
    """A Gemini text stream gives its responseId, modelVersion, text and usage."""
    raw = gemini_stream(
        gm_chunk({"text": "Hi"}),
        gm_chunk({"text": " there"}, finish="STOP", usage=GM_USAGE),
    )
    status, body = openai_completion(normalized("gemini", raw))
    assert status == 200
    assert (body["id"], body["model"]) == ("mJ4aZ9yZLsOg1MkP-YmCuQ4", "gemini-2.5-flash")
    assert sole_message(body) == {"role": "assistant", "content": "Hi there", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}


def test_openai_reasoning_from_an_anthropic_thinking_block() -> None:
    """Thinking deltas add up to message.reasoning_content, next to the text."""
    raw = (
        an_start()
        + an_thinking_block(0, "The user ", "greets me.")
        + an_text_block(1, "Hello!")
        + an_end()
    )
    status, body = openai_completion(normalized("anthropic", raw))
    assert status == 200
    assert sole_message(body) == {
        "role": "assistant",
        "content": "Hello!",
        "refusal": None,
        "reasoning_content": "The user greets me.",
    }


def test_openai_tool_only_answer_has_null_content() -> None:
    """A Gemini functionCall-only answer has content None and the call's id and JSON args."""
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    raw = gemini_stream(gm_chunk(call, finish="STOP", usage=GM_USAGE))
    status, body = openai_completion(normalized("gemini", raw))
    assert status == 200
    message = sole_message(body)
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": "call_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_system_fingerprint_refusal_and_choices_when_present() -> None:
    """Fields the chunks carry (system_fingerprint, refusal, several choices) are kept."""
    stream = openai_stream(
        oa_chunk({"role": "assistant", "refusal": "I can't "}),
        oa_chunk(
            choices=[
                {"index": 1, "delta": {"content": "Sure"}, "logprobs": None, "finish_reason": None}
            ]
        ),
        oa_chunk({"refusal": "help with that."}, "stop"),
        oa_chunk(choices=[{"index": 1, "delta": {}, "logprobs": None, "finish_reason": "length"}]),
    )
    status, body = openai_completion(stream)
    assert status == 200
    assert body["system_fingerprint"] == "fp_0ba0d124f1"
    assert "usage" not in body
    assert [c["index"] for c in body["choices"]] == [0, 1]
    first, second = body["choices"]
    assert first["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "I can't help with that.",
    }
    assert first["finish_reason"] == "stop"
    assert second["message"]["content"] == "Sure"
    assert second["finish_reason"] == "length"


def test_openai_empty_complete_stream_gets_defaults() -> None:
    """A bare [DONE] gives one empty choice with the renderer's default id and model."""
    status, body = openai_completion(openai_stream())
    assert status == 200
    assert (body["id"], body["model"], body["created"]) == ("chatcmpl-harness", "unknown", 0)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]


@pytest.mark.parametrize(
    ("provider", "raw", "status", "code"),
    [
        pytest.param(
            "anthropic",
            an_start()
            + an_text_block(0, "Hi")
            + an_event("error", error={"type": "overloaded_error", "message": "Overloaded"}),
            529,
            "overloaded_error",
            id="anthropic-overloaded",
        ),
        pytest.param(
            "anthropic",
            an_start()
            + an_event("error", error={"type": "rate_limit_error", "message": "Slow down"}),
            429,
            "rate_limit_error",
            id="anthropic-rate-limit",
        ),
        pytest.param(
            "gemini",
            gemini_stream(
                gm_chunk({"text": "Hi"}),
                {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}},
            ),
            503,
            "UNAVAILABLE",
            id="gemini-unavailable",
        ),
        pytest.param(
            "gemini",
            gemini_stream(
                {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}
            ),
            429,
            "RESOURCE_EXHAUSTED",
            id="gemini-exhausted",
        ),
        pytest.param(
            "openai",
            openai_stream(
                oa_chunk({"content": "Hi"}),
                {"error": {"message": "boom", "type": "server_error", "code": None}},
            ),
            500,
            "server_error",
            id="openai-server-error",
        ),
    ],
)
def test_openai_in_band_provider_error(provider: str, raw: bytes, status: int, code: str) -> None:
    """A provider's in-band error ends the answer as an OpenAI error with the mapped status."""
    got_status, body = openai_completion(normalized(provider, raw))
    assert got_status == status
    assert body["error"]["type"] == code
    assert body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("rate_limit_error", 429),
        ("rate_limit_exceeded", 429),
        ("RESOURCE_EXHAUSTED", 429),
        ("overloaded_error", 529),
        ("UNAVAILABLE", 503),
        ("service_unavailable", 503),
        ("connection_closed", 502),
        ("parse_error", 502),
        ("api_error", 500),
        ("504", 504),
        ("200", 500),
    ],
)
def test_openai_stream_error_code_to_status(code: str, status: int) -> None:
    """Each stream_error code maps to its HTTP status; the body is error_body with that type."""
    error = {"type": "stream_error", "code": code, "message": "it broke", "provider": "x"}
    stream = openai_stream(oa_chunk({"content": "Hi"}), {"error": error}, done=False)
    assert openai_completion(stream) == (
        status,
        error_body("openai", status, "it broke", type=code),
    )


def test_openai_error_without_code_or_message() -> None:
    """An error object with neither code nor type nor message is a generic 500 server_error."""
    stream = openai_stream({"error": {}}, done=False)
    assert openai_completion(stream) == (500, error_body("openai", 500, type="server_error"))


def test_openai_cut_stream_is_502() -> None:
    """A cut provider stream (pipeline's connection_closed) or a stream without [DONE] is 502."""
    cut = normalized("anthropic", an_start() + an_text_block(0, "Hel"))
    status, body = openai_completion(cut)
    assert status == 502
    assert body["error"]["type"] == "connection_closed"
    assert "message_stop" in body["error"]["message"]

    no_done = openai_stream(oa_chunk({"content": "Hel"}), done=False)
    assert openai_completion(no_done) == (
        502,
        error_body(
            "openai",
            502,
            "the stream ended before [DONE]: the response is incomplete",
            type="connection_closed",
        ),
    )


def test_openai_bad_json_is_502_parse_error() -> None:
    """Data that is not a JSON object is a 502 parse_error naming the event number."""
    stream = sse(oa_chunk({"content": "Hi"})) + b": keep-alive\n\n" + sse("{nope") + sse("[DONE]")
    status, body = openai_completion(stream)
    assert status == 502
    assert body["error"]["type"] == "parse_error"
    assert body["error"]["message"].startswith("event 2: ")


def test_openai_ignores_what_follows_done() -> None:
    """Chunks after [DONE] change nothing; empty data lines are skipped."""
    stream = openai_text("Hi") + sse("") + sse(oa_chunk({"content": " again"}))
    status, body = openai_completion(b"data:\n\n" + stream)
    assert status == 200
    assert sole_message(body)["content"] == "Hi"


# --- Anthropic ---------------------------------------------------------------------


def test_anthropic_text_message_with_usage_override() -> None:
    """message_delta usage fields override message_start's; null ones do not."""
    delta_usage = {"output_tokens": 15, "input_tokens": 30, "cache_read_input_tokens": None}
    stream = (
        an_start(25, cache_read_input_tokens=7)
        + an_event("ping")
        + an_text_block(0, "Hello", ", world")
        + an_event(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage=delta_usage,
        )
        + an_event("message_stop")
    )
    assert anthropic_message(stream) == (
        200,
        {
            "id": AN_ID,
            "type": "message",
            "role": "assistant",
            "model": AN_MODEL,
            "content": [{"type": "text", "text": "Hello, world"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 15, "cache_read_input_tokens": 7},
        },
    )


def test_anthropic_later_message_delta_wins() -> None:
    """With several message_delta events, the last stop_reason and usage values win."""
    stream = (
        an_start()
        + an_text_block(0, "Hi")
        + an_event("message_delta", delta={"stop_reason": None}, usage={"output_tokens": 2})
        + an_event(
            "message_delta",
            delta={"stop_reason": "stop_sequence", "stop_sequence": "\n\nHuman:"},
            usage={"output_tokens": 5},
        )
        + an_event("message_stop")
    )
    status, body = anthropic_message(stream)
    assert status == 200
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "\n\nHuman:")
    assert body["usage"] == {"input_tokens": 25, "output_tokens": 5}


def test_anthropic_parallel_tool_use_blocks() -> None:
    """Fragmented input_json_delta is parsed per block; a block without fragments has {}."""
    stream = (
        an_start()
        + an_text_block(0, "Checking both.")
        + an_tool_block(
            1, "toolu_01A", "get_weather", "", '{"city": ', '"Paris", "days": [1,', "2]}"
        )
        + an_tool_block(2, "toolu_01B", "get_time")
        + an_tool_block(3, "toolu_01C", "list_all", "")
        + an_end("tool_use", 60)
    )
    status, body = anthropic_message(stream)
    assert status == 200
    assert body["stop_reason"] == "tool_use"
    assert body["content"] == [
        {"type": "text", "text": "Checking both."},
        {
            "type": "tool_use",
            "id": "toolu_01A",
            "name": "get_weather",
            "input": {"city": "Paris", "days": [1, 2]},
        },
        {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}},
        {"type": "tool_use", "id": "toolu_01C", "name": "list_all", "input": {}},
    ]
    assert body["usage"]["output_tokens"] == 60


def test_anthropic_thinking_block() -> None:
    """Thinking deltas are joined and the signature_delta sets the block's signature."""
    stream = (
        an_start() + an_thinking_block(0, "Let me ", "think.") + an_text_block(1, "42") + an_end()
    )
    status, body = anthropic_message(stream)
    assert status == 200
    assert body["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": SIGNATURE},
        {"type": "text", "text": "42"},
    ]


def test_anthropic_other_blocks_citations_and_stray_events() -> None:
    """Unknown blocks stay as started, citations append, stray and late events are ignored."""
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    citation = {"type": "char_location", "cited_text": "Paris", "document_index": 0}
    stream = (
        an_start()
        + an_event("content_block_start", index=0, content_block=redacted)
        + an_event("content_block_stop", index=0)
        + an_event("content_block_start", index=1, content_block={"type": "text", "text": ""})
        + an_event(
            "content_block_delta", index=1, delta={"type": "citations_delta", "citation": citation}
        )
        + an_event("content_block_delta", index=1, delta={"type": "text_delta", "text": "Paris."})
        + an_event(
            "content_block_delta", index=1, delta={"type": "citations_delta", "citation": citation}
        )
        + an_event("content_block_delta", index=9, delta={"type": "text_delta", "text": "lost"})
        + an_event("content_block_delta", index=1, delta={"type": "future_delta", "x": 1})
        + an_event("content_block_stop", index=1)
        + an_end()
        + an_text_block(2, "after the end")
    )
    status, body = anthropic_message(stream)
    assert status == 200
    assert body["content"] == [
        redacted,
        {"type": "text", "text": "Paris.", "citations": [citation, citation]},
    ]


def test_anthropic_event_type_from_the_event_line_when_data_has_none() -> None:
    """Without a data "type", the SSE event name says what the event is."""
    stream = (
        an_start()
        + sse({"index": 0, "content_block": {"type": "text", "text": "Hi"}}, "content_block_start")
        + sse({}, "message_stop")
    )
    status, body = anthropic_message(stream)
    assert status == 200
    assert body["content"] == [{"type": "text", "text": "Hi"}]
    assert body["usage"] == {"input_tokens": 25, "output_tokens": 1}


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        ("overloaded_error", 529),
        ("rate_limit_error", 429),
        ("api_error", 500),
        ("invalid_request_error", 400),
        ("timeout_error", 504),
        ("brand_new_error", 500),
    ],
)
def test_anthropic_error_event(error_type: str, status: int) -> None:
    """An error event answers with its own data object and the status of its error.type."""
    error = {"type": "error", "error": {"type": error_type, "message": "Overloaded"}}
    stream = an_start() + an_text_block(0, "Hi") + sse(error, "error") + an_end()
    assert anthropic_message(stream) == (status, error)


def test_anthropic_error_without_event_line_or_type() -> None:
    """A nameless {"error": ...} data object is still an error; no error.type means 500."""
    error = {"error": {"message": "Something broke"}}
    assert anthropic_message(an_start() + sse(error)) == (500, error)


def test_anthropic_cut_stream_is_502() -> None:
    """A stream without message_stop is a 502 api_error saying the answer is incomplete."""
    stream = an_start() + an_text_block(0, "Hel")
    assert anthropic_message(stream) == (
        502,
        error_body(
            "anthropic",
            502,
            "the stream ended before message_stop: the response is incomplete",
            type="api_error",
        ),
    )


def test_anthropic_missing_message_start_is_502() -> None:
    """A message_stop without any message_start cannot make a Message: 502."""
    status, body = anthropic_message(an_text_block(0, "Hi") + an_end())
    assert status == 502
    assert body["error"]["type"] == "api_error"
    assert "message_start" in body["error"]["message"]


def test_anthropic_bad_json_names_the_event() -> None:
    """Invalid JSON in a data line is a 502 naming the event's number."""
    stream = (
        an_start() + sse("", "ping") + sse('{"type": "content_block_start", "ind', "x") + an_end()
    )
    status, body = anthropic_message(stream)
    assert status == 502
    assert body["type"] == "error"
    assert body["error"]["type"] == "api_error"
    assert body["error"]["message"].startswith("event 3: data is not valid JSON")


def test_anthropic_bad_tool_input_json_is_502() -> None:
    """Concatenated partial_json that does not parse is a 502 naming the content block."""
    stream = an_start() + an_tool_block(0, "toolu_01", "f", '{"a": ', "tru") + an_end("tool_use")
    status, body = anthropic_message(stream)
    assert status == 502
    assert body["error"]["message"].startswith("content block 0: the tool input is not valid JSON")


# --- Gemini ------------------------------------------------------------------------


def test_gemini_text_and_usage() -> None:
    """Text chunks merge into one part; the last usageMetadata and the ids are kept."""
    stream = gemini_stream(
        gm_chunk({"text": "Hel"}, usage={"promptTokenCount": 8, "totalTokenCount": 8}),
        gm_chunk({"text": "lo"}),
        gm_chunk({"text": "!"}, finish="STOP", usage=GM_USAGE),
    )
    assert gemini_response(stream) == (
        200,
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "Hello!"}], "role": "model"},
                    "index": 0,
                    "finishReason": "STOP",
                }
            ],
            "modelVersion": "gemini-2.5-flash",
            "responseId": "mJ4aZ9yZLsOg1MkP-YmCuQ4",
            "usageMetadata": GM_USAGE,
        },
    )


def test_gemini_thought_and_text_parts_merge_separately() -> None:
    """Consecutive parts merge only with the same thought flag; thoughtSignature is kept."""
    stream = gemini_stream(
        gm_chunk({"text": "Let me ", "thought": True}),
        gm_chunk({"text": "think.", "thought": True}),
        gm_chunk({"text": "The answer", "thoughtSignature": "c2ln"}),
        gm_chunk({"text": " is 42."}, {"text": "", "thought": False}),
        gm_chunk(finish="STOP", usage=GM_USAGE),
    )
    status, body = gemini_response(stream)
    assert status == 200
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "Let me think.", "thought": True},
        {"text": "The answer is 42.", "thoughtSignature": "c2ln", "thought": False},
    ]


def test_gemini_conflicting_signatures_keep_parts_apart() -> None:
    """Two text parts whose thoughtSignature differ are not merged."""
    stream = gemini_stream(
        gm_chunk({"text": "a", "thoughtSignature": "one"}),
        gm_chunk({"text": "b", "thoughtSignature": "two"}, finish="STOP"),
    )
    status, body = gemini_response(stream)
    assert status == 200
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "a", "thoughtSignature": "one"},
        {"text": "b", "thoughtSignature": "two"},
    ]


def test_gemini_parallel_function_calls_kept_in_order() -> None:
    """functionCall parts are kept as they are and split the text around them."""
    paris = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    rome = {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
    stream = gemini_stream(
        gm_chunk({"text": "Checking"}),
        gm_chunk(paris, rome),
        gm_chunk({"text": "done"}, finish="STOP", usage=GM_USAGE),
    )
    status, body = gemini_response(stream)
    assert status == 200
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "Checking"},
        paris,
        rome,
        {"text": "done"},
    ]


def test_gemini_last_finish_reason_and_safety_ratings_win() -> None:
    """Per candidate, the last finishReason and safetyRatings seen are the answer's."""
    low = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
    high = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]
    first = gm_chunk({"text": "Hi"})
    first["candidates"][0]["safetyRatings"] = low
    last = gm_chunk({"text": ""}, finish="SAFETY")
    last["candidates"][0]["safetyRatings"] = high
    last["promptFeedback"] = {"safetyRatings": low}
    status, body = gemini_response(gemini_stream(first, gm_chunk(finish="STOP"), last))
    assert status == 200
    candidate = body["candidates"][0]
    assert (candidate["finishReason"], candidate["safetyRatings"]) == ("SAFETY", high)
    assert body["promptFeedback"] == {"safetyRatings": low}


def test_gemini_several_candidates() -> None:
    """Candidates merge by index, sorted; one missing its finishReason makes the stream cut."""
    both = gm_chunk({"text": "A"})
    both["candidates"].append({"content": {"role": "model", "parts": [{"text": "B"}]}, "index": 1})
    end = [gm_chunk({"text": "b"}, index=1, finish="STOP"), gm_chunk({"text": "a"}, finish="STOP")]
    status, body = gemini_response(gemini_stream(both, *end))
    assert status == 200
    texts = [c["content"]["parts"][0]["text"] for c in body["candidates"]]
    assert texts == ["Aa", "Bb"]
    assert gemini_response(gemini_stream(both, end[0]))[0] == 502


def test_gemini_candidate_without_index_uses_its_position() -> None:
    """A candidate with no index field is numbered by its place in the list."""
    chunk = gm_chunk({"text": "Hi"}, finish="STOP")
    del chunk["candidates"][0]["index"]
    status, body = gemini_response(gemini_stream(chunk))
    assert status == 200
    assert body["candidates"][0]["index"] == 0


def test_gemini_blocked_prompt_is_complete() -> None:
    """A promptFeedback.blockReason answer has no candidates and is not a cut stream."""
    chunk = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": GM_USAGE}
    assert gemini_response(gemini_stream(chunk)) == (200, chunk)


@pytest.mark.parametrize(
    ("code", "status"),
    [(503, 503), (429, 429), (400, 400), (200, 500), (600, 500), ("503", 500), (None, 500)],
)
def test_gemini_in_band_error(code: Any, status: int) -> None:
    """An in-band error chunk is the body; its code is the status when an int in 400..599."""
    error = {
        "error": {"code": code, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    }
    stream = gemini_stream(gm_chunk({"text": "Hi"}), error, gm_chunk(finish="STOP"))
    assert gemini_response(stream) == (status, error)


def test_gemini_cut_stream_is_502() -> None:
    """A stream whose last candidate chunk has no finishReason is a 502."""
    expected = (
        502,
        error_body(
            "gemini", 502, "the stream ended before a finishReason: the response is incomplete"
        ),
    )
    assert gemini_response(gemini_stream(gm_chunk({"text": "Hel"}))) == expected
    assert gemini_response(b"") == expected
    assert gemini_response(sse("") + sse("  ")) == expected


def test_gemini_bad_json_names_the_event() -> None:
    """Invalid JSON (or JSON that is not an object) is a 502 naming the event number."""
    for bad in ("{oops", "[1, 2]"):
        stream = (
            gemini_stream(gm_chunk({"text": "Hi"}))
            + sse(bad)
            + gemini_stream(gm_chunk(finish="STOP"))
        )
        status, body = gemini_response(stream)
        assert status == 502
        assert body["error"]["status"] == "UNAVAILABLE"
        assert body["error"]["message"].startswith("event 2: data is ")


# --- The fold itself, and whether usage was reported -----------------------------------


def test_fold_openai_keeps_what_came_before_an_error() -> None:
    """An error chunk ends the fold; the text before it is kept, with the error object."""
    raw = openai_stream(
        oa_chunk({"role": "assistant", "content": "Hel"}),
        oa_chunk({"content": "lo"}),
        {"error": {"message": "Overloaded", "type": "server_error", "code": None}},
        done=False,
    )
    fold = fold_openai(raw)
    assert "".join(fold.choices[0].content) == "Hello"
    assert fold.choices[0].finish_reason is None
    assert fold.error == {"message": "Overloaded", "type": "server_error", "code": None}
    assert fold.usage is None


def test_fold_openai_of_a_cut_or_malformed_stream() -> None:
    """No [DONE]: connection_closed; data that is not an object: parse_error."""
    assert fold_openai(openai_stream(oa_chunk({"content": "x"}), done=False)).error == {
        "code": "connection_closed",
        "message": "the stream ended before [DONE]: the response is incomplete",
    }
    error = fold_openai(sse("[1]")).error
    assert error is not None
    assert error["code"] == "parse_error"
    assert error["message"].startswith("event 1: ")


def test_fold_openai_of_a_complete_stream() -> None:
    """Head, usage and each choice's parts, as openai_completion renders them."""
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    fold = fold_openai(normalized("openai", openai_text("Hel", "lo", usage=usage)))
    assert fold.error is None
    assert fold.usage == usage
    assert fold.head["id"] == "chatcmpl-abc123"
    assert fold.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("provider", "raw", "expected"),
    [
        (
            "openai",
            openai_text(
                "hi", usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
            ),
            Usage(9, 3, 12),
        ),
        ("openai", openai_text("hi"), None),  # no usage chunk: the pipeline estimates
        ("openai", openai_stream(oa_chunk({"content": "hi"}), done=False), None),  # cut
        ("gemini", gemini_stream(gm_chunk({"text": "hi"}, finish="STOP", usage=GM_USAGE)), True),
        ("gemini", gemini_stream(gm_chunk({"text": "hi"}, finish="STOP")), None),
        ("anthropic", an_start() + an_text_block(0, "hi") + an_end(), True),
        ("anthropic", an_start() + an_event("error", error={"type": "overloaded_error"}), None),
        ("openai", sse("{not json"), None),  # a parse error ends the stream
    ],
)
def test_reported_usage(provider: str, raw: bytes, expected: Usage | bool | None) -> None:
    """The provider's own usage when it reported one; None when the pipeline estimates."""
    usage = reported_usage(provider, raw)
    if expected is True:
        assert isinstance(usage, Usage)
    else:
        assert usage == expected
    # The normalized stream's usage chunk carries exactly the reported usage.
    fold = fold_openai(normalized(provider, raw))
    if usage is not None:
        assert fold.usage is not None
        assert fold.usage["prompt_tokens"] == usage.prompt_tokens


# --- OpenAI Responses: raw API streams ------------------------------------------------------

RESP_ID = "resp_68d7eff889908196bde536de7b601b7d07152cb8c6ac9072"
RESP_MSG = {
    "id": "msg_68d7eff9c3b8819683eb04cbeb3775d507152cb8c6ac9072",
    "type": "message",
    "status": "completed",
    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello!"}],
    "role": "assistant",
}


def rs_response(status: str, output: list[Any], **fields: Any) -> dict[str, Any]:
    """A Responses ``Response`` object as the API sends it (abridged)."""
    return {
        "id": RESP_ID,
        "object": "response",
        "created_at": 1758982136,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": "gpt-5-2025-08-07",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
        **fields,
    }


def rs_stream(*events: dict[str, Any]) -> bytes:
    """Named Responses events, numbered from 0, as the API writes them."""
    return b"".join(
        sse({"type": e["type"], "sequence_number": n, **e}, e["type"]) for n, e in enumerate(events)
    )


def rs_text_events() -> list[dict[str, Any]]:
    """created .. output_item.done of a one-message answer (no terminal event)."""
    in_progress = rs_response("in_progress", [])
    added = {**RESP_MSG, "status": "in_progress", "content": []}
    where = {"item_id": RESP_MSG["id"], "output_index": 0, "content_index": 0}
    return [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
        {"type": "response.output_item.added", "output_index": 0, "item": added},
        {"type": "response.output_text.delta", **where, "delta": "Hello!", "logprobs": []},
        {"type": "response.output_item.done", "output_index": 0, "item": RESP_MSG},
    ]


RS_USAGE = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 10,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 22,
}


def test_responses_answer_is_the_completed_response() -> None:
    """The terminal response.completed's response is the answer, as it is."""
    done = rs_response("completed", [RESP_MSG], usage=RS_USAGE)
    stream = rs_stream(*rs_text_events(), {"type": "response.completed", "response": done})
    assert responses_answer(stream) == (200, done)


def test_responses_answer_of_an_incomplete_response_is_200() -> None:
    """response.incomplete is a whole answer too: 200 with status incomplete."""
    body = rs_response("incomplete", [RESP_MSG], incomplete_details={"reason": "max_output_tokens"})
    stream = rs_stream(*rs_text_events(), {"type": "response.incomplete", "response": body})
    assert responses_answer(stream) == (200, body)


def test_responses_answer_ignores_what_follows_the_terminal_event() -> None:
    """Events after the terminal one (even an error, or [DONE]) change nothing."""
    done = rs_response("completed", [RESP_MSG])
    stream = rs_stream(
        *rs_text_events(),
        {"type": "response.completed", "response": done},
        {"type": "error", "code": "server_error", "message": "late", "param": None},
    ) + sse("[DONE]")
    assert responses_answer(stream) == (200, done)


def test_responses_answer_rebuilds_a_missing_output_from_the_done_items() -> None:
    """A terminal response without output gets the output_item.done items, by index."""
    call = {
        "id": "fc_1",
        "type": "function_call",
        "status": "completed",
        "arguments": "{}",
        "call_id": "call_1",
        "name": "f",
    }
    done = rs_response("completed", [])
    del done["output"]
    stream = rs_stream(
        {"type": "response.output_item.done", "output_index": 1, "item": call},
        {"type": "response.output_item.done", "output_index": 0, "item": RESP_MSG},
        {"type": "response.completed", "response": done},
    )
    status, body = responses_answer(stream)
    assert status == 200
    assert body["output"] == [RESP_MSG, call]


def test_responses_answer_kind_from_the_event_line() -> None:
    """Data without a type takes its kind from the event line."""
    done = rs_response("completed", [RESP_MSG])
    stream = sse({"response": done}, "response.completed")
    assert responses_answer(stream) == (200, done)


@pytest.mark.parametrize(
    ("error", "status", "kind", "message"),
    [
        pytest.param(
            {"code": "rate_limit_exceeded", "message": "Slow down", "param": None},
            429,
            "rate_limit_exceeded",
            "Slow down",
            id="top-level",
        ),
        pytest.param(
            {"error": {"code": "unknown-error", "message": "Foobar", "param": None}},
            500,
            "unknown-error",
            "Foobar",
            id="nested",
        ),
        pytest.param(
            {"error": {"type": "invalid_request_error", "code": None, "message": "Bad"}},
            500,
            "invalid_request_error",
            "Bad",
            id="nested-type-only",
        ),
        pytest.param(
            {"code": "overloaded_error", "message": "Overloaded", "param": None},
            529,
            "overloaded_error",
            "Overloaded",
            id="harness-overloaded",
        ),
        pytest.param(
            {"code": None, "message": "Something went wrong", "param": None},
            500,
            "server_error",
            "Something went wrong",
            id="no-code",
        ),
    ],
)
def test_responses_error_event(error: dict[str, Any], status: int, kind: str, message: str) -> None:
    """An error event, fields on top or nested under error, answers by its code."""
    stream = rs_stream(*rs_text_events()[:2], {"type": "error", **error})
    assert responses_answer(stream) == (status, error_body("openai", status, message, type=kind))


@pytest.mark.parametrize(
    ("error", "status", "kind", "message"),
    [
        (
            {"code": "rate_limit_exceeded", "message": "Rate limit reached"},
            429,
            "rate_limit_exceeded",
            "Rate limit reached",
        ),
        ({"code": "server_error", "message": "Boom"}, 500, "server_error", "Boom"),
        ({"code": "invalid_prompt", "message": "No"}, 500, "invalid_prompt", "No"),
        (None, 500, "server_error", "The response failed."),
    ],
)
def test_responses_failed(error: Any, status: int, kind: str, message: str) -> None:
    """response.failed answers with its response.error, 500 unless the code says otherwise."""
    failed = rs_response("failed", [], error=error)
    stream = rs_stream(*rs_text_events()[:2], {"type": "response.failed", "response": failed})
    assert responses_answer(stream) == (status, error_body("openai", status, message, type=kind))


@pytest.mark.parametrize(
    ("stream", "code", "where"),
    [
        pytest.param(b"", "connection_closed", "response.completed", id="empty"),
        pytest.param(rs_stream(*rs_text_events()), "connection_closed", "incomplete", id="cut"),
        pytest.param(
            rs_stream(*rs_text_events()[:2]) + sse("{oops", "response.output_item.added"),
            "parse_error",
            "event 3",
            id="bad-json",
        ),
        pytest.param(
            rs_stream({"type": "response.completed", "response": None}),
            "parse_error",
            "event 1: response.completed has no response object",
            id="no-response",
        ),
        pytest.param(sse([1, 2]), "parse_error", "event 1", id="not-an-object"),
    ],
)
def test_responses_broken_streams_are_502(stream: bytes, code: str, where: str) -> None:
    """No terminal event is connection_closed, bad data a parse_error naming the event."""
    status, body = responses_answer(stream)
    assert status == 502
    assert body["error"]["type"] == code
    assert where in body["error"]["message"]
