"""harness.stream.eventstream against botocore's parser, in both directions.

botocore has no encoder: what we encode is checked by its ``EventStreamBuffer``, and
its own test vectors (bytes it parses, bytes it rejects) are checked by our decoder.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from botocore.eventstream import (
    ChecksumMismatch,
    DuplicateHeader,
    EventStreamBuffer,
    InvalidHeadersLength,
    InvalidPayloadLength,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InvalidValueError, ProviderDataError
from harness.stream.eventstream import (
    MAX_HEADERS_LENGTH,
    MAX_PAYLOAD_LENGTH,
    Byte,
    EventStreamDecoder,
    EventStreamEncodeError,
    EventStreamError,
    EventStreamMessage,
    HeaderValue,
    Long,
    Short,
    Timestamp,
    Uuid,
    encode,
    event_message,
    exception_message,
)

# --- helpers ----------------------------------------------------------------------


def botocore_parse(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """botocore's reading of ``data``: (headers, payload) per message."""
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def decode(data: bytes) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder()
    messages = decoder.feed(data)
    assert decoder.finish() == []
    return messages


def frame(
    headers: bytes,
    payload: bytes = b"",
    *,
    total: int | None = None,
    headers_length: int | None = None,
) -> bytes:
    """A message with valid CRCs around raw header bytes (lengths overridable)."""
    if total is None:
        total = 16 + len(headers) + len(payload)
    if headers_length is None:
        headers_length = len(headers)
    head = struct.pack("!II", total, headers_length)
    prelude = head + struct.pack("!I", zlib.crc32(head))
    body = prelude + headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def header(name: bytes, kind: int, value: bytes = b"") -> bytes:
    return bytes((len(name),)) + name + bytes((kind,)) + value


EVERY_TYPE: dict[str, HeaderValue] = {
    "true": True,
    "false": False,
    "byte": Byte(-128),
    "short": Short(32767),
    "integer": -(2**31),
    "long": Long(2**63 - 1),
    "bytes": b"\x00\xff",
    "string": "ünïcødé ✓ 𝄞",
    "timestamp": Timestamp(1_733_300_000_123),
    "uuid": Uuid(bytes(range(16))),
}


def _stream() -> tuple[bytes, list[EventStreamMessage]]:
    messages = [
        event_message("chunk", b'{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdGFydCJ9"}'),
        EventStreamMessage({}, b""),
        EventStreamMessage(EVERY_TYPE, b"x" * 70),
        exception_message("throttlingException", b'{"message":"slow down"}'),
    ]
    return b"".join(encode(m) for m in messages), messages


# --- botocore's own vectors -------------------------------------------------------
# Ported from botocore tests/unit/test_eventstream.py (github.com/boto/botocore,
# commit 0e6e2404b85dc336dd2889814e089bde7d1a4c55): POSITIVE_CASES and NEGATIVE_CASES.

