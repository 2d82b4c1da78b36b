"""A sans-IO AWS event-stream codec (``application/vnd.amazon.eventstream``).

Bedrock's streaming responses (``InvokeModelWithResponseStream``, ``ConverseStream``)
are not SSE but this binary framing, the one botocore's ``botocore/eventstream.py``
parses (``EventStreamBuffer``). A message is::

    prelude      total length uint32 | headers length uint32 | prelude CRC32 (of the 8 bytes before)
    headers      repeated: name length uint8 | name (UTF-8) | value type uint8 | value
    payload      total length - headers length - 16 bytes
    message CRC  CRC32 of every byte of the message before it (prelude CRC included)

All integers are big-endian. The value types are 0 true, 1 false (no value bytes),
2 byte (int8), 3 short (int16), 4 integer (int32), 5 long (int64), 6 byte array
(uint16 length + bytes), 7 string (uint16 length + UTF-8), 8 timestamp (int64 ms since
the epoch), 9 uuid (16 bytes).

Header values are Python values whose *type* says the wire type, so that
:func:`encode` writes back exactly the bytes :class:`EventStreamDecoder` read:

===========  ==============================  =====================================
wire type    decoded as                      also written from
===========  ==============================  =====================================
0, 1         ``bool``
2 byte       :class:`Byte` (an ``int``)
3 short      :class:`Short` (an ``int``)
4 integer    ``int``
5 long       :class:`Long` (an ``int``)
6 bytes      ``bytes``                       ``bytearray``, ``memoryview``
7 string     ``str``
8 timestamp  :class:`Timestamp` (int, ms)
9 uuid       :class:`Uuid` (16 ``bytes``)
===========  ==============================  =====================================

The wrappers subclass ``int`` and ``bytes``, so a decoded header compares equal to
botocore's plain value (``Byte(-1) == -1``) while keeping its wire type. A timestamp
stays an integer of milliseconds: the core reads no clock and imports no ``datetime``.
Header order is kept (a ``dict``'s order), and :func:`event_message` /
:func:`exception_message` write Bedrock's in the order AWS sends them.

The decoder gives the same messages however the bytes are split (one at a time
included) and checks what botocore checks, in its order: the prelude CRC, the headers
length (at most 128 KiB), the payload length (at most 24 MiB, botocore >= 1.37.27;
16 MiB before 1.36.15, none in between), the message CRC, duplicate header names. It
also rejects what botocore misreads or fails on with a bare ``KeyError`` or
``struct.error``: a total length below the 16-byte minimum or too small for its
headers, an unknown value type, a header cut off inside the headers section, invalid
UTF-8. Each is an :class:`EventStreamError` naming the byte offset in the stream.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias
from zlib import crc32

from harness.errors import InvalidValueError, ProviderDataError

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "Byte",
    "EventStreamDecoder",
    "EventStreamEncodeError",
    "EventStreamError",
    "EventStreamMessage",
    "HeaderValue",
    "Long",
    "Short",
    "Timestamp",
    "Uuid",
    "encode",
    "encode_headers",
    "encode_parts",
    "event_message",
    "exception_message",
]

#: The largest headers section botocore accepts (``_MAX_HEADERS_LENGTH``).
MAX_HEADERS_LENGTH: Final = 128 * 1024
#: The largest payload botocore accepts (``_MAX_PAYLOAD_LENGTH``, since 1.37.27).
MAX_PAYLOAD_LENGTH: Final = 24 * 1024 * 1024

_PRELUDE_LENGTH: Final = 12  # total length, headers length, prelude CRC
_MIN_LENGTH: Final = 16  # a prelude and a message CRC, nothing else
_PRELUDE = struct.Struct("!III")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_I8 = struct.Struct("!b")
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_I64 = struct.Struct("!q")


class EventStreamError(ProviderDataError):
    """Bytes that are not a valid event stream: a CRC mismatch, a length out of bounds,
    a malformed header, or a stream that ends inside a message.

    Attributes:
        offset: the byte offset in the stream of what is wrong.
        messages: the messages the failing :meth:`EventStreamDecoder.feed` call had
            completed before the error (they are valid; a caller may still use them).
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.messages: list[EventStreamMessage] = []


class EventStreamEncodeError(InvalidValueError):
    """A message cannot be written as an event stream: a header name over 255 bytes, a
    value out of its wire type's range or of an unsupported type, a section over its
    limit. Also a ``ValueError``."""


class Byte(int):
    """An int8 header value (wire type 2)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Byte({int(self)})"


class Short(int):
    """An int16 header value (wire type 3)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Short({int(self)})"


