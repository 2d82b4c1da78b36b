"""The normalized stream: plain frozen data, no behaviour.

A provider adapter turns each provider event into zero or more :data:`StreamEvent`
values; the renderer (:mod:`harness.stream.renderers.openai_chat`) turns those into OpenAI
``chat.completion.chunk`` SSE. The vocabulary is OpenAI's, because OpenAI-compatible
SSE is the output every provider is normalized to::

    StreamEvent = Metadata | NormalizedChunk | StreamError
    NormalizedChunk = Delta | Done | KeepAlive

* :class:`Metadata` carries the response id, model and creation time as the provider
  reports them; the renderer keeps the first non-empty value of each.
* :class:`Delta` is what one choice gained: text, reasoning, refusal, tool-call
  fragments, and the finish reason when the choice ends.
* :class:`Done` ends a complete stream, carrying the provider's final usage if it
  reported any.
* :class:`KeepAlive` is a provider keep-alive in any style.
* :class:`StreamError` ends a broken stream. It is an event, not an exception: the
  pipeline sends it to the client as an ``{"error": ...}`` chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from harness._frozen import fast_init

__all__ = [
    "Delta",
    "Done",
    "KeepAlive",
    "Metadata",
    "NormalizedChunk",
    "StreamError",
    "StreamErrorKind",
    "StreamEvent",
    "ToolCallDelta",
    "Usage",
]


@fast_init
@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of one tool call, as in OpenAI's ``delta.tool_calls[]``.

    ``index`` counts tool calls within the choice (0, 1, 2...), not content blocks.
    The first fragment of a call carries ``id``, ``type`` and ``name``; later ones
    carry only ``arguments`` text to append.
    """

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    name: str | None = None
    arguments: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Delta:
    """What choice ``index`` gained in one step (OpenAI's ``choices[].delta``).

    ``finish_reason`` is one of OpenAI's: ``stop``, ``length``, ``tool_calls``,
    ``content_filter`` (or ``function_call`` from a legacy stream).
    """

    index: int = 0
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage in OpenAI's terms.

    ``prompt_tokens`` includes cached prompt tokens and ``completion_tokens`` includes
    reasoning tokens, as in OpenAI's usage object; the details break them down when
    the provider reports them (``cached_tokens``, ``audio_tokens`` under the prompt;
    ``reasoning_tokens``, ``audio_tokens``, ``accepted_prediction_tokens``,
    ``rejected_prediction_tokens`` under the completion).
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: Mapping[str, int] | None = field(default=None, hash=False)
    completion_tokens_details: Mapping[str, int] | None = field(default=None, hash=False)


@fast_init
@dataclass(frozen=True, slots=True)
class Metadata:
    """Response identity as a provider event reports it; empty values mean unknown."""

    id: str | None = None
    model: str | None = None
    created: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Done:
    """The provider's terminal event arrived; ``usage`` is its final report, if any."""

    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A keep-alive: an SSE comment (``: ping``, ``:``...) or Anthropic's ``ping``."""


StreamErrorKind: TypeAlias = Literal["parse_error", "connection_closed", "provider_error"]


@fast_init
@dataclass(frozen=True, slots=True)
class StreamError:
    """The stream is broken; nothing after this is sent, and no ``[DONE]``.

    Attributes:
        kind: ``parse_error`` (data that should be JSON is not, or has the wrong
            shape), ``connection_closed`` (input ended before the provider's terminal
            event) or ``provider_error`` (the provider sent an in-band error event).
        code: what the client sees as ``error.code``: the kind for the first two, the
            provider's own error type for a provider error (``overloaded_error``...).
        message: a human-readable explanation.
        provider: the adapter's provider name.
    """

    kind: StreamErrorKind
    code: str
    message: str
    provider: str


NormalizedChunk: TypeAlias = Delta | Done | KeepAlive
StreamEvent: TypeAlias = Metadata | Delta | Done | KeepAlive | StreamError
