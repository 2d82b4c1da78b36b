"""A sans-IO Server-Sent Events codec: bytes in, events out, and back.

The decoder implements the WHATWG HTML Standard, section 9.2.6 "Parsing an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream)
and gives the same events however the bytes are split into chunks:

* The stream is UTF-8. One leading byte order mark is stripped, even when its three
  bytes arrive in separate chunks.
* Lines end at CRLF, a lone LF or a lone CR, and nowhere else: U+2028, U+2029, NEL,
  FF and VT are content. A CR that ends one chunk still pairs with an LF that starts
  the next one, so CRLF split across reads is one line end, not two.
* A line is decoded once it is complete, so a multi-byte character split across
  reads is never mangled; invalid bytes become U+FFFD, never an exception. (The line
  terminators are ASCII and never occur inside a multi-byte sequence, so decoding
  line by line gives the same text as decoding the whole stream.)
* ``:`` starts a comment. Otherwise the first colon splits field from value and one
  leading space of the value is removed; a line without a colon is a field with an
  empty value. Unknown fields are ignored.
* ``id`` with a NUL is ignored; the last event id persists across events.
  ``retry`` counts only when it is all ASCII digits.
* A blank line dispatches the block. A block without ``data`` dispatches nothing;
  one trailing LF is removed from the data. An unterminated block at the end of the
  stream is discarded, as the standard says.

Events are released as soon as their blank line arrives, never one read later.

The encoders are the inverse: :func:`encode` writes any event such that the decoder
gives it back, and :func:`format_sse_chunk`, :func:`format_sse_done` and
:func:`format_keepalive` write the three frames of an OpenAI-compatible stream.
:func:`event_block` and :func:`comment_block` are the one place that writes field
lines, with any of the three line ends; :func:`split_lines` cuts text at them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness import _json
from harness._frozen import fast_init
from harness._text import normalize_newlines
from harness.errors import SSEEncodeError

__all__ = [
    "KEEPALIVE",
    "Comment",
    "SSEDecoder",
    "ServerSentEvent",
    "comment_block",
    "encode",
    "encode_comment",
    "event_block",
    "format_keepalive",
    "format_sse_chunk",
    "format_sse_done",
    "split_lines",
]

_BOM = b"\xef\xbb\xbf"
_DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"


@fast_init
@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    Attributes:
        event: the ``event`` field of its block, ``"message"`` when there was none.
        data: the ``data`` lines of its block joined by LF.
        id: the last event id at dispatch (it persists across events); ``None`` until
            the stream sets one, ``""`` after the stream resets it.
        retry: the reconnection time in ms if this event's block had a valid
            ``retry`` field, else ``None``.
    """

    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Comment:
    """An SSE comment line (``:`` and what follows, the colon and one space removed).

    Browsers drop comments; harness reports them when asked
    (:meth:`SSEDecoder.feed_items`) because they are how providers send keep-alives.
    """

    text: str


