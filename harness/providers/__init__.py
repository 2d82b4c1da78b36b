"""Provider adapters, one per file, in one registry.

Adding a provider means writing ``providers/<name>.py`` with a class that follows
:class:`~harness.providers.base.ProviderAdapter`, and adding one entry to
:data:`ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import UnknownProviderError
from harness.providers.anthropic import AnthropicAdapter
from harness.providers.base import ProviderAdapter
from harness.providers.gemini import GeminiAdapter
from harness.providers.openai import OpenAIAdapter

__all__ = ["ADAPTERS", "ProviderAdapter", "get_adapter"]

#: Provider name -> adapter factory. Each call makes a fresh adapter for one stream.
ADAPTERS: dict[str, Callable[[], ProviderAdapter]] = {
    "openai": OpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
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
