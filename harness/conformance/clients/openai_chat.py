"""``openai``: the official openai SDK's Chat Completions stream."""

from __future__ import annotations

from typing import Any

from harness.conformance.clients._common import Calls, openai_error
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome

MODEL = "gpt-4o-mini"


def client() -> Client:
    """The ``openai`` client (needs the ``openai`` package)."""
    require("openai", "openai", "openai")
    return Client(
        name="openai",
        family="openai",
        distribution="openai",
        run=run,
        description="openai: OpenAI().chat.completions.create(stream=True, include_usage)",
    )


def run(call: Call) -> Outcome:
    """One streamed chat completion, read chunk by chunk."""
    import openai

    outcome, calls = Outcome(), Calls()
    sdk = openai.OpenAI(
        base_url=call.base_url, api_key="sk-harness", max_retries=call.retries, timeout=call.timeout
    )
    try:
        stream = sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            take_chunk(outcome, calls, chunk)
    except Exception as exc:  # the SDK's errors, and the HTTP stack's cuts
        outcome.error = openai_error(openai, exc)
        if outcome.error is None:
            raise
    finally:
        sdk.close()
    outcome.tool_calls = calls.tool_calls()
    return outcome


def take_chunk(outcome: Outcome, calls: Calls, chunk: Any) -> None:
    """Fold one ``ChatCompletionChunk`` into ``outcome``."""
    if chunk.usage is not None:
        outcome.usage = {
            "prompt_tokens": chunk.usage.prompt_tokens,
            "completion_tokens": chunk.usage.completion_tokens,
            "total_tokens": chunk.usage.total_tokens,
        }
    for choice in chunk.choices:
        outcome.finish_reason = choice.finish_reason or outcome.finish_reason
        delta = choice.delta
        if delta is None:  # an Azure content-filter annotation: no delta at all
            continue
        outcome.text += delta.content or ""
        extra = delta.model_extra or {}
        outcome.reasoning += extra.get("reasoning_content") or extra.get("reasoning") or ""
        for tool in delta.tool_calls or []:
            function = tool.function
            if function is not None:
                calls.add(tool.index, function.name, function.arguments)
