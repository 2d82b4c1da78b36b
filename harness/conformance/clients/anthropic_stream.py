"""``anthropic-stream``: the official anthropic SDK's ``messages.stream()`` helper: its
text events, then ``get_final_message()``."""

from __future__ import annotations

from typing import Any

from harness.conformance.clients._common import (
    ANTHROPIC_STOP,
    Calls,
    anthropic_error,
    anthropic_usage,
)
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome

MODEL = "claude-harness-test"


def client() -> Client:
    """The ``anthropic-stream`` client (needs the ``anthropic`` package)."""
    require("anthropic", "anthropic", "anthropic-stream")
    return Client(
        name="anthropic-stream",
        family="anthropic",
        distribution="anthropic",
        run=run,
        description="anthropic: Anthropic().messages.stream() text, then get_final_message()",
    )


def run(call: Call) -> Outcome:
    """One message through the helper: text as it streams, the rest from the final message."""
    import anthropic

    outcome = Outcome()
    sdk = anthropic.Anthropic(
        base_url=call.base_url, api_key="sk-harness", max_retries=call.retries, timeout=call.timeout
    )
    request: Any = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }
    try:
        with sdk.messages.stream(**request) as stream:
            for text in stream.text_stream:
                outcome.text += text
            take_final(outcome, stream.get_final_message())
    except Exception as exc:  # the SDK's errors, and the HTTP stack's cuts
        outcome.error = anthropic_error(anthropic, exc)
        if outcome.error is None:
            raise
    finally:
        sdk.close()
    return outcome


def take_final(outcome: Outcome, message: Any) -> None:
    """The helper's accumulated message: thinking, tool calls, stop reason and usage."""
    calls = Calls()
    for index, block in enumerate(message.content):
        if block.type == "thinking":
            outcome.reasoning += block.thinking
        elif block.type == "tool_use":
            calls.add(index, block.name, block.input)
    outcome.tool_calls = calls.tool_calls()
    outcome.finish_reason = ANTHROPIC_STOP.get(message.stop_reason)
    if message.usage is not None:
        outcome.usage = anthropic_usage(message.usage.model_dump(exclude_none=True))