class SSEDecoder:
    """Incremental WHATWG event-stream parser. Feed it bytes, split anywhere.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'event: delta\\r\\ndata: {"x"') + decoder.feed(b":1}\\r\\n\\r\\n")
    [ServerSentEvent(data='{"x":1}', event='delta', id=None, retry=None)]
    >>> decoder.flush()
    []
    """

    __slots__ = (
        "_bom_checked",
        "_data",
        "_event",
        "_last_id",
        "_partial",
        "_retry",
        "_skip_lf",
        "retry",
    )

    def __init__(self) -> None:
        self._partial = b""  # bytes of a line whose end has not arrived yet
        self._skip_lf = False  # the previous chunk ended in CR: an LF now is its CRLF pair
        self._bom_checked = False
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None  # a valid retry field in the current block
        #: The stream's current reconnection time in ms (the last valid ``retry``).
        self.retry: int | None = None

    @property
    def last_event_id(self) -> str | None:
        """The last event id seen so far (it persists across events)."""
        return self._last_id

    @property
    def pending(self) -> bool:
        """Whether the stream has stopped inside an event.

        True while an unterminated line is held back or a block has fields but no
        blank line yet. At the end of a stream it means the last event was cut off;
        :meth:`flush` discards it, as the standard says.
        """
        return bool(self._partial or self._data or self._event)

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Parse ``data`` and return the events whose blank line it completed."""
        return [item for item in self.feed_items(data) if type(item) is ServerSentEvent]

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: discard any unterminated line and block (WHATWG), return ``[]``.

        Returns a list so that callers can treat the end like any other chunk.
        """
        self.flush_items()
        return []

    def flush_items(self) -> list[ServerSentEvent | Comment]:
        """Like :meth:`flush`, but reports a final comment line that lacks its line end.

        An unterminated comment carries no data, so reporting it cannot change any
        event; it lets a caller see a keep-alive that the stream was cut after.
        """
        items: list[ServerSentEvent | Comment] = []
        partial = self._partial
        if not self._bom_checked and partial:
            partial = partial[3:] if partial.startswith(_BOM) else partial
        if partial.startswith(b":"):
            items.append(Comment(_decode(partial[1:]).removeprefix(" ")))
        self._partial = b""
        self._skip_lf = False
        self._bom_checked = True
        self._data = []
        self._event = ""
        self._retry = None
        return items

    def feed_items(self, data: bytes) -> list[ServerSentEvent | Comment]:
        """Like :meth:`feed`, but comments are returned too, in stream order."""
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == 0x0A:  # LF completing a CRLF whose CR ended the last chunk
                data = data[1:]
        buf = self._partial + data if self._partial else data
        if not self._bom_checked:
            if len(buf) < 3 and _BOM.startswith(buf):
                self._partial = buf  # could still become a BOM; wait for more bytes
                return []
            self._bom_checked = True
            if buf.startswith(_BOM):
                buf = buf[3:]
        # bytes.splitlines splits on exactly CR, LF and CRLF (unlike str.splitlines),
        # and the last byte says whether the last line is complete.
        lines = buf.splitlines()
        end = buf[-1] if buf else 0
        if end == 0x0D:
            # Ends in CR: a complete line, but an LF at the start of the next chunk
            # belongs to it.
            self._skip_lf = True
            self._partial = b""
        elif end == 0x0A:
            self._partial = b""
        else:
            self._partial = lines.pop() if lines else b""
        out: list[ServerSentEvent | Comment] = []
        block = self._data  # the data lines of the current block
        for raw in lines:
            if not raw:
                # A blank line dispatches the block (inlined: this is the hot path).
                if block:
                    # Joining the data lines by LF equals appending each value and an
                    # LF, then removing the final LF.
                    out.append(
                        ServerSentEvent(
                            block[0] if len(block) == 1 else "\n".join(block),
                            self._event or "message",
                            self._last_id,
                            self._retry,
                        )
                    )
                    block = self._data = []
                self._event = ""
                self._retry = None
            elif raw.startswith(b"data:"):
                # Fast path for the commonest field; the first colon is at index 4.
                value = raw[6:] if raw.startswith(b"data: ") else raw[5:]
                block.append(value.decode("utf-8", "replace"))
            elif raw.startswith(b"event:"):
                # The next commonest (every Anthropic and Responses event names itself).
                value = raw[7:] if raw.startswith(b"event: ") else raw[6:]
                self._event = value.decode("utf-8", "replace")
            else:
                self._field(_decode(raw), out)
        return out

    def _field(self, line: str, out: list[ServerSentEvent | Comment]) -> None:
        colon = line.find(":")
        if colon == 0:
            out.append(Comment(line[2:] if line.startswith(": ") else line[1:]))
            return
        if colon < 0:
            field, value = line, ""
        else:
            field = line[:colon]
            value = line[colon + 1 :]
            if value.startswith(" "):
                value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._last_id = value
        elif field == "retry" and value and value.isascii() and value.isdigit():
            self._retry = self.retry = int(value)
        # Any other field is ignored (WHATWG 9.2.6, "Otherwise").


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; a lone surrogate (not encodable) becomes U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def split_lines(text: str) -> list[str]:
    """``text`` cut at its line ends: CRLF, a lone CR or a lone LF, as the standard says.

    Nothing else ends a line (``str.splitlines`` also cuts at U+2028, NEL, FF...).
    Text without a line end is one line; a final line end leaves a last ``""``.
    """
    return normalize_newlines(text).split("\n")


