"""harness: record/replay testing harness and mock LLM provider.

The names below are the public API: the pure core (SSE codec, normalized events,
adapters, pipeline), never the web stack. Each is imported when first used
(``from harness import normalize`` loads the pipeline; ``import harness.cli`` or the
mock server loads only what it needs), so every tool built on harness starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.errors import HarnessError, ProviderDataError, UnknownProviderError, UsageError
    from harness.stream.adapters import ADAPTERS, ProviderAdapter, get_adapter
    from harness.stream.events import (
        Delta,
        Done,
        KeepAlive,
        Metadata,
        NormalizedChunk,
        StreamError,
        StreamEvent,
        ToolCallDelta,
        Usage,
    )
    from harness.stream.pipeline import NormalizeOptions, Normalizer, anormalize, normalize
    from harness.stream.renderers.openai_chat import (
        OpenAIRenderer,
        StreamChunk,
        StreamMetadata,
        StreamState,
        estimate_tokens,
    )
    from harness.stream.sse import (
        Comment,
        ServerSentEvent,
        SSEDecoder,
        encode,
        format_keepalive,
        format_sse_chunk,
        format_sse_done,
    )

#: Where each public name lives: imported on first use (PEP 562), so that `import
#: harness.cli` or the mock server does not load the whole core before it needs it.
_WHERE = {
    "HarnessError": "harness.errors",
    "ProviderDataError": "harness.errors",
    "UnknownProviderError": "harness.errors",
    "UsageError": "harness.errors",
    "ADAPTERS": "harness.stream.adapters",
    "ProviderAdapter": "harness.stream.adapters",
    "get_adapter": "harness.stream.adapters",
    "Delta": "harness.stream.events",
    "Done": "harness.stream.events",
    "KeepAlive": "harness.stream.events",
    "Metadata": "harness.stream.events",
    "NormalizedChunk": "harness.stream.events",
    "StreamError": "harness.stream.events",
    "StreamEvent": "harness.stream.events",
    "ToolCallDelta": "harness.stream.events",
    "Usage": "harness.stream.events",
    "NormalizeOptions": "harness.stream.pipeline",
    "Normalizer": "harness.stream.pipeline",
    "anormalize": "harness.stream.pipeline",
    "normalize": "harness.stream.pipeline",
    "OpenAIRenderer": "harness.stream.renderers.openai_chat",
    "StreamChunk": "harness.stream.renderers.openai_chat",
    "StreamMetadata": "harness.stream.renderers.openai_chat",
    "StreamState": "harness.stream.renderers.openai_chat",
    "estimate_tokens": "harness.stream.renderers.openai_chat",
    "Comment": "harness.stream.sse",
    "ServerSentEvent": "harness.stream.sse",
    "SSEDecoder": "harness.stream.sse",
    "encode": "harness.stream.sse",
    "format_keepalive": "harness.stream.sse",
    "format_sse_chunk": "harness.stream.sse",
    "format_sse_done": "harness.stream.sse",
}

__version__ = "0.2.0"

__all__ = [
    "ADAPTERS",
    "Comment",
    "Delta",
    "Done",
    "HarnessError",
    "KeepAlive",
    "Metadata",
    "NormalizeOptions",
    "NormalizedChunk",
    "Normalizer",
    "OpenAIRenderer",
    "ProviderAdapter",
    "ProviderDataError",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamChunk",
    "StreamError",
    "StreamEvent",
    "StreamMetadata",
    "StreamState",
    "ToolCallDelta",
    "UnknownProviderError",
    "Usage",
    "UsageError",
    "__version__",
    "anormalize",
    "encode",
    "estimate_tokens",
    "format_keepalive",
    "format_sse_chunk",
    "format_sse_done",
    "get_adapter",
    "normalize",
]


if not TYPE_CHECKING:  # type checkers read the imports above, and flag a misspelt name

    def __getattr__(name: str) -> Any:
        """Import a public name's module when the name is first used (PEP 562); a
        submodule (``harness.stream``) is imported when first used as an attribute."""
        import importlib
        import importlib.util

        where = _WHERE.get(name)
        if where is None:
            if not name.startswith("__") and importlib.util.find_spec(f"harness.{name}"):
                return importlib.import_module(f"harness.{name}")
            raise AttributeError(f"module 'harness' has no attribute {name!r}")
        value = getattr(importlib.import_module(where), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_WHERE})
