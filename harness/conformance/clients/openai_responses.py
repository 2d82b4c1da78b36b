"""``openai-responses``: the official openai SDK's Responses API stream (raw events).

The SDK yields the documented top-level ``error`` event and ``response.failed`` as
events, without raising (openai-python#2487): an application reading the events sees
them, so this adapter reports them as the error they are. A stream that ends without a
terminal event raises nothing: no error is reported for it.
"""

from __future__ import annotations

from typing import Any

from harness.conformance.clients._common import Calls, openai_error
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome, OutcomeError

MODEL = "gpt-4.1-mini"
INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def client() -> Client:
    """The ``openai-responses`` client (needs the ``openai`` package)."""
    require("openai", "openai", "openai-responses")
    return Client(
        name="openai-responses",
        family="openai-responses",
        distribution="openai",
        run=run,
        description="openai: OpenAI().responses.create(stream=True), raw events",
    )


def run(call: Call) -> Outcome:
    """One streamed response, read event by event."""
    import openai

    outcome, calls = Outcome(), Calls()
    sdk = openai.OpenAI(
        base_url=call.base_url, api_key="sk-harness", max_retries=call.retries, timeout=call.timeout
    )
    try:
        for event in sdk.responses.create(model=MODEL, input="hi", stream=True):
            take_event(outcome, calls, event)
    except Exception as exc:  # the SDK's errors, and the HTTP stack's cuts
        outcome.error = openai_error(openai, exc)
        if outcome.error is None:
            raise
    finally:
        sdk.close()
    outcome.tool_calls = calls.tool_calls()
    if outcome.finish_reason == "stop" and outcome.tool_calls:
        outcome.finish_reason = "tool_calls"
    return outcome


def take_event(outcome: Outcome, calls: Calls, event: Any) -> None:
    """Fold one Responses stream event into ``outcome``."""
    kind = event.type
    if kind == "response.output_text.delta":
        outcome.text += event.delta
    elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        outcome.reasoning += event.delta
    elif kind == "response.output_item.added" and event.item.type == "function_call":
        calls.add(event.output_index, event.item.name)
    elif kind == "response.function_call_arguments.delta":
        calls.add(event.output_index, arguments=event.delta)
    elif kind == "error":  # the documented top-level error event
        outcome.error = OutcomeError(code=event.code)
    elif kind in ("response.completed", "response.incomplete", "response.failed"):
        response = event.response
        if response.usage is not None:
            outcome.usage = {
                "prompt_tokens": response.usage.input_tokens,
                "completion_tokens": response.usage.output_tokens,
                "total_tokens": response.usage.total_tokens,
            }
        if response.status == "completed":
            outcome.finish_reason = "stop"
        elif response.status == "incomplete":
            details = response.incomplete_details
            outcome.finish_reason = INCOMPLETE.get(details.reason if details else "")
        elif response.status == "failed":
            error = response.error
            outcome.error = OutcomeError(code=error.code if error else None, type="failed")
