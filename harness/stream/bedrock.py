"""Bedrock's event streams: Anthropic's events framed (``InvokeModelWithResponseStream``)
and Converse's events (``ConverseStream``) in and out. Pure.

Bedrock does not send Anthropic's SSE: each event becomes one AWS event-stream
message (:mod:`harness.stream.eventstream`), as botocore's ``ResponseStream`` union
declares it (bedrock-runtime ``service-2.json``):

* an event: ``:event-type chunk``, ``:content-type application/json``,
  ``:message-type event``, payload ``{"bytes": "<base64 of the event's data>"}``
  (botocore decodes the blob; ``AnthropicBedrock`` reads the JSON event in it);
* an Anthropic ``error`` event: an exception message, ``:exception-type`` one of the
  union's exceptions (:data:`EXCEPTION_TYPES`, ``modelStreamErrorException`` for any
  other error type), payload ``{"message": ...}``;
* SSE comments (keep-alives): dropped, Bedrock sends none.

:class:`BedrockFramer` is incremental: fed the SSE bytes in any split, it returns the
messages of the events they complete.

A Converse stream (``ConverseStreamOutput`` in the service model) is event-stream
messages from the start. Harness reads and writes it as named events, one per message:
the name is the ``:event-type`` (``messageStart``, ``contentBlockStart``,
``contentBlockDelta``, ``contentBlockStop``, ``messageStop``, ``metadata``) or, for an
exception message, its ``:exception-type`` (:data:`CONVERSE_EXCEPTIONS`; every name of
an exception ends in ``Exception``, no event's does), the data its JSON payload.
:func:`converse_frame` writes one message from a name and payload (a scenario step);
:class:`ConverseEvents` reads a byte stream back into those named events, as the SSE
decoder reads an SSE stream, so the normalization pipeline reads a Converse capture as
it reads any provider's stream.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from typing import Any

from harness import _json
from harness.stream.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    encode,
    encode_headers,
    encode_parts,
    event_message,
    exception_message,
)
from harness.stream.provider_errors import CONVERSE_EXCEPTIONS
from harness.stream.sse import ServerSentEvent, SSEDecoder

__all__ = [
    "CONVERSE_EVENTS",
    "CONVERSE_EXCEPTIONS",
    "EXCEPTION_TYPES",
    "BedrockFramer",
    "ConverseEvents",
    "bedrock_message",
    "converse_frame",
    "is_exception",
    "unframe",
]

#: The events of botocore's ``ConverseStreamOutput`` union, in the order they come.
CONVERSE_EVENTS: tuple[str, ...] = (
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
)

#: The in-stream exception for each Anthropic error type (the members of botocore's
#: ``ResponseStream``); any other type is a ``modelStreamErrorException``.
EXCEPTION_TYPES: dict[str, str] = {
    "rate_limit_error": "throttlingException",
    "overloaded_error": "serviceUnavailableException",
    "api_error": "internalServerException",
    "invalid_request_error": "validationException",
    "timeout_error": "modelTimeoutException",
}


def bedrock_message(event: ServerSentEvent) -> bytes:
    """The event-stream message Bedrock sends for one Anthropic SSE event."""
    data: Any = None
    if event.event == "error" or '"error"' in event.data:
        try:
            data = _json.loads(event.data)
        except ValueError:
            data = None
    if isinstance(data, dict) and data.get("type") == "error":
        error = data.get("error")
        error = error if isinstance(error, dict) else {}
        kind = error.get("type")
        message = error.get("message")
        exception = EXCEPTION_TYPES.get(str(kind), "modelStreamErrorException")
        payload = {"message": message if isinstance(message, str) else str(kind)}
        return encode(exception_message(exception, _json.dumps(payload).encode()))
    blob = base64.b64encode(event.data.encode("utf-8", "surrogatepass")).decode("ascii")
    return encode_parts(_headers("chunk"), _json.dumps({"bytes": blob}).encode())


class BedrockFramer:
    """Anthropic SSE bytes in, Bedrock event-stream messages out (``b""``: nothing yet)."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = SSEDecoder()

    def feed(self, data: bytes) -> bytes:
        return b"".join(bedrock_message(event) for event in self._decoder.feed(data))

    def finish(self) -> bytes:
        """End of stream: an event cut off before its blank line is dropped."""
        self._decoder.flush()
        return b""