BOTOCORE_POSITIVE: dict[str, tuple[bytes, dict[str, HeaderValue], bytes]] = {
    "EMPTY_MESSAGE": (b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2H\xeb}\x98\xc8\xff", {}, b""),
    "INT8_HEADER": (
        b"\x00\x00\x00\x17\x00\x00\x00\x07)\x86\x01X\x04byte\x02\xff\xc2\xf8i\xdc",
        {"byte": Byte(-1)},
        b"",
    ),
    "INT16_HEADER": (
        b"\x00\x00\x00\x19\x00\x00\x00\tq\x0e\x92>\x05short\x03\xff\xff\xb2|\xb6\xcc",
        {"short": Short(-1)},
        b"",
    ),
    "INT32_HEADER": (
        b"\x00\x00\x00\x1d\x00\x00\x00\r\x83\xe3\xf0\xe7\x07"
        b"integer\x04\xff\xff\xff\xff\x8b\x8e\x12\xeb",
        {"integer": -1},
        b"",
    ),
    "INT64_HEADER": (
        b"\x00\x00\x00\x1e\x00\x00\x00\x0e]J\xdb\x8d\x04"
        b"long\x05\xff\xff\xff\xff\xff\xff\xff\xffK\xc22\xda",
        {"long": Long(-1)},
        b"",
    ),
    "PAYLOAD_NO_HEADERS": (
        b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96",
        {},
        b"{'foo':'bar'}",
    ),
    "PAYLOAD_ONE_STR_HEADER": (
        b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent-type\x07\x00\x10"
        b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1",
        {"content-type": "application/json"},
        b"{'foo':'bar'}",
    ),
    "ALL_HEADERS_TYPES": (
        b"\x00\x00\x00\x62\x00\x00\x00\x52\x03\xb5\xcb\x9c"
        b"\x010\x00\x011\x01\x012\x02\x02\x013\x03\x00\x03"
        b"\x014\x04\x00\x00\x00\x04\x015\x05\x00\x00\x00\x00\x00\x00\x00\x05"
        b"\x016\x06\x00\x05bytes\x017\x07\x00\x04utf8"
        b"\x018\x08\x00\x00\x00\x00\x00\x00\x00\x08\x019\x090123456789abcdef"
        b"\x63\x35\x36\x71",
        {
            "0": True,
            "1": False,
            "2": Byte(2),
            "3": Short(3),
            "4": 4,
            "5": Long(5),
            "6": b"bytes",
            "7": "utf8",
            "8": Timestamp(8),
            "9": Uuid(b"0123456789abcdef"),
        },
        b"",
    ),
    "ERROR_EVENT_MESSAGE": (
        b"\x00\x00\x00\x52\x00\x00\x00\x42\xbf\x23\x63\x7e"
        b"\x0d:message-type\x07\x00\x05error"
        b"\x0b:error-code\x07\x00\x04code"
        b"\x0e:error-message\x07\x00\x07message"
        b"\x6b\x6c\xea\x3d",
        {":message-type": "error", ":error-code": "code", ":error-message": "message"},
        b"",
    ),
}

# (bytes, botocore's exception, our message pattern)
BOTOCORE_NEGATIVE: dict[str, tuple[bytes, type[Exception], str]] = {
    "CORRUPTED_LENGTH": (
        b"\x01\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96",
        ChecksumMismatch,
        r"at byte 0: prelude CRC mismatch \(expected 0xfd528c5a, computed 0x",
    ),
    "CORRUPTED_PAYLOAD": (
        b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'\x8d\xc3e96",
        ChecksumMismatch,
        r"at byte 0: message CRC mismatch \(expected 0xc3653936, computed 0x",
    ),
    "CORRUPTED_HEADERS": (
        b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent+type\x07\x00\x10"
        b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1",
        ChecksumMismatch,
        r"at byte 0: message CRC mismatch",
    ),
    "CORRUPTED_HEADER_LENGTH": (
        b"\x00\x00\x00=\xff\x00\x01\x02\x07\xfd\x83\x96\x0ccontent-type\x07\x00"
        b"\x10application/json{'foo':'bar'}\x8d\x9c\x08\xb1",
        ChecksumMismatch,
        r"at byte 0: prelude CRC mismatch",
    ),
    "DUPLICATE_HEADER": (
        b"\x00\x00\x00\x24\x00\x00\x00\x14\x4b\xb9\x82\xd0"
        b"\x04test\x04asdf\x04test\x04asdf\xf3\xf4\x75\x63",
        DuplicateHeader,
        r"header at byte 22: duplicate header 'test'",
    ),
    "INVALID_HEADERS_LENGTH": (
        b"\x00\x00\x00\x3d\xff\x00\x01\x02\x15\x83\xf5\xc2"
        b"\x0ccontent-type\x07\x00\x10application/json{'foo':'bar'}\x2f\x37\x7f\x5d",
        InvalidHeadersLength,
        r"at byte 0: headers length 4278190338 exceeds the maximum of 131072",
    ),
}