class Long(int):
    """An int64 header value (wire type 5). A plain ``int`` is an int32 (type 4)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Long({int(self)})"


class Timestamp(int):
    """A timestamp header value (wire type 8): milliseconds since the Unix epoch."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Timestamp({int(self)})"


class Uuid(bytes):
    """A uuid header value (wire type 9): its 16 bytes (``uuid.UUID(bytes=...)``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Uuid({bytes(self).hex()!r})"


#: A header value; its Python type picks the wire type (see the module docstring).
HeaderValue: TypeAlias = bool | int | bytes | str


@dataclass(frozen=True, slots=True)
class EventStreamMessage:
    """One event-stream message: its headers, in wire order, and its payload.

    ``headers`` is kept as given (the decoder gives a ``dict``); treat it as read-only.
    """

    headers: Mapping[str, HeaderValue]
    payload: bytes = b""


# --- encoding ---------------------------------------------------------------------


def _header_bytes(name: str, value: object) -> bytes:
    raw_name = _utf8(name, f"header name {name!r}")
    if len(raw_name) > 255:
        raise EventStreamEncodeError(
            f"header name {name[:40]!r}...: {len(raw_name)} bytes, at most 255"
        )
    head = bytes((len(raw_name),)) + raw_name
    if value is True:
        return head + b"\x00"
    if value is False:
        return head + b"\x01"
    if isinstance(value, int):
        # Subclasses first: Byte, Short, Long, Timestamp; a plain int is an int32.
        packer, code, kind = (
            (_I8, 2, "byte")
            if isinstance(value, Byte)
            else (_I16, 3, "short")
            if isinstance(value, Short)
            else (_I64, 5, "long")
            if isinstance(value, Long)
            else (_I64, 8, "timestamp")
            if isinstance(value, Timestamp)
            else (_I32, 4, "integer")
        )
        try:
            return head + bytes((code,)) + packer.pack(value)
        except struct.error:
            hint = " (use Long for an int64)" if code == 4 else ""
            raise EventStreamEncodeError(
                f"header {name!r}: {int(value)} does not fit a {kind} "
                f"({packer.size * 8}-bit signed){hint}"
            ) from None
    if isinstance(value, Uuid):
        if len(value) != 16:
            raise EventStreamEncodeError(f"header {name!r}: a uuid is 16 bytes, got {len(value)}")
        return head + b"\x09" + value
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        code = 6
    elif isinstance(value, str):
        raw = _utf8(value, f"header {name!r}")
        code = 7
    else:
        raise EventStreamEncodeError(
            f"header {name!r}: a {type(value).__name__} is not a header value "
            "(bool, int, Byte, Short, Long, Timestamp, Uuid, bytes, str)"
        )
    if len(raw) > 0xFFFF:
        raise EventStreamEncodeError(f"header {name!r}: a value of {len(raw)} bytes, at most 65535")
    return head + bytes((code,)) + _U16.pack(len(raw)) + raw


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise EventStreamEncodeError(f"{what}: not encodable as UTF-8 ({error.reason})") from None


def encode(message: EventStreamMessage) -> bytes:
    """The bytes of ``message``, headers in its order, which botocore's
    ``EventStreamBuffer`` and :class:`EventStreamDecoder` parse back into it.

    Raises:
        EventStreamEncodeError: a header cannot be written (see the class), or the
            headers exceed 128 KiB or the payload 24 MiB (botocore would refuse them).
    """
    return encode_parts(encode_headers(message.headers), message.payload)


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    """The headers section of a message, in ``headers``' order (for :func:`encode_parts`:
    a caller that sends many messages with the same headers encodes them once).

    Raises:
        EventStreamEncodeError: a header cannot be written.
    """
    return b"".join([_header_bytes(name, value) for name, value in headers.items()])


def encode_parts(headers: bytes, payload: bytes) -> bytes:
    """The bytes of a message from its encoded headers section and its payload.

    Raises:
        EventStreamEncodeError: the headers exceed 128 KiB or the payload 24 MiB.
    """
    payload = bytes(payload)
    if len(headers) > MAX_HEADERS_LENGTH:
        raise EventStreamEncodeError(
            f"headers of {len(headers)} bytes, at most {MAX_HEADERS_LENGTH}"
        )
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise EventStreamEncodeError(
            f"a payload of {len(payload)} bytes, at most {MAX_PAYLOAD_LENGTH}"
        )
    head = struct.pack("!II", _MIN_LENGTH + len(headers) + len(payload), len(headers))
    prelude = head + _U32.pack(crc32(head))
    crc = crc32(payload, crc32(headers, crc32(prelude)))
    return b"".join((prelude, headers, payload, _U32.pack(crc)))


def event_message(
    event_type: str, payload: bytes, content_type: str = "application/json"
) -> EventStreamMessage:
    """An event as Bedrock sends one: ``:event-type``, ``:content-type`` and
    ``:message-type: event`` headers, in that order (e.g. ``event_message("chunk",
    b'{"bytes":"..."}')`` for InvokeModelWithResponseStream)."""
    return EventStreamMessage(
        {":event-type": event_type, ":content-type": content_type, ":message-type": "event"},
        payload,
    )


def exception_message(
    exception_type: str, payload: bytes, content_type: str = "application/json"
) -> EventStreamMessage:
    """An in-stream exception as AWS sends one: ``:exception-type``, ``:content-type``
    and ``:message-type: exception`` headers, in that order (e.g.
    ``exception_message("throttlingException", b'{"message":"..."}')``)."""
    return EventStreamMessage(
        {
            ":exception-type": exception_type,
            ":content-type": content_type,
            ":message-type": "exception",
        },
        payload,
    )


# --- decoding ---------------------------------------------------------------------


class EventStreamDecoder:
    """Incremental event-stream parser. Feed it bytes, split anywhere.

    >>> data = encode(event_message("chunk", b"{}"))
    >>> decoder = EventStreamDecoder()
    >>> decoder.feed(data[:20]), decoder.pending
    ([], 20)
    >>> [message.payload for message in decoder.feed(data[20:])]
    [b'{}']
    >>> decoder.finish()
    []

    After an :class:`EventStreamError` the framing is lost: every later call raises
    the same error.
    """

    __slots__ = ("_buffer", "_consumed", "_error")

    def __init__(self) -> None:
        self._buffer = bytearray()  # bytes of a message that has not arrived whole
        self._consumed = 0  # stream offset of _buffer[0]
        self._error: EventStreamError | None = None

    @property
    def pending(self) -> int:
        """How many bytes of an incomplete message are held back (0 between messages).

        Non-zero at the end of a stream means its last message was cut off.
        """
        return len(self._buffer)

    @property
    def offset(self) -> int:
        """The stream offset up to which whole messages have been decoded."""
        return self._consumed

    def finish(self) -> list[EventStreamMessage]:
        """End of stream: ``[]`` (a list, so the end reads like any other chunk).

        Raises:
            EventStreamError: the stream ended inside a message (:attr:`pending` bytes
                left over, reported with the offset where that message starts).
        """
        if self._error is not None:
            raise self._error
        left = len(self._buffer)
        if not left:
            return []
        if left < _PRELUDE_LENGTH:
            need = f"of its {_PRELUDE_LENGTH}-byte prelude"
        else:
            need = f"of its {_U32.unpack_from(self._buffer)[0]} bytes"
        error = EventStreamError(
            f"event stream ended inside the message at byte {self._consumed}: "
            f"{left} bytes {need} arrived",
            self._consumed,
        )
        self._error = error
        raise error

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """Parse ``data`` and return the messages it completed, in order.

        Raises:
            EventStreamError: the stream is invalid (see the module docstring); its
                ``messages`` holds those completed before the error.
        """
        if self._error is not None:
            raise self._error
        if not data:
            return []
        buffer = self._buffer
        buf: bytes | bytearray
        if buffer:
            buffer += data
            buf = buffer
        else:
            buf = data
        out: list[EventStreamMessage] = []
        pos = 0
        end = len(buf)
        base = self._consumed
        try:
            with memoryview(buf) as view:
                while end - pos >= _PRELUDE_LENGTH:
                    total, headers_length, prelude_crc = _PRELUDE.unpack_from(buf, pos)
                    _check_prelude(view, pos, base, total, headers_length, prelude_crc)
                    if end - pos < total:
                        break
                    out.append(_message(buf, view, pos, base, total, headers_length, prelude_crc))
                    pos += total
        except EventStreamError as error:
            error.messages = out
            self._error = error
            self._buffer = bytearray()
            raise
        self._consumed = base + pos
        if buffer:
            del buffer[:pos]
        elif pos < end:
            self._buffer = bytearray(buf[pos:])
        return out


def _check_prelude(
    view: memoryview, pos: int, base: int, total: int, headers_length: int, prelude_crc: int
) -> None:
    """botocore's checks as soon as 12 bytes are in, in its order, and the minimums."""
    computed = crc32(view[pos : pos + 8])
    at = base + pos
    if computed != prelude_crc:
        raise EventStreamError(
            f"event stream message at byte {at}: prelude CRC mismatch (expected "
            f"0x{prelude_crc:08x}, computed 0x{computed:08x}; the prelude is damaged or "
            "this is not an event stream)",
            at + 8,
        )
    if headers_length > MAX_HEADERS_LENGTH:
        raise EventStreamError(
            f"event stream message at byte {at}: headers length {headers_length} "
            f"exceeds the maximum of {MAX_HEADERS_LENGTH}",
            at + 4,
        )
    if total < _MIN_LENGTH + headers_length:
        raise EventStreamError(
            f"event stream message at byte {at}: total length {total} is less than the "
            f"{_MIN_LENGTH + headers_length} bytes of a prelude, {headers_length} bytes of "
            "headers and a message CRC",
            at,
        )
    payload_length = total - headers_length - _MIN_LENGTH
    if payload_length > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(
            f"event stream message at byte {at}: payload length {payload_length} exceeds "
            f"the maximum of {MAX_PAYLOAD_LENGTH}",
            at,
        )


