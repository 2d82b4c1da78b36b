"""The streaming normalization pipeline: any provider stream in, OpenAI SSE out.

Three small stages, each a step function on one item::

    bytes ─► SSEDecoder.feed_items ─► ServerSentEvent | Comment
          ─► adapter.feed (a comment is a KeepAlive) ─► StreamEvent
          ─► OpenAIRenderer.render ─► SSE frames (bytes)

(A provider whose stream is not SSE has its own input decoder, which gives the same
named events: Bedrock Converse's :class:`~harness.stream.bedrock.ConverseEvents`. The
renderer is any in :data:`~harness.stream.renderers.RENDERERS`.)

:class:`Normalizer` holds the three stages' state and is driven by pushing bytes in,
so the same object serves a sync loop (:func:`normalize`), an async loop
(:func:`anormalize`), a server handler and the CLI; there is one copy of the logic.
It is sans-IO: no sockets, files, clocks or event loop.

Invariants the pipeline keeps whatever the input:

* Every output frame is a complete SSE message; every ``data:`` line is valid JSON
  except the final ``[DONE]``.
* The output ends in exactly one of ``data: [DONE]`` (after the usage chunk) or one
  ``stream_error`` chunk, and nothing follows either: input after the provider's
  terminal event is ignored.
* Malformed provider data never raises: it becomes a ``parse_error`` chunk naming
  the event number and field.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TypedDict, Unpack

from harness.errors import ProviderDataError, UsageError
from harness.stream.adapters import get_adapter, input_decoder
from harness.stream.adapters.base import closed_early
from harness.stream.events import KeepAlive, StreamError, StreamEvent
from harness.stream.renderers import RENDERERS
from harness.stream.renderers.openai_chat import TokenCounter
from harness.stream.sse import Comment

__all__ = ["NormalizeOptions", "Normalizer", "anormalize", "normalize"]

_KEEPALIVE = (KeepAlive(),)


class NormalizeOptions(TypedDict, total=False):
    """Keyword options of :func:`normalize`, :func:`anormalize` and :class:`Normalizer`."""

    renderer: str
    prompt_tokens: int | None
    model: str | None
    response_id: str | None
    created: int
    include_usage: bool
    token_counter: TokenCounter | None


class Normalizer:
    """Push-driven normalization of one provider stream.

    >>> n = Normalizer("anthropic")
    >>> frames = n.feed(b'event: ping\\ndata: {"type": "ping"}\\n\\n')
    >>> frames
    [b': keep-alive\\n\\n']

    Args:
        provider: a name in :data:`harness.stream.adapters.ADAPTERS` (the input).
        renderer: a name in :data:`harness.stream.renderers.RENDERERS` (the output).
        prompt_tokens, model, response_id, created, include_usage, token_counter:
            see :class:`~harness.stream.renderers.openai_chat.OpenAIRenderer`.

    Raises:
        UnknownProviderError: ``provider`` is not registered (listing the known ones).
        UsageError: ``renderer`` is not registered (listing the known ones).
    """

    __slots__ = ("_adapter", "_decoder", "_events", "_renderer", "provider")

    def __init__(
        self,
        provider: str,
        *,
        renderer: str = "openai-chat",
        prompt_tokens: int | None = None,
        model: str | None = None,
        response_id: str | None = None,
        created: int = 0,
        include_usage: bool = True,
        token_counter: TokenCounter | None = None,
    ) -> None:
        self._adapter = get_adapter(provider)
        self.provider = provider
        self._decoder = input_decoder(provider)
        make = RENDERERS.get(renderer)
        if make is None:
            known = ", ".join(sorted(RENDERERS))
            raise UsageError(f"unknown renderer {renderer!r}; known renderers: {known}")
        self._renderer = make(
            prompt_tokens=prompt_tokens,
            model=model,
            response_id=response_id,
            created=created,
            include_usage=include_usage,
            token_counter=token_counter,
        )
        self._events = 0  # provider events fed so far, for error messages

    @property
    def closed(self) -> bool:
        """True once the output has ended (``[DONE]`` or an error chunk was rendered)."""
        return self._renderer.closed

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes of the provider stream; return the frames they complete."""
        if self.closed:
            return []
        renderer = self._renderer
        out: list[bytes] = []
        adapter_feed = self._adapter.feed
        try:
            for item in self._decoder.feed_items(data):
                if isinstance(item, Comment):
                    events: Iterable[StreamEvent] = _KEEPALIVE
                else:
                    self._events += 1
                    try:
                        events = adapter_feed(item)
                    except ProviderDataError as exc:
                        events = (self._parse_error(exc),)
                for event in events:
                    out += renderer.render(event)
                if renderer.closed:
                    break
        except ProviderDataError as exc:  # framing broken beyond repair (a bad CRC)
            out += renderer.render(self._parse_error(exc, after=True))
        return out

    def finish(self) -> list[bytes]:
        """End of input: the final frames, ending in ``[DONE]`` or an error chunk."""
        if self.closed:
            return []
        renderer = self._renderer
        cut_mid_event = self._decoder.pending
        out: list[bytes] = []
        for _ in self._decoder.flush_items():  # only comments: an unterminated keep-alive
            out += renderer.render(KeepAlive())
        try:
            events = list(self._adapter.finish())
        except ProviderDataError as exc:
            events = [self._parse_error(exc)]
        for event in events:
            if cut_mid_event and isinstance(event, StreamError):
                event = StreamError(
                    kind=event.kind,
                    code=event.code,
                    message=f"{event.message} (it stopped in the middle of an event)",
                    provider=event.provider,
                )
            out += renderer.render(event)
        if not renderer.closed:  # an adapter that broke rule 3 still ends the stream
            out += renderer.render(closed_early(self.provider, "its terminal event"))
        return out

    def _parse_error(self, exc: ProviderDataError, *, after: bool = False) -> StreamError:
        """``after``: the framing broke after the events counted so far."""
        where = f"after event {self._events}" if after else f"event {self._events}"
        return StreamError(
            kind="parse_error",
            code="parse_error",
            message=f"{where}: {exc}",
            provider=self.provider,
        )