@pytest.mark.parametrize("name", BOTOCORE_POSITIVE)
def test_botocore_vectors_decode_and_encode_back_byte_for_byte(name: str) -> None:
    data, headers, payload = BOTOCORE_POSITIVE[name]
    [message] = decode(data)
    assert message == EventStreamMessage(headers, payload)
    assert [type(v) for v in message.headers.values()] == [type(v) for v in headers.values()]
    assert encode(message) == data
    assert botocore_parse(data) == [(message.headers, payload)]


def test_botocore_vectors_in_one_stream_split_byte_by_byte() -> None:
    data = b"".join(vector[0] for vector in BOTOCORE_POSITIVE.values())
    expected = [EventStreamMessage(h, p) for _, h, p in BOTOCORE_POSITIVE.values()]
    decoder = EventStreamDecoder()
    got = [m for i in range(len(data)) for m in decoder.feed(data[i : i + 1])]
    assert got == expected
    assert decoder.finish() == []


@pytest.mark.parametrize("name", BOTOCORE_NEGATIVE)
def test_botocore_negative_vectors_are_rejected_by_both(name: str) -> None:
    data, botocore_error, pattern = BOTOCORE_NEGATIVE[name]
    with pytest.raises(botocore_error):
        botocore_parse(data)
    with pytest.raises(EventStreamError, match=pattern):
        decode(data)


def test_a_payload_over_24_mib_is_rejected_by_both() -> None:
    """botocore's INVALID_PAYLOAD_LENGTH, built rather than stored (24 MiB)."""
    data = frame(b"", b"0" * (MAX_PAYLOAD_LENGTH + 1))
    with pytest.raises(InvalidPayloadLength):
        botocore_parse(data)
    # The prelude alone is enough: the decoder refuses before buffering 24 MiB.
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError, match=r"payload length 25165825 exceeds .* 25165824"):
        decoder.feed(data[:12])
    # The largest allowed payload passes both.
    big = frame(b"", b"0" * MAX_PAYLOAD_LENGTH)
    assert botocore_parse(big)[0][1] == decode(big)[0].payload


# --- what we encode, botocore parses ----------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        EventStreamMessage({}, b""),
        EventStreamMessage(EVERY_TYPE, b"payload"),
        EventStreamMessage({"big": "x"}, bytes(range(256)) * 4096),  # 1 MiB
        EventStreamMessage({f"h{i}": i for i in range(500)}, b"many headers"),
        EventStreamMessage({"名前": "値 🎉", "": ""}, "ünïcødé".encode()),
        EventStreamMessage({"s": "x" * 0xFFFF, "b": b"y" * 60_000, "n" * 255: True}, b""),
        event_message("chunk", b'{"bytes":"e30="}'),
        exception_message("modelStreamErrorException", b'{"message":"boom"}'),
    ],
    ids=["empty", "every-type", "1-MiB", "500-headers", "unicode", "largest-values", "event",
         "exception"],
)  # fmt: skip
def test_botocore_parses_what_we_encode(message: EventStreamMessage) -> None:
    data = encode(message)
    assert botocore_parse(data) == [(dict(message.headers), message.payload)]
    [back] = decode(data)
    assert back == message
    assert list(back.headers) == list(message.headers)  # order kept
    assert encode(back) == data


def test_bedrock_helpers_write_headers_in_aws_order() -> None:
    data = encode(event_message("chunk", b"{}"))
    assert data[12:-6] == (
        b"\x0b:event-type\x07\x00\x05chunk"
        b"\x0d:content-type\x07\x00\x10application/json"
        b"\x0d:message-type\x07\x00\x05event"
    )
    assert data[-6:-4] == b"{}"
    data = encode(exception_message("throttlingException", b"{}", "text/plain"))
    assert list(decode(data)[0].headers.items()) == [
        (":exception-type", "throttlingException"),
        (":content-type", "text/plain"),
        (":message-type", "exception"),
    ]
    # botocore treats it as an error (status 400) when it reaches the response parser.
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    assert next(buffer).to_response_dict()["status_code"] == 400