def is_exception(name: str) -> bool:
    """Whether a Converse event name is an exception's (they all end in ``Exception``)."""
    return name.endswith("Exception")


def converse_frame(name: str, payload: bytes) -> bytes:
    """The event-stream message of one Converse event: ``name`` is its ``:event-type``,
    or the ``:exception-type`` of an exception message when it ends in ``Exception``."""
    return encode_parts(_headers(name), payload)


@functools.lru_cache(maxsize=256)
def _headers(name: str) -> bytes:
    """The encoded headers of ``name``'s messages (the same for every message of it)."""
    message = exception_message(name, b"") if is_exception(name) else event_message(name, b"")
    return encode_headers(message.headers)


def _named(message: EventStreamMessage) -> ServerSentEvent:
    headers = message.headers
    kind = headers.get(":message-type")
    data = message.payload.decode("utf-8", "replace")
    if kind == "exception":
        return ServerSentEvent(data=data, event=str(headers.get(":exception-type", "")))
    if kind == "error":  # AWS's own failure: the code and message are headers
        code, text = headers.get(":error-code", ""), headers.get(":error-message", "")
        body = {"code": str(code), "message": str(text)}
        return ServerSentEvent(data=_json.dumps(body), event="error")
    return ServerSentEvent(data=data, event=str(headers.get(":event-type", "")))


class ConverseEvents:
    """An event-stream byte stream in, its messages out as named events.

    The input decoder of the ``bedrock-converse`` provider, with the surface of
    :class:`~harness.stream.sse.SSEDecoder` the pipeline uses: an event message is
    named by its ``:event-type``, an exception message by its ``:exception-type``, and
    an AWS ``error`` message is an ``error`` event whose data is ``{"code",
    "message"}`` from its ``:error-code`` and ``:error-message`` headers.

    Raises:
        EventStreamError: from :meth:`feed_items`, once the framing is broken (a bad
            CRC, an absurd length), after yielding the messages completed before it.
    """

    __slots__ = ("_broken", "_decoder")

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()
        self._broken = False

    @property
    def pending(self) -> bool:
        """Whether the stream has stopped inside a message."""
        return self._decoder.pending > 0

    def feed_items(self, data: bytes) -> Iterator[ServerSentEvent]:
        """The named events of the messages ``data`` completes, in order."""
        try:
            messages = self._decoder.feed(data)
        except EventStreamError as error:
            if not self._broken:  # the messages before the break, once
                self._broken = True
                yield from (_named(message) for message in error.messages)
            raise
        for message in messages:
            yield _named(message)

    def flush_items(self) -> list[ServerSentEvent]:
        """End of stream: ``[]``; a message cut off is left to :attr:`pending`."""
        return []


def unframe(stream: bytes) -> bytes:
    """The Anthropic SSE stream an ``InvokeModelWithResponseStream`` body carries: each
    ``chunk`` message's decoded ``bytes`` as one event (named by its ``type``), each
    exception message as Anthropic's ``error`` event (``EXCEPTION_TYPES`` read back;
    ``api_error`` for any other). What follows the last whole message (a cut, broken
    framing) is dropped, so the stream reads as cut there."""
    decoder = EventStreamDecoder()
    try:
        messages = decoder.feed(stream)
    except EventStreamError as error:
        messages = error.messages
    kinds = {exception: kind for kind, exception in EXCEPTION_TYPES.items()}
    out: list[bytes] = []
    for message in messages:
        headers = message.headers
        if headers.get(":message-type") == "exception":
            kind = kinds.get(str(headers.get(":exception-type")), "api_error")
            text = _json_field(message.payload, "message") or kind
            data = _json.dumps({"type": "error", "error": {"type": kind, "message": text}})
            out.append(f"event: error\ndata: {data}\n\n".encode())
            continue
        blob = _json_field(message.payload, "bytes")
        if headers.get(":event-type") != "chunk" or blob is None:
            continue
        try:
            data = base64.b64decode(blob).decode("utf-8", "replace")
        except ValueError:
            continue
        kind = _json_field(data.encode(), "type") or "message"
        out.append(f"event: {kind}\ndata: {data}\n\n".encode())
    return b"".join(out)


def _json_field(payload: bytes, key: str) -> str | None:
    try:
        value = _json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        return None
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
