"""The provider stream formats harness reads: one name per provider API.

A scenario's ``provider``, a cassette interaction's detected API, an adapter's
registry key and a route's API family all take their values from :data:`Provider`.
Pure data, standard library only.
"""

from __future__ import annotations

import typing
from typing import Literal

__all__ = ["PROVIDERS", "Provider"]

#: The input stream formats: OpenAI Chat Completions, Anthropic Messages, Gemini
#: ``streamGenerateContent``, OpenAI Responses (``POST /v1/responses``), Amazon Bedrock
#: ``ConverseStream`` (an AWS event stream, the only one that is not SSE).
Provider = Literal["openai", "anthropic", "gemini", "openai-responses", "bedrock-converse"]

#: Every :data:`Provider`, in that order.
PROVIDERS: tuple[Provider, ...] = typing.get_args(Provider)