def test_wire_types_are_kept_and_compare_like_plain_values() -> None:
    assert Byte(-1) == -1
    assert Long(5) == 5
    assert Uuid(b"a" * 16) == b"a" * 16
    assert repr(Short(3)) == "Short(3)"
    assert repr(Timestamp(1)) == "Timestamp(1)"
    assert repr(Uuid(bytes(16))) == "Uuid('00000000000000000000000000000000')"
    # a plain int is an int32 (type 4), a bytearray a byte array (type 6)
    assert encode(EventStreamMessage({"i": 1}))[14] == 4
    [back] = decode(encode(EventStreamMessage({"b": bytearray(b"ab")})))
    assert back.headers == {"b": b"ab"}
    assert type(back.headers["b"]) is bytes


# --- split invariance ---------------------------------------------------------------


def test_every_split_point_gives_the_same_messages() -> None:
    data, messages = _stream()
    for cut in range(len(data) + 1):
        decoder = EventStreamDecoder()
        got = decoder.feed(data[:cut])
        assert (decoder.pending == 0) == (cut in _boundaries(messages))
        got += decoder.feed(data[cut:])
        assert got == messages, cut
        assert decoder.pending == 0
        assert decoder.finish() == []
        # botocore agrees at every cut too
        buffer = EventStreamBuffer()
        buffer.add_data(data[:cut])
        seen = [(m.headers, m.payload) for m in buffer]
        buffer.add_data(data[cut:])
        seen += [(m.headers, m.payload) for m in buffer]
        assert seen == [(dict(m.headers), m.payload) for m in messages]


def _boundaries(messages: list[EventStreamMessage]) -> set[int]:
    at, out = 0, {0}
    for message in messages:
        at += len(encode(message))
        out.add(at)
    return out


def test_byte_by_byte() -> None:
    data, messages = _stream()
    decoder = EventStreamDecoder()
    got = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
        assert decoder.offset + decoder.pending == i + 1
    assert got == messages
    assert decoder.feed(b"") == []


# --- rejections -------------------------------------------------------------------


def _reject(data: bytes, pattern: str, offset: int) -> EventStreamError:
    with pytest.raises(EventStreamError, match=pattern) as caught:
        decode(data)
    assert caught.value.offset == offset
    return caught.value


def test_bad_prelude_crc_names_the_message_offset_in_the_stream() -> None:
    first = encode(event_message("chunk", b"{}"))
    bad = bytearray(encode(event_message("chunk", b"{}")))
    bad[9] ^= 0xFF
    error = _reject(
        first + bytes(bad), rf"message at byte {len(first)}: prelude CRC", len(first) + 8
    )
    assert error.messages == [event_message("chunk", b"{}")]  # the good one before it
    with pytest.raises(ChecksumMismatch):
        botocore_parse(first + bytes(bad))


def test_bad_message_crc() -> None:
    data = bytearray(encode(EventStreamMessage({"a": "b"}, b"payload")))
    data[-1] ^= 1
    _reject(bytes(data), r"message at byte 0: message CRC mismatch", len(data) - 4)
    with pytest.raises(ChecksumMismatch):
        botocore_parse(bytes(data))


def test_a_total_length_below_the_minimum_is_rejected() -> None:
    # 12 bytes: botocore reads the prelude CRC as the message CRC and accepts it.
    data = frame(b"", total=12)[:12]
    assert botocore_parse(data) == [({}, b"")]
    _reject(data, r"total length 12 is less than the 16 bytes", 0)
    # Headers longer than the message: botocore reads a negative payload length.
    _reject(frame(b"", headers_length=1), r"total length 16 is less than the 17 bytes", 0)


def test_absurd_lengths_are_refused_from_the_prelude_alone() -> None:
    head = struct.pack("!II", 0xFFFFFFFF, 0)
    prelude = head + struct.pack("!I", zlib.crc32(head))
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError, match=r"payload length 4294967279 exceeds"):
        decoder.feed(prelude)
    head = struct.pack("!II", 200_000, MAX_HEADERS_LENGTH + 1)
    prelude = head + struct.pack("!I", zlib.crc32(head))
    with pytest.raises(EventStreamError, match=r"headers length 131073 exceeds the maximum"):
        EventStreamDecoder().feed(prelude)
    # garbage that is not an event stream at all
    with pytest.raises(EventStreamError, match=r"prelude CRC mismatch .*not an event stream"):
        EventStreamDecoder().feed(b'data: {"not": "an event stream"}\n\n')


