"""The real `openai` SDK reads normalized streams correctly, over a loopback socket.

Each provider stream is normalized, served one frame per HTTP chunk from 127.0.0.1,
and consumed by ``openai.OpenAI`` / ``openai.AsyncOpenAI`` exactly as an application
would. This pins down that our output is what the SDK expects: text, tool calls,
reasoning, finish reason and usage come out right, and a ``stream_error`` chunk makes
the SDK raise ``APIError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from harness import normalize
from tests.loopback import Exchange, serve_frames
from tests.streams import (
    GM_USAGE,
    an_end,
    an_event,
    an_start,
    an_text_block,
    an_thinking_block,
    an_tool_block,
    anthropic_text,
    gemini_stream,
    gm_chunk,
    oa_chunk,
    openai_stream,
    sse,
)


@dataclass
class Seen:
    """What a client assembled from a stream, and the error it raised if any."""

    text: str = ""
    reasoning: str = ""
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    chunks: int = 0
    error: openai.APIError | None = None

    def take(self, chunk: Any) -> None:
        self.chunks += 1
        if chunk.usage is not None:
            self.usage = chunk.usage.model_dump(exclude_none=True)
        for choice in chunk.choices:
            delta = choice.delta
            self.text += delta.content or ""
            self.reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            for call in delta.tool_calls or []:
                slot = self.tool_calls.setdefault(
                    call.index, {"id": "", "name": "", "arguments": ""}
                )
                slot["id"] += call.id or ""
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            self.finish_reason = choice.finish_reason or self.finish_reason


def _consume_sync(base_url: str) -> Seen:
    seen = Seen()
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    try:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            seen.take(chunk)
    except openai.APIError as exc:
        seen.error = exc
    finally:
        client.close()
    return seen


def _consume_async(base_url: str) -> Seen:
    async def main() -> Seen:
        seen = Seen()
        client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
        try:
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async for chunk in stream:
                seen.take(chunk)
        except openai.APIError as exc:
            seen.error = exc
        finally:
            await client.close()
        return seen

    return asyncio.run(main())


Consume = Callable[[str], Seen]


@pytest.fixture(params=[_consume_sync, _consume_async], ids=["sync", "async"])
def consume(request: pytest.FixtureRequest) -> Consume:
    """Run the sync or the async openai client against a base URL."""
    fn: Consume = request.param
    return fn


@pytest.fixture
def served() -> Iterator[Callable[[str, bytes], Exchange]]:
    """Normalize a provider stream and serve it on loopback; the URL is in `exchange.url`."""
    with ExitStack() as stack:

        def make(provider: str, stream: bytes) -> Exchange:
            # Normalize from 5-byte reads, so the split of the upstream bytes plays
            # no part in what the client receives.
            parts = [stream[i : i + 5] for i in range(0, len(stream), 5)]
            exchange = Exchange(frames=list(normalize(provider, parts)))
            exchange.url = stack.enter_context(serve_frames(exchange))
            return exchange

        yield make


Served = Callable[[str, bytes], Exchange]


def test_anthropic_text_and_usage(consume: Consume, served: Served) -> None:
    """An Anthropic text stream reads as text, finish_reason stop, and the provider's usage."""
    exchange = served(
        "anthropic", an_start() + an_event("ping") + an_text_block(0, "Hello", ", world") + an_end()
    )
    seen = consume(exchange.url)
    assert seen.error is None
    assert seen.text == "Hello, world"
    assert seen.finish_reason == "stop"
    assert seen.usage == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}
    assert b'"stream":true' in exchange.requests[0]


