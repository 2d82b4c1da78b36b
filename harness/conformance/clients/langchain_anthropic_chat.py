"""``langchain-anthropic``: ``ChatAnthropic(streaming=True).stream(...)``, its
``AIMessageChunk`` s added up (optional: ``pip install langchain-anthropic``)."""

from __future__ import annotations

import importlib
from typing import Any

from harness.conformance.clients._common import (
    ANTHROPIC_STOP,
    anthropic_error,
    take_langchain_message,
)
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome

MODEL = "claude-harness-test"


def client() -> Client:
    """The ``langchain-anthropic`` client (needs the ``langchain-anthropic`` package)."""
    require("langchain_anthropic", "langchain-anthropic", "langchain-anthropic")
    return Client(
        name="langchain-anthropic",
        family="anthropic",
        distribution="langchain-anthropic",
        run=run,
        description="langchain-anthropic: ChatAnthropic(base_url=..., streaming=True).stream()",
    )


def run(call: Call) -> Outcome:
    """One streamed message, the chunks summed into one message."""
    import anthropic

    chat_anthropic: Any = importlib.import_module("langchain_anthropic").ChatAnthropic

    outcome, message = Outcome(), None
    model = chat_anthropic(
        model=MODEL,
        base_url=call.base_url,
        api_key="sk-harness",
        max_retries=call.retries,
        default_request_timeout=call.timeout,
        max_tokens=1024,
        streaming=True,
        stream_usage=True,
    )
    try:
        for chunk in model.stream([("user", "hi")]):
            message = chunk if message is None else message + chunk
    except Exception as exc:  # the SDK's errors, and the HTTP stack's cuts
        outcome.error = anthropic_error(anthropic, exc)
        if outcome.error is None:
            raise
    if message is not None:
        take_message(outcome, message)
    return outcome


def take_message(outcome: Outcome, message: Any) -> None:
    """The summed ``AIMessageChunk``: text, thinking, tool calls, stop reason and usage."""
    stop = ANTHROPIC_STOP.get(message.response_metadata.get("stop_reason"))
    take_langchain_message(outcome, message, stop)
    if isinstance(message.content, list):
        outcome.reasoning = "".join(
            block.get("thinking", "")
            for block in message.content
            if isinstance(block, dict) and block.get("type") == "thinking"
        )