@pytest.mark.parametrize(
    ("headers", "pattern", "botocore_outcome"),
    [
        (header(b"x", 10), r"'x' has unknown value type 10 \(0-9 exist\)", KeyError),
        (header(b"x", 255), r"unknown value type 255", KeyError),
        (b"\x05ab", r"header at byte 12: cut off in its name or type", "misread"),
        (b"\x02ab", r"cut off in its name or type", struct.error),
        (header(b"s", 7, b"\x00"), r"'s': cut off in its value length", struct.error),
        (header(b"s", 7, b"\x00\x09abc"), r"'s': cut off in its value \(the headers", "misread"),
        (header(b"b", 6, b"\x01\x00"), r"'b': cut off in its value", "misread"),
        (header(b"i", 4, b"\x00\x00"), r"'i': cut off in its value", struct.error),
        (header(b"l", 5, b"\x00"), r"'l': cut off in its value", struct.error),
        (header(b"u", 9, b"0123"), r"'u': cut off in its uuid", "misread"),
        (header(b"\xff", 0), r"header at byte 12: name is not UTF-8", UnicodeDecodeError),
        (header(b"s", 7, b"\x00\x02\xc3("), r"'s' value is not UTF-8 .*17", UnicodeDecodeError),
        (header(b"a", 0) + header(b"a", 1), r"at byte 15: duplicate header 'a'", DuplicateHeader),
    ],
    ids=["type-10", "type-255", "long-name", "name-without-type", "no-string-length",
         "short-string", "short-bytes", "short-int", "short-long", "short-uuid",
         "bad-name-utf8", "bad-value-utf8", "duplicate"],
)  # fmt: skip
def test_malformed_headers_are_rejected(
    headers: bytes, pattern: str, botocore_outcome: type[Exception] | str
) -> None:
    data = frame(headers, b"{}")
    with pytest.raises(EventStreamError, match=pattern) as caught:
        decode(data)
    assert 12 <= caught.value.offset < 12 + len(headers)  # inside the headers section
    if botocore_outcome == "misread":
        # botocore slices past the headers section's end and returns something else
        # than what was sent, or nothing sensible; we refuse instead.
        try:
            parsed = botocore_parse(data)
        except Exception:
            return
        assert parsed != [({}, b"{}")]
    else:
        assert isinstance(botocore_outcome, type)
        with pytest.raises(botocore_outcome):
            botocore_parse(data)


def test_a_stream_cut_inside_a_message_is_reported_by_finish() -> None:
    data, sent = _stream()
    last = len(encode(sent[-1]))
    decoder = EventStreamDecoder()
    assert decoder.feed(data[:-3]) == sent[:-1]
    assert decoder.pending == last - 3
    start = len(data) - last
    with pytest.raises(
        EventStreamError,
        match=rf"ended inside the message at byte {start}: {decoder.pending} bytes of its "
        rf"{decoder.pending + 3} bytes arrived",
    ) as caught:
        decoder.finish()
    assert caught.value.offset == start
    decoder = EventStreamDecoder()
    decoder.feed(data[:5])
    with pytest.raises(EventStreamError, match=r"5 bytes of its 12-byte prelude"):
        decoder.finish()


def test_after_an_error_the_decoder_stays_failed() -> None:
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError) as first:
        decoder.feed(b"\x00" * 12)
    with pytest.raises(EventStreamError) as again:
        decoder.feed(encode(EventStreamMessage({})))
    assert again.value is first.value
    with pytest.raises(EventStreamError):
        decoder.finish()


def test_the_error_is_a_provider_data_error() -> None:
    assert issubclass(EventStreamError, ProviderDataError)
    assert issubclass(EventStreamEncodeError, InvalidValueError)
    assert issubclass(EventStreamEncodeError, ValueError)


