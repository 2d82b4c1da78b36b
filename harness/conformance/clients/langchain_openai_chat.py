"""``langchain-openai``: ``ChatOpenAI(streaming=True).stream(...)``, its
``AIMessageChunk`` s added up (optional: ``pip install langchain-openai``).

``ChatOpenAI`` does not extract non-standard Chat Completions fields such as
``delta.reasoning_content`` (its own documentation says so; provider subclasses like
``langchain-deepseek`` do): it ``cannot`` report reasoning.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.conformance.clients._common import openai_error, take_langchain_message
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome

MODEL = "gpt-4o-mini"


def client() -> Client:
    """The ``langchain-openai`` client (needs the ``langchain-openai`` package)."""
    require("langchain_openai", "langchain-openai", "langchain-openai")
    return Client(
        name="langchain-openai",
        family="openai",
        distribution="langchain-openai",
        run=run,
        cannot=frozenset({"reasoning"}),
        description="langchain-openai: ChatOpenAI(base_url=..., streaming=True).stream()",
    )


def run(call: Call) -> Outcome:
    """One streamed chat, the chunks summed into one message."""
    import openai

    chat_openai: Any = importlib.import_module("langchain_openai").ChatOpenAI

    outcome, message = Outcome(), None
    model = chat_openai(
        model=MODEL,
        base_url=call.base_url,
        api_key="sk-harness",
        max_retries=call.retries,
        timeout=call.timeout,
        streaming=True,
        stream_usage=True,
    )
    try:
        for chunk in model.stream([("user", "hi")]):
            message = chunk if message is None else message + chunk
    except Exception as exc:  # the SDK's errors, and the HTTP stack's cuts
        outcome.error = openai_error(openai, exc)
        if outcome.error is None:
            raise
    if message is not None:
        take_message(outcome, message)
    return outcome


def take_message(outcome: Outcome, message: Any) -> None:
    """The summed ``AIMessageChunk``: text, tool calls, finish and usage."""
    take_langchain_message(outcome, message, message.response_metadata.get("finish_reason"))
