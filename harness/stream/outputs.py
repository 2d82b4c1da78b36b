"""What each API family sends back: its stream renderer and its whole answer.

An :class:`Output` says, for one family, which recorded streams it replays as they
are (its own provider's), whether it can render any other provider's stream from the
normalized events (a renderer in :data:`harness.stream.renderers.RENDERERS`), and how
its non-streaming answer is folded from the stream it would send. The replay plan
(:func:`harness.mock.replay.build_plan`) reads nothing else about a family.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.stream.provider_errors import Family

#: A family's whole answer from the stream it sends: ``(http_status, json_body)``
#: (:class:`harness.stream.renderers.AnswerRenderer`, named here without importing
#: the renderers, so that the annotations of :class:`Output` resolve on their own).
AnswerRenderer = Callable[[bytes], tuple[int, dict[str, Any]]]

__all__ = ["EVENTSTREAM_CONTENT_TYPE", "OUTPUTS", "SSE_CONTENT_TYPE", "Framer", "Output"]

#: The content type of an SSE stream.
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
#: The content type of an AWS event stream (Bedrock's streams).
EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"


class Framer(Protocol):
    """A family's own framing of the SSE stream it would send (Bedrock's event stream):
    fed the encoded SSE bytes in any split, it returns the bytes to send in their place
    (``b""``: nothing yet, or a dropped comment)."""

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


def _bedrock_framer() -> Framer:
    """A Bedrock framer; the event-stream codec loads with the first Bedrock stream, so
    that a server answering others never imports it."""
    from harness.stream.bedrock import BedrockFramer

    return BedrockFramer()


@dataclass(frozen=True)
class Output:
    """How one API family answers.

    Attributes:
        family: the family (also its error shape in :mod:`harness.stream.provider_errors`).
        provider: the provider whose recorded streams it sends byte for byte.
        renderer: the :data:`~harness.stream.renderers.RENDERERS` entry that renders
            any provider's stream in this family's format, through the normalization
            pipeline; ``None``: it replays only ``provider``'s own streams.
        answer: the non-streaming answer, folded from the stream this family sends
            (the rendered stream when there is a renderer, else the recorded one).
        no_keepalive: the error that refuses keep-alive faults on its streams, saying
            why (``""``: they apply).
        framer: makes the :class:`Framer` that re-frames each stream after content
            faults and before wire faults (``None``: it sends SSE as encoded).
        content_type: the content type of its streams.
        refold: whether its whole answer to its own provider's recorded stream folds
            that stream re-rendered through the pipeline (``openai_completion`` reads
            only the normalized chat stream) rather than as recorded (Converse: the
            re-render would drop the reasoning signatures and padding it keeps).
    """

    family: Family
    provider: Family
    renderer: str | None
    answer: AnswerRenderer
    no_keepalive: str = ""
    framer: Callable[[], Framer] | None = None
    content_type: str = SSE_CONTENT_TYPE
    refold: bool = True

    def replays(self, provider: str) -> bool:
        """Whether a scenario of ``provider`` can be served in this family's format."""
        return provider == self.provider or self.renderer is not None


@functools.cache
def _answer(name: str) -> AnswerRenderer:
    """The answer renderer ``name`` of :mod:`harness.stream.aggregate`, imported when
    first called: the folds read streams through every adapter, which a server that
    only replays streams never needs at start (one function per name, shared by the
    families that answer alike)."""

    def answer(stream: bytes) -> tuple[int, dict[str, Any]]:
        from harness.stream import aggregate

        fold: AnswerRenderer = getattr(aggregate, name)
        return fold(stream)

    answer.__name__ = answer.__qualname__ = name
    return answer


openai_completion = _answer("openai_completion")
responses_answer = _answer("responses_answer")
anthropic_message = _answer("anthropic_message")
gemini_response = _answer("gemini_response")
converse_answer = _answer("converse_answer")

_GEMINI_NO_KEEPALIVE = (
    "keep-alive faults cannot apply to a Gemini stream: Gemini sends none "
    "and google-genai accepts only data: lines"
)

#: The output of each served family.
OUTPUTS: dict[str, Output] = {
    "openai": Output("openai", "openai", "openai-chat", openai_completion),
    "openai-responses": Output(
        "openai-responses", "openai-responses", "openai-responses", responses_answer
    ),
    "anthropic": Output("anthropic", "anthropic", None, anthropic_message),
    "gemini": Output("gemini", "gemini", None, gemini_response, no_keepalive=_GEMINI_NO_KEEPALIVE),
    # Azure OpenAI: what OpenAI's routes send, with Azure's error shape.
    "azure": Output("azure", "openai", "openai-chat", openai_completion),
    "azure-responses": Output(
        "azure-responses", "openai-responses", "openai-responses", responses_answer
    ),
    # Vertex AI: what the Gemini and Anthropic routes send, byte for byte.
    "vertex-gemini": Output(
        "vertex-gemini", "gemini", None, gemini_response, no_keepalive=_GEMINI_NO_KEEPALIVE
    ),
    "vertex-anthropic": Output("vertex-anthropic", "anthropic", None, anthropic_message),
    # Bedrock: Anthropic's events, each in an AWS event-stream message.
    "bedrock-anthropic": Output(
        "bedrock-anthropic",
        "anthropic",
        None,
        anthropic_message,
        no_keepalive="keep-alive faults cannot apply to a Bedrock stream: "
        "an AWS event stream has no comments and Bedrock sends no keep-alives",
        framer=_bedrock_framer,
        content_type=EVENTSTREAM_CONTENT_TYPE,
    ),
    # Bedrock Converse: its own event stream, rendered from any provider's.
    "bedrock-converse": Output(
        "bedrock-converse",
        "bedrock-converse",
        "bedrock-converse",
        converse_answer,
        no_keepalive="keep-alive faults cannot apply to a Bedrock Converse stream: "
        "an AWS event stream has no comments and Bedrock sends no keep-alives",
        content_type=EVENTSTREAM_CONTENT_TYPE,
        refold=False,
    ),
}