def test_anthropic_parallel_tools(consume: Consume, served: Served) -> None:
    """Fragmented tool arguments accumulate to the JSON Anthropic sent, at tool-call indexes."""
    stream = (
        an_start()
        + an_text_block(0, "Checking.")
        + an_tool_block(1, "toolu_01A", "get_weather", '{"city":', ' "Paris"}')
        + an_tool_block(2, "toolu_01B", "get_time", '{"tz": "CET"}')
        + an_end("tool_use")
    )
    seen = consume(served("anthropic", stream).url)
    assert seen.error is None
    assert seen.tool_calls == {
        0: {"id": "toolu_01A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "toolu_01B", "name": "get_time", "arguments": '{"tz": "CET"}'},
    }
    assert seen.finish_reason == "tool_calls"


def test_anthropic_thinking_is_reasoning_content(consume: Consume, served: Served) -> None:
    """Thinking arrives as the reasoning_content extra field of the SDK's delta."""
    stream = an_start() + an_thinking_block(0, "Hmm, ", "so.") + an_text_block(1, "Yes.") + an_end()
    seen = consume(served("anthropic", stream).url)
    assert (seen.reasoning, seen.text) == ("Hmm, so.", "Yes.")


def test_gemini_function_call_and_usage(consume: Consume, served: Served) -> None:
    """A Gemini function call reads as one OpenAI tool call with finish_reason tool_calls."""
    stream = gemini_stream(
        gm_chunk(
            {"functionCall": {"name": "lookup", "args": {"q": "ünïcode"}}},
            finish="STOP",
            usage=GM_USAGE,
        )
    )
    seen = consume(served("gemini", stream).url)
    assert seen.tool_calls == {
        0: {"id": "call_0", "name": "lookup", "arguments": '{"q":"ünïcode"}'}
    }
    assert seen.finish_reason == "tool_calls"
    assert seen.usage == {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}


def test_openai_estimated_usage_and_keepalives(consume: Consume, served: Served) -> None:
    """Keep-alive comments are invisible to the SDK; a missing usage is estimated."""
    stream = (
        b": OPENROUTER PROCESSING\n\n"
        + sse(oa_chunk({"role": "assistant", "content": ""}))
        + b":\n\n"
        + sse(oa_chunk({"content": "12345678"}))
        + sse(oa_chunk({}, "length"))
    )  # no [DONE]: complete because a finish_reason came
    seen = consume(served("openai", stream).url)
    assert seen.error is None
    assert seen.text == "12345678"
    assert seen.finish_reason == "length"
    assert seen.usage == {"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 2}


def test_provider_error_raises_api_error_after_the_text(consume: Consume, served: Served) -> None:
    """An in-band overloaded_error makes the SDK raise APIError once the earlier text is read."""
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    stream = an_start() + an_event(
        "content_block_start", index=0, content_block={"type": "text", "text": ""}
    )
    stream += an_event(
        "content_block_delta", index=0, delta={"type": "text_delta", "text": "Partial"}
    )
    stream += sse(error, "error")
    seen = consume(served("anthropic", stream).url)
    assert seen.text == "Partial"
    assert isinstance(seen.error, openai.APIError)
    assert seen.error.message == "Overloaded"
    assert seen.error.body == {
        "type": "stream_error",
        "code": "overloaded_error",
        "message": "Overloaded",
        "provider": "anthropic",
    }
    assert seen.error.code == "overloaded_error"


@pytest.mark.parametrize(
    ("provider", "stream", "code"),
    [
        ("anthropic", anthropic_text("cut")[:-40], "connection_closed"),
        ("openai", openai_stream(oa_chunk({"content": "cut"}), done=False), "connection_closed"),
        ("gemini", gemini_stream(gm_chunk({"text": "cut"})), "connection_closed"),
        ("openai", sse(oa_chunk({"content": "cut"})) + b"data: {not json\n\n", "parse_error"),
    ],
    ids=["anthropic-cut", "openai-no-finish", "gemini-no-finish", "openai-bad-json"],
)
def test_broken_streams_raise_api_error(
    consume: Consume, served: Served, provider: str, stream: bytes, code: str
) -> None:
    """Truncated and malformed streams make the SDK raise APIError with our code."""
    seen = consume(served(provider, stream).url)
    assert seen.text == "cut"
    assert isinstance(seen.error, openai.APIError)
    assert seen.error.code == code
    assert seen.finish_reason is None or provider == "anthropic"


def test_stream_helper_accumulates_a_final_completion(served: Served) -> None:
    """The SDK's accumulator (chat.completions.stream) builds the final message from our chunks."""
    stream = (
        an_start() + an_tool_block(0, "toolu_9", "add", '{"a": 1,', ' "b": 2}') + an_end("tool_use")
    )
    url = served("anthropic", stream).url
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    messages: Any = [{"role": "user", "content": "add"}]
    with client, client.chat.completions.stream(model="m", messages=messages) as events:
        final = events.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "toolu_9",
        "add",
        '{"a": 1, "b": 2}',
    )
    assert final.usage is not None
    assert final.usage.total_tokens == 40