def _message(
    buf: bytes | bytearray,
    view: memoryview,
    pos: int,
    base: int,
    total: int,
    headers_length: int,
    prelude_crc: int,
) -> EventStreamMessage:
    crc_at = pos + total - 4
    expected = _U32.unpack_from(buf, crc_at)[0]
    computed = crc32(view[pos + 8 : crc_at], prelude_crc)
    if computed != expected:
        raise EventStreamError(
            f"event stream message at byte {base + pos}: message CRC mismatch (expected "
            f"0x{expected:08x}, computed 0x{computed:08x}; the headers or payload are "
            "damaged)",
            base + crc_at,
        )
    start = pos + _PRELUDE_LENGTH
    headers_end = start + headers_length
    headers = _headers(buf, start, headers_end, base) if headers_length else {}
    return EventStreamMessage(headers, bytes(buf[headers_end:crc_at]))


_FIXED: Final = {
    2: (_I8, Byte),
    3: (_I16, Short),
    4: (_I32, int),
    5: (_I64, Long),
    8: (_I64, Timestamp),
}


def _headers(buf: bytes | bytearray, pos: int, end: int, base: int) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    while pos < end:
        at = pos
        name_end = pos + 1 + buf[pos]
        if name_end >= end:  # the name, then at least its type byte
            raise _bad_header(base, at, "cut off in its name or type", end)
        name = _text(buf, pos + 1, name_end, base, at, "name")
        kind = buf[name_end]
        pos = name_end + 1
        value: HeaderValue
        if kind == 7 or kind == 6:
            if pos + 2 > end:
                raise _bad_header(base, at, f"{name!r}: cut off in its value length", end)
            value_end = pos + 2 + _U16.unpack_from(buf, pos)[0]
            if value_end > end:
                raise _bad_header(base, at, f"{name!r}: cut off in its value", end)
            if kind == 7:
                value = _text(buf, pos + 2, value_end, base, at, f"{name!r} value")
            else:
                value = bytes(buf[pos + 2 : value_end])
            pos = value_end
        elif kind == 0 or kind == 1:
            value = kind == 0
        elif kind == 9:
            if pos + 16 > end:
                raise _bad_header(base, at, f"{name!r}: cut off in its uuid", end)
            value = Uuid(buf[pos : pos + 16])
            pos += 16
        elif kind in _FIXED:
            packer, wrap = _FIXED[kind]
            if pos + packer.size > end:
                raise _bad_header(base, at, f"{name!r}: cut off in its value", end)
            value = wrap(packer.unpack_from(buf, pos)[0])
            pos += packer.size
        else:
            raise EventStreamError(
                f"event stream header at byte {base + at}: {name!r} has unknown value "
                f"type {kind} (0-9 exist)",
                base + name_end,
            )
        if name in headers:
            raise EventStreamError(
                f"event stream header at byte {base + at}: duplicate header {name!r}",
                base + at,
            )
        headers[name] = value
    return headers


def _bad_header(base: int, at: int, what: str, end: int) -> EventStreamError:
    return EventStreamError(
        f"event stream header at byte {base + at}: {what} (the headers section ends at "
        f"byte {base + end})",
        base + at,
    )


def _text(buf: bytes | bytearray, start: int, stop: int, base: int, at: int, what: str) -> str:
    try:
        return buf[start:stop].decode("utf-8")
    except UnicodeDecodeError as error:
        raise EventStreamError(
            f"event stream header at byte {base + at}: {what} is not UTF-8 "
            f"({error.reason} at byte {base + start + error.start})",
            base + start + error.start,
        ) from None
