"""``anthropic``: the official anthropic SDK's raw Messages stream events."""

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
    """The ``anthropic`` client (needs the ``anthropic`` package)."""
    require("anthropic", "anthropic", "anthropic")
    return Client(
        name="anthropic",
        family="anthropic",
        distribution="anthropic",
        run=run,
        description="anthropic: Anthropic().messages.create(stream=True), raw events",
    )


def run(call: Call) -> Outcome:
    """One streamed message, read event by event."""
    import anthropic

    outcome, calls, usage = Outcome(), Calls(), dict[str, Any]()
    sdk = anthropic.Anthropic(
        base_url=call.base_url, api_key="sk-harness", max_retries=call.retries, timeout=call.timeout
    )
    try:
        stream = sdk.messages.create(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for event in stream:
            take_event(outcome, calls, usage, event)
    except Exception as exc:  # the SDK's errors, and the HTTP stack's cuts
        outcome.error = anthropic_error(anthropic, exc)
        if outcome.error is None:
            raise
    finally:
        sdk.close()
    outcome.tool_calls = calls.tool_calls()
    return outcome


def take_event(outcome: Outcome, calls: Calls, usage: dict[str, Any], event: Any) -> None:
    """Fold one raw stream event into ``outcome`` (``usage`` keeps Anthropic's counts)."""
    if event.type == "message_start":
        if event.message.usage is not None:
            usage.update(event.message.usage.model_dump(exclude_none=True))
    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
        calls.add(event.index, event.content_block.name)
    elif event.type == "content_block_delta":
        delta = event.delta
        if delta.type == "text_delta":
            outcome.text += delta.text
        elif delta.type == "thinking_delta":
            outcome.reasoning += delta.thinking
        elif delta.type == "input_json_delta":
            calls.add(event.index, arguments=delta.partial_json)
    elif event.type == "message_delta":
        outcome.finish_reason = ANTHROPIC_STOP.get(event.delta.stop_reason)
        if event.usage is not None:
            usage.update(event.usage.model_dump(exclude_none=True))
        outcome.usage = anthropic_usage(usage) if usage else None