# --- what cannot be encoded -------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "payload", "pattern"),
    [
        ({"n" * 256: True}, b"", r"256 bytes, at most 255"),
        ({"i": 2**31}, b"", r"2147483648 does not fit a integer .*use Long"),
        ({"b": Byte(128)}, b"", r"128 does not fit a byte \(8-bit signed\)"),
        ({"s": Short(-(2**15) - 1)}, b"", r"does not fit a short"),
        ({"l": Long(2**63)}, b"", r"does not fit a long"),
        ({"t": Timestamp(-(2**63) - 1)}, b"", r"does not fit a timestamp"),
        ({"u": Uuid(b"short")}, b"", r"a uuid is 16 bytes, got 5"),
        ({"f": 1.5}, b"", r"'f': a float is not a header value"),
        ({"s": "x" * 0x10000}, b"", r"a value of 65536 bytes, at most 65535"),
        ({"s": "\ud800"}, b"", r"header 's': not encodable as UTF-8"),
        ({f"h{i:05}": "x" * 1000 for i in range(140)}, b"", r"headers of \d+ bytes, at most 131"),
        ({}, b"0" * (MAX_PAYLOAD_LENGTH + 1), r"a payload of 25165825 bytes, at most 25165824"),
    ],
    ids=["long-name", "int32-range", "byte-range", "short-range", "long-range",
         "timestamp-range", "uuid-length", "float", "long-string", "surrogate",
         "headers-limit", "payload-limit"],
)  # fmt: skip
def test_what_cannot_be_written_is_refused(
    headers: dict[str, Any], payload: bytes, pattern: str
) -> None:
    with pytest.raises(EventStreamEncodeError, match=pattern):
        encode(EventStreamMessage(headers, payload))


def test_the_limits_are_botocores() -> None:
    from botocore import eventstream

    assert MAX_HEADERS_LENGTH == eventstream._MAX_HEADERS_LENGTH
    assert MAX_PAYLOAD_LENGTH == eventstream._MAX_PAYLOAD_LENGTH


# --- properties -------------------------------------------------------------------

_names = st.text(max_size=20)
_values: st.SearchStrategy[HeaderValue] = st.one_of(
    st.booleans(),
    st.integers(-(2**31), 2**31 - 1),
    st.builds(Byte, st.integers(-128, 127)),
    st.builds(Short, st.integers(-(2**15), 2**15 - 1)),
    st.builds(Long, st.integers(-(2**63), 2**63 - 1)),
    st.builds(Timestamp, st.integers(-(2**63), 2**63 - 1)),
    st.builds(Uuid, st.binary(min_size=16, max_size=16)),
    st.binary(max_size=64),
    st.text(max_size=40),
)
_messages = st.builds(
    EventStreamMessage,
    st.dictionaries(_names, _values, max_size=8),
    st.binary(max_size=200),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_messages, min_size=1, max_size=5), st.data())
def test_random_messages_round_trip_whatever_the_split(
    messages: list[EventStreamMessage], data: st.DataObject
) -> None:
    stream = b"".join(encode(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    decoder = EventStreamDecoder()
    got = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[start:stop])
    assert decoder.finish() == []
    assert got == messages
    assert [[type(v) for v in m.headers.values()] for m in got] == [
        [type(v) for v in m.headers.values()] for m in messages
    ]
    assert b"".join(encode(m) for m in got) == stream
    assert botocore_parse(stream) == [(dict(m.headers), m.payload) for m in messages]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 120))
def test_arbitrary_bytes_never_crash_and_splits_agree(blob: bytes, cut: int) -> None:
    """Any input: messages or an EventStreamError, the same for the whole and a split."""

    def run(chunks: list[bytes]) -> tuple[list[EventStreamMessage], str | None]:
        decoder = EventStreamDecoder()
        got: list[EventStreamMessage] = []
        try:
            for chunk in chunks:
                got += decoder.feed(chunk)
            decoder.finish()
        except EventStreamError as error:
            return got + error.messages, str(error)
        return got, None

    prefix = encode(EventStreamMessage({"k": "v"}, b"p"))
    stream = prefix + blob
    assert run([stream]) == run([stream[:cut], stream[cut:]])