def normalize(
    provider: str,
    chunks: Iterable[bytes],
    **options: Unpack[NormalizeOptions],
) -> Iterator[bytes]:
    """Normalize a provider's SSE stream to OpenAI-compatible SSE, as it arrives.

    Args:
        provider: ``"openai"``, ``"anthropic"``, ``"gemini"`` or any registered name.
        chunks: the raw stream, split anywhere.
        prompt_tokens: prompt size for the usage fallback when the provider reports
            no usage (default 0).
        model, response_id, created: identity to report when the provider gives none.
        include_usage: send the usage chunk before ``[DONE]`` (default True).
        token_counter: a tokenizer for the usage fallback instead of the estimate.

    Returns:
        An iterator of SSE frames, each one complete message, yielded as soon as the
        input that completes it has been read.

    Raises:
        UnknownProviderError: at call time, for an unregistered ``provider``.
    """
    normalizer = Normalizer(provider, **options)
    return _drive(normalizer, chunks)


def _drive(normalizer: Normalizer, chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield from normalizer.feed(chunk)
        if normalizer.closed:
            return
    yield from normalizer.finish()


def anormalize(
    provider: str,
    chunks: AsyncIterable[bytes],
    **options: Unpack[NormalizeOptions],
) -> AsyncIterator[bytes]:
    """The async twin of :func:`normalize`, for an async byte stream (same stages).

    Raises:
        UnknownProviderError: at call time, for an unregistered ``provider``.
    """
    normalizer = Normalizer(provider, **options)
    return _adrive(normalizer, chunks)


async def _adrive(normalizer: Normalizer, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        for frame in normalizer.feed(chunk):
            yield frame
        if normalizer.closed:
            return
    for frame in normalizer.finish():
        yield frame
