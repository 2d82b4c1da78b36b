"""harness: record/replay testing harness and mock LLM provider.

The names below are the public API. Importing :mod:`harness` loads only the pure
core (SSE codec, normalized events, adapters, pipeline), so tools built on it, such
as ``harness normalize``, start fast and never import the web stack.
"""

from __future__ import annotations

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
