"""Provider adapters, one per file, in one registry.

Adding a provider means writing ``stream/adapters/<name>.py`` with a class that follows
:class:`~harness.stream.adapters.base.ProviderAdapter`, and adding one entry to
:data:`ADAPTERS` (and one to :data:`INPUT_DECODERS` if its stream is not SSE).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from harness.errors import UnknownProviderError
from harness.stream.adapters.anthropic import AnthropicAdapter
from harness.stream.adapters.base import ProviderAdapter
from harness.stream.adapters.bedrock_converse import BedrockConverseAdapter
from harness.stream.adapters.gemini import GeminiAdapter
from harness.stream.adapters.openai import OpenAIAdapter
from harness.stream.adapters.openai_responses import OpenAIResponsesAdapter
from harness.stream.bedrock import ConverseEvents
from harness.stream.sse import Comment, ServerSentEvent, SSEDecoder

__all__ = [
    "ADAPTERS",
    "INPUT_DECODERS",
    "InputDecoder",
    "ProviderAdapter",
    "get_adapter",
    "input_decoder",
]

#: Provider name -> adapter factory. Each call makes a fresh adapter for one stream.
ADAPTERS: dict[str, Callable[[], ProviderAdapter]] = {
    "openai": OpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
    "openai-responses": OpenAIResponsesAdapter,
    "bedrock-converse": BedrockConverseAdapter,
}


class InputDecoder(Protocol):
    """A provider's wire format in, the events its adapter reads out (and comments,
    which the pipeline turns into keep-alives); fed bytes split anywhere."""

    @property
    def pending(self) -> bool:
        """Whether the stream has stopped inside an event."""
        ...

    def feed_items(self, data: bytes) -> Iterable[ServerSentEvent | Comment]:
        """The events (and comments) ``data`` completes, in order.

        Raises:
            ProviderDataError: the framing is broken beyond repair (an event stream's
                bad CRC); SSE never is.
        """
        ...

    def flush_items(self) -> Iterable[ServerSentEvent | Comment]:
        """End of input: what an unterminated last line still gives (a comment)."""
        ...


#: Provider name -> its input decoder, for the providers whose stream is not SSE
#: (every other provider's is :class:`~harness.stream.sse.SSEDecoder`).
INPUT_DECODERS: dict[str, Callable[[], InputDecoder]] = {
    "bedrock-converse": ConverseEvents,
}


def input_decoder(provider: str) -> InputDecoder:
    """A new decoder of ``provider``'s wire format (SSE unless it says otherwise)."""
    return INPUT_DECODERS.get(provider, SSEDecoder)()


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