def event_block(
    data: str | None,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    end: str = "\n",
) -> str:
    """The text of one event: ``event:``, ``id:`` and ``retry:`` lines when given, a
    ``data:`` line per line of ``data`` (:func:`split_lines`; none for ``None``: a block
    of fields only, which dispatches no event), each ended by ``end``, then a blank line.

    The one writer of SSE field lines, for :func:`encode` and for replayed scenario
    steps (``end`` is CRLF or CR for a stream that uses those). It writes what it is
    given: :func:`encode` checks the fields first.
    """
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    if data is not None:
        lines.extend(f"data: {line}" for line in split_lines(data))
    return end.join(lines) + end + end


def comment_block(text: str, *, end: str = "\n") -> str:
    """The text of an SSE comment: ``: line`` per line of ``text`` (``:`` for an empty
    one), each ended by ``end``, then a blank line."""
    lines = [f": {line}" if line else ":" for line in split_lines(text)]
    return end.join(lines) + end + end


def encode(event: ServerSentEvent) -> bytes:
    """Serialize ``event`` so that :class:`SSEDecoder` gives back an equal event.

    Each data line becomes its own ``data:`` field (CR, LF and CRLF inside the data
    all split lines, so they come back as LF); ``event`` is omitted when it is
    ``"message"``. ``id`` is written when set; an id already in force from an earlier
    event need not be repeated, but repeating it is harmless.

    Raises:
        SSEEncodeError: a field cannot be represented: ``event`` or ``id`` containing
            CR or LF, ``id`` containing NUL, or a negative ``retry``. It is a
            ``ValueError`` too.
    """
    name = None if event.event == "message" else event.event
    if name is not None and ("\r" in name or "\n" in name):
        raise SSEEncodeError(f"an SSE event name cannot contain CR or LF: {name!r}")
    if event.id is not None and ("\r" in event.id or "\n" in event.id or "\0" in event.id):
        raise SSEEncodeError(f"an SSE id cannot contain CR, LF or NUL: {event.id!r}")
    if event.retry is not None and event.retry < 0:
        raise SSEEncodeError(f"an SSE retry must be a non-negative integer: {event.retry}")
    return _utf8(event_block(event.data, event=name, id=event.id, retry=event.retry))


def encode_comment(text: str) -> bytes:
    """Serialize an SSE comment (one line per line of ``text``), ending with a blank line."""
    return _utf8(comment_block(text))


def format_sse_chunk(chunk: Mapping[str, Any]) -> bytes:
    """``data: {compact JSON}\\n\\n`` for one chunk of an OpenAI-compatible stream.

    Non-ASCII text is written as UTF-8, as OpenAI does. A lone surrogate (which JSON
    input can carry as ``\\ud800``) cannot be UTF-8, so such a chunk falls back to
    ASCII escapes rather than producing invalid bytes.
    """
    try:
        return b"data: " + _json.dumps(chunk).encode("utf-8") + b"\n\n"
    except UnicodeEncodeError:
        return b"data: " + _json.dumps(chunk, ascii=True).encode() + b"\n\n"


def format_sse_done() -> bytes:
    """``data: [DONE]\\n\\n``, the terminator of an OpenAI-compatible stream."""
    return _DONE


def format_keepalive() -> bytes:
    """``: keep-alive\\n\\n``, the one keep-alive harness emits on normalized streams."""
    return KEEPALIVE
