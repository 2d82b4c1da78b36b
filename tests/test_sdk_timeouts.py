"""A fault's stall trips the SDKs' real read timeouts (kept even at speed 0).

What each SDK raises is the ``stall`` row of ``tests/sdk_behaviour.py`` for its version.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx2
import openai

from harness.testing import RunningServer
from tests import sdk_behaviour


def _error_of_next(stream: Iterator[object]) -> Exception | None:
    """What reading one more item raised (``None``: it did not raise)."""
    try:
        next(stream)
    except Exception as exc:
        return exc
    return None


STALL = {"x-harness-faults": "stall_after=2; stall_ms=3000"}


def test_openai_read_timeout_on_a_stall(builtin_server: RunningServer) -> None:
    """openai: a 3 s stall after two chunks, read timeout 0.5 s -> APITimeoutError."""
    client = openai.OpenAI(
        base_url=builtin_server.base_url("openai/text"),
        api_key="sk-test",
        max_retries=0,
        timeout=httpx2.Timeout(5.0, read=0.5),
        default_headers=STALL,
    )
    stream = client.chat.completions.create(model="m", messages=[], stream=True)
    received = [next(stream), next(stream)]
    sdk_behaviour.check("openai", "stall", "openai/text sync", _error_of_next(stream))
    assert received[0].choices[0].delta.role == "assistant"
    assert received[1].choices[0].delta.content


def test_anthropic_read_timeout_on_a_stall(builtin_server: RunningServer) -> None:
    """anthropic: the same stall, mid-stream: a raw httpx2.ReadTimeout before 2.17."""
    client = anthropic.Anthropic(
        base_url=builtin_server.base_url("anthropic/text", "anthropic"),
        api_key="sk-test",
        max_retries=0,
        timeout=httpx2.Timeout(5.0, read=0.5),
        default_headers=STALL,
    )
    stream = client.messages.create(
        model="claude-harness-test", max_tokens=8, messages=[], stream=True
    )
    assert next(stream).type == "message_start"  # the second event, a ping, is dropped
    sdk_behaviour.check("anthropic", "stall", "anthropic/text sync", _error_of_next(stream))
