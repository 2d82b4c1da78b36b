"""Provider adapters, one per file, in one registry.

Adding a provider means writing ``stream/adapters/<name>.py`` with a class that follows
:class:`~harness.stream.adapters.base.ProviderAdapter`, and adding one entry to
:data:`ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import UnknownProviderError
from harness.stream.adapters.anthropic import AnthropicAdapter
from harness.stream.adapters.base import ProviderAdapter
from harness.stream.adapters.gemini import GeminiAdapter
from harness.stream.adapters.openai import OpenAIAdapter
from harness.stream.adapters.openai_responses import OpenAIResponsesAdapter

__all__ = ["ADAPTERS", "ProviderAdapter", "get_adapter"]

#: Provider name -> adapter factory. Each call makes a fresh adapter for one stream.
ADAPTERS: dict[str, Callable[[], ProviderAdapter]] = {
    "openai": OpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    "openai-responses": OpenAIResponsesAdapter,
}


def get_adapter(provider: str) -> ProviderAdapter:
    """A new adapter for one stream of ``provider``.

    Raises:
        UnknownProviderError: no adapter is registered under that name; the message
            lists the known ones.
    """
    try:
        factory = ADAPTERS[provider]
    except KeyError:
        raise UnknownProviderError(provider, ADAPTERS) from None
    return factory()
