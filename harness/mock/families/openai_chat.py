"""OpenAI Chat Completions: ``POST /v1/chat/completions``.

Replays OpenAI scenarios as recorded and any other provider's through the
normalization pipeline (OpenAI-compatible SSE); ``stream`` and ``model`` come from
the body. It is the fallback family: a path no family owns gets its error shape.
``stream_options.include_usage`` is not read: a normalized stream always ends with
its usage chunk (docs/normalization.md), a raw one sends what was recorded.
"""

from __future__ import annotations

from harness.mock.families.base import ApiFamily

__all__ = ["OPENAI_CHAT"]

OPENAI_CHAT = ApiFamily(
    name="openai",
    label="OpenAI",
    rules=("/v1/chat/completions",),
    hint="POST /v1/chat/completions",
    sdk_suffix="/v1",
)
