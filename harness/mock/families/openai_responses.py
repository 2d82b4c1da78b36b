"""OpenAI Responses: ``POST /v1/responses``; ``stream`` and ``model`` from the body.

Replays ``openai-responses`` scenarios as recorded and any other provider's through
the normalization pipeline with the Responses renderer; ``stream: false`` answers the
``Response`` object the stream adds up to.
"""

from __future__ import annotations

from harness.mock.families.base import ApiFamily

__all__ = ["OPENAI_RESPONSES"]

OPENAI_RESPONSES = ApiFamily(
    name="openai-responses",
    label="Responses",
    rules=("/v1/responses",),
    hint="POST /v1/responses",
    sdk_suffix="/v1",
    listed=False,  # the OpenAI SDK's base_url, listed for the chat route, serves both
)
