"""Renderers: normalized events out to a wire format, behind one small Protocol.

A :class:`Renderer` turns each normalized event into the frames (bytes) of its wire
format (SSE blocks, or AWS event-stream messages), and is :attr:`~Renderer.closed`
once it has rendered a terminal event. The pipeline
(:class:`harness.stream.pipeline.Normalizer`) drives one; which one is a name in
:data:`RENDERERS`. Adding an output format is a module here and one entry.

The whole (non-streaming) answer of an API family is a renderer too: an
:class:`AnswerRenderer` folds the stream that family sends into its one JSON body
(:mod:`harness.stream.aggregate`); :mod:`harness.stream.outputs` pairs each family's
stream renderer with its answer renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from harness.stream.events import StreamEvent
from harness.stream.renderers.bedrock_converse import ConverseRenderer
from harness.stream.renderers.openai_chat import OpenAIRenderer
from harness.stream.renderers.openai_responses import ResponsesRenderer

__all__ = ["RENDERERS", "AnswerRenderer", "Renderer", "RendererFactory"]


class Renderer(Protocol):
    """Normalized events in, frames of one wire format out."""

    @property
    def closed(self) -> bool:
        """True once a terminal event (``Done``, ``StreamError``) was rendered."""
        ...

    def render(self, event: StreamEvent) -> list[bytes]:
        """The frames for ``event`` (possibly none; none at all once closed)."""
        ...


class AnswerRenderer(Protocol):
    """A whole stream of one wire format in, the family's non-streaming answer out."""

    def __call__(self, stream: bytes) -> tuple[int, dict[str, Any]]:
        """``(http_status, json_body)``; total: any input gives an answer."""
        ...


#: Makes a renderer; keyword options are :class:`harness.stream.pipeline.NormalizeOptions`.
RendererFactory = Callable[..., Renderer]

#: The stream renderers, by name: ``openai-chat`` (Chat Completions
#: ``chat.completion.chunk`` SSE), ``openai-responses`` (the Responses API's named
#: events; choice index 0 only, as Responses has no choices), ``bedrock-converse``
#: (Bedrock ``ConverseStream`` event-stream messages, not SSE; choice index 0 only).
RENDERERS: dict[str, RendererFactory] = {
    "openai-chat": OpenAIRenderer,
    "openai-responses": ResponsesRenderer,
    "bedrock-converse": ConverseRenderer,
}
