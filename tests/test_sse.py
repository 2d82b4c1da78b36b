"""The SSE codec against the WHATWG "parsing an event stream" rules.

Every case in the table runs whole, one byte at a time, split at every position, and
with more data after it, so that no rule depends on how the bytes were chunked. The
cases follow the standard's text and the shapes of the web-platform-tests
``eventsource/format-*`` files (the data is our own).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import SSEEncodeError
from harness.stream.sse import (
    KEEPALIVE,
    Comment,
    ServerSentEvent,
    SSEDecoder,
    comment_block,
    encode,
    encode_comment,
    event_block,
    format_keepalive,
    format_sse_chunk,
    format_sse_done,
    split_lines,
)

E = ServerSentEvent


def decode_whole(data: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(data) + decoder.flush()


def decode_chunks(chunks: Iterable[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out + decoder.flush()


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# (id, stream, expected events). ``E(data, event, id, retry)``.
CASES: list[tuple[str, bytes, list[ServerSentEvent]]] = [
    ("simple", b"data: hello\n\n", [E("hello")]),
    ("no-space-after-colon", b"data:hello\n\n", [E("hello")]),
    ("only-one-space-removed", b"data:  two\n\n", [E(" two")]),
    ("tab-is-not-a-space", b"data:\tx\n\n", [E("\tx")]),
    ("multi-line-data", b"data: a\ndata: b\ndata:\n\n", [E("a\nb\n")]),
    ("empty-data-dispatches", b"data\n\n", [E("")]),
    ("empty-data-with-colon", b"data:\n\n", [E("")]),
    ("two-empty-data-lines", b"data\ndata\n\n", [E("\n")]),
    ("no-data-no-dispatch", b"event: x\nid: 1\n\n", []),
    ("event-name", b"event: delta\ndata: d\n\n", [E("d", "delta")]),
    ("empty-event-is-message", b"event:\ndata: d\n\n", [E("d")]),
    ("event-resets-after-dispatch", b"event: a\ndata: 1\n\ndata: 2\n\n", [E("1", "a"), E("2")]),
    ("last-event-field-wins", b"event: a\nevent: b\ndata: 1\n\n", [E("1", "b")]),
    ("crlf", b"data: a\r\ndata: b\r\n\r\n", [E("a\nb")]),
    ("cr-only", b"data: a\rdata: b\r\r", [E("a\nb")]),
    ("mixed-line-ends", b"data: a\r\ndata: b\rdata: c\n\r\n", [E("a\nb\nc")]),
    ("lf-cr-is-two-line-ends", b"data: a\n\rdata: b\n\n", [E("a"), E("b")]),
    ("comment-ignored", b": ping\ndata: x\n\n", [E("x")]),
    ("bare-colon-comment", b":\n\ndata: x\n\n", [E("x")]),
    ("comment-only-block", b": keep-alive\n\n", []),
    ("colon-in-value", b'data: {"a":1}\n\n', [E('{"a":1}')]),
    ("field-without-colon", b"data\n\n", [E("")]),
    ("unknown-field-ignored", b"foo: bar\ndata: x\n\n", [E("x")]),
    ("field-names-case-sensitive", b"Data: x\nDATA: y\ndata: z\n\n", [E("z")]),
    ("space-before-field-name", b" data: x\n\n", []),
    ("id", b"id: 7\ndata: x\n\n", [E("x", id="7")]),
    ("id-persists", b"id: 7\ndata: x\n\ndata: y\n\n", [E("x", id="7"), E("y", id="7")]),
    ("id-reset-to-empty", b"id: 7\ndata: x\n\nid\ndata: y\n\n", [E("x", id="7"), E("y", id="")]),
    (
        "id-with-nul-ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [E("a", id="1"), E("b", id="1")],
    ),
    ("id-set-by-dataless-block", b"id: 9\n\ndata: x\n\n", [E("x", id="9")]),
    ("retry", b"retry: 1500\ndata: x\n\n", [E("x", retry=1500)]),
    (
        "retry-applies-to-its-block",
        b"retry: 10\ndata: x\n\ndata: y\n\n",
        [E("x", retry=10), E("y")],
    ),
    ("retry-bogus", b"retry: 10s\ndata: x\n\n", [E("x")]),
    ("retry-empty", b"retry\ndata: x\n\n", [E("x")]),
    ("retry-negative", b"retry: -1\ndata: x\n\n", [E("x")]),
    ("retry-non-ascii-digits", "retry: ١٢\ndata: x\n\n".encode(), [E("x")]),
    ("retry-leading-space-only-one", b"retry:  5\ndata: x\n\n", [E("x")]),
    ("bom-stripped", b"\xef\xbb\xbfdata: x\n\n", [E("x")]),
    ("second-bom-kept", b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [E("y")]),
    ("bom-later-is-content", b"data: \xef\xbb\xbfx\n\n", [E("\ufeffx")]),
    ("utf8", "data: héllo 世界 🎉\n\n".encode(), [E("héllo 世界 🎉")]),
    ("invalid-utf8-replaced", b"data: a\xffb\xc3\n\n", [E("a\ufffdb\ufffd")]),
    ("nul-in-data", b"data: a\x00b\n\n", [E("a\x00b")]),
    (
        "unicode-line-separators-are-content",
        "data: a\u2028b\u2029c\x85d\x0ce\x0bf\n\n".encode(),
        [E("a\u2028b\u2029c\x85d\x0ce\x0bf")],
    ),
    ("unterminated-block-discarded", b"data: a\n\ndata: b\n", [E("a")]),
    ("unterminated-line-discarded", b"data: a\n\ndata: b", [E("a")]),
    ("empty-stream", b"", []),
    ("blank-lines-only", b"\n\n\r\n\r", []),
]


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
class TestCaseTable:
    def test_whole(self, stream: bytes, expected: list[ServerSentEvent]) -> None:
        assert decode_whole(stream) == expected

    def test_one_byte_at_a_time(self, stream: bytes, expected: list[ServerSentEvent]) -> None:
        assert decode_chunks(bytewise(stream)) == expected

    def test_every_split(self, stream: bytes, expected: list[ServerSentEvent]) -> None:
        for cut in range(len(stream) + 1):
            assert decode_chunks([stream[:cut], stream[cut:]]) == expected, f"split at {cut}"

    def test_with_trailing_data(self, stream: bytes, expected: list[ServerSentEvent]) -> None:
        # Whatever follows, the events of the case come first and unchanged; a case
        # that ends inside a block is completed by the blank line, so it is skipped.
        decoder = SSEDecoder()
        events = decoder.feed(stream)
        if decoder.pending:
            return
        tail = decoder.feed(b"data: tail\n\n") + decoder.flush()
        assert events == expected
        assert [e.data for e in tail] == ["tail"]
        assert tail[0].event == "message"


class TestReleaseTiming:
    def test_event_released_by_its_blank_line(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed(b"data: a\n") == []
        assert decoder.pending
        assert decoder.feed(b"\n") == [E("a")]
        assert not decoder.pending

    def test_cr_terminated_event_is_not_held_for_a_possible_lf(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed(b"data: a\r\r") == [E("a")]
        # The LF that may follow pairs with the last CR and is not a new blank line.
        assert decoder.feed(b"\ndata: b\r\n\r\n") == [E("b")]

    def test_crlf_split_between_reads_is_one_line_end(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed(b"data: a\r") == []
        assert decoder.feed(b"\n") == []
        assert decoder.feed(b"data: b\r") == []
        assert decoder.feed(b"\n\r") == [E("a\nb")]

    def test_bom_split_across_reads(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed(b"\xef") == []
        assert decoder.feed(b"\xbb") == []
        assert decoder.feed(b"\xbfdata: x\n\n") == [E("x")]

    def test_utf8_character_split_across_reads(self) -> None:
        payload = "data: 世\n\n".encode()
        decoder = SSEDecoder()
        events = []
        for piece in bytewise(payload):
            events += decoder.feed(piece)
        assert events == [E("世")]

    def test_empty_feed_is_a_no_op(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed(b"") == []
        assert decoder.feed(b"data: x\r") == []
        assert decoder.feed(b"") == []
        assert decoder.feed(b"\n\n") == [E("x")]


class TestComments:
    def test_feed_items_reports_comments_in_order(self) -> None:
        decoder = SSEDecoder()
        items = decoder.feed_items(b": ping\ndata: a\n\n:\n: OPENROUTER PROCESSING\n\n")
        assert items == [Comment("ping"), E("a"), Comment(""), Comment("OPENROUTER PROCESSING")]

    def test_comment_keeps_everything_after_one_space(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed_items(b":  two spaces\n") == [Comment(" two spaces")]

    def test_unterminated_final_comment_reported_by_flush_items(self) -> None:
        decoder = SSEDecoder()
        assert decoder.feed_items(b"data: a\n\n: keep") == [E("a")]
        assert decoder.pending
        assert decoder.flush_items() == [Comment("keep")]
        assert not decoder.pending

    def test_flush_discards_unterminated_data(self) -> None:
        decoder = SSEDecoder()
        decoder.feed(b"data: cut")
        assert decoder.flush_items() == []
        assert decoder.flush() == []


class TestStreamState:
    def test_last_event_id_and_retry_properties(self) -> None:
        decoder = SSEDecoder()
        decoder.feed(b"id: abc\nretry: 300\ndata: x\n\nretry: nope\ndata: y\n\n")
        assert decoder.last_event_id == "abc"
        assert decoder.retry == 300

    def test_decoder_is_reusable_after_flush(self) -> None:
        decoder = SSEDecoder()
        decoder.feed(b"event: e\ndata: cut")
        decoder.flush()
        assert decoder.feed(b"data: next\n\n") == [E("next")]


# --- properties ----------------------------------------------------------------

# Tokens that exercise every rule: line ends of each kind, fields, comments, a BOM,
# multi-byte and invalid UTF-8, colons and spaces.
TOKENS = [
    b"\n", b"\r", b"\r\n", b"data", b"data:", b"data: ", b"event:", b"id:", b"retry:", b":",
    b" ", b"x", b"42", b"\xef\xbb\xbf", "é世🎉".encode(), b"\xff", b"\xe4\xb8", b"\x00",
]  # fmt: skip

streams = st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(stream=streams, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_split_gives_the_same_events(stream: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode_chunks(pieces) == decode_whole(stream)


@settings(max_examples=200, deadline=None)
@given(stream=streams)
def test_one_byte_at_a_time_gives_the_same_events(stream: bytes) -> None:
    assert decode_chunks(bytewise(stream)) == decode_whole(stream)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    decoder = SSEDecoder()
    for chunk in chunks:
        for item in decoder.feed_items(chunk):
            assert isinstance(item, ServerSentEvent | Comment)
    decoder.flush_items()


# Text without lone surrogates (not representable in UTF-8).
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
line_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"))
events = st.builds(
    ServerSentEvent,
    data=text,
    event=line_text.map(lambda s: s or "message"),
    id=st.none() | line_text.filter(lambda s: "\0" not in s),
    retry=st.none() | st.integers(min_value=0, max_value=10**9),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=5))
def test_encode_decode_round_trip(evs: list[ServerSentEvent]) -> None:
    stream = b"".join(encode(e) for e in evs)
    decoded = decode_whole(stream)
    last_id: str | None = None
    expected = []
    for e in evs:
        last_id = e.id if e.id is not None else last_id
        data = e.data.replace("\r\n", "\n").replace("\r", "\n")
        expected.append(ServerSentEvent(data, e.event, last_id, e.retry))
    assert decoded == expected
    assert decode_chunks(bytewise(stream)) == expected


# --- encoders --------------------------------------------------------------------


class TestEncoders:
    def test_encode_all_fields(self) -> None:
        assert encode(E("a\nb", "delta", "7", 100)) == (
            b"event: delta\nid: 7\nretry: 100\ndata: a\ndata: b\n\n"
        )

    def test_encode_message_omits_event(self) -> None:
        assert encode(E("x")) == b"data: x\n\n"

    def test_encode_empty_data_round_trips(self) -> None:
        assert encode(E("")) == b"data: \n\n"
        assert decode_whole(encode(E(""))) == [E("")]

    def test_encode_lone_surrogate_becomes_replacement(self) -> None:
        assert decode_whole(encode(E("a\ud800b"))) == [E("a\ufffdb")]

    @pytest.mark.parametrize(
        ("event", "match"),
        [
            (E("x", "a\nb"), "event name"),
            (E("x", "a\rb"), "event name"),
            (E("x", id="1\n"), "id"),
            (E("x", id="1\x00"), "id"),
            (E("x", retry=-5), "retry"),
        ],
    )
    def test_encode_rejects_unrepresentable_fields(
        self, event: ServerSentEvent, match: str
    ) -> None:
        with pytest.raises(ValueError, match=match) as info:
            encode(event)
        assert isinstance(info.value, SSEEncodeError)  # a HarnessError, and a ValueError

    @pytest.mark.parametrize(
        ("text", "lines"),
        [
            ("", [""]),
            ("a", ["a"]),
            ("a\r\nb\rc\nd", ["a", "b", "c", "d"]),
            ("a\n", ["a", ""]),
            ("\r\r\n\n", ["", "", "", ""]),
            ("a\u2028b\x85c\x0cd", ["a\u2028b\x85c\x0cd"]),  # not line ends in SSE
        ],
    )
    def test_split_lines_at_crlf_cr_and_lf_only(self, text: str, lines: list[str]) -> None:
        assert split_lines(text) == lines

    @pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
    def test_event_and_comment_blocks_with_each_line_end(self, end: str) -> None:
        block = event_block("a\nb", event="delta", id="7", retry=10, end=end)
        lines = ["event: delta", "id: 7", "retry: 10", "data: a", "data: b", "", ""]
        assert block == end.join(lines)
        assert comment_block("x\n", end=end) == end.join([": x", ":", "", ""])
        assert decode_whole(block.encode()) == [E("a\nb", "delta", "7", 10)]

    def test_encode_comment(self) -> None:
        assert encode_comment("ping") == b": ping\n\n"
        assert encode_comment("") == b":\n\n"
        assert encode_comment("a\nb") == b": a\n: b\n\n"
        decoder = SSEDecoder()
        assert decoder.feed_items(encode_comment("a\r\nb")) == [Comment("a"), Comment("b")]

    def test_format_sse_chunk_is_compact_utf8(self) -> None:
        chunk = {"id": "c", "choices": [{"delta": {"content": "héllo 世界"}}]}
        out = format_sse_chunk(chunk)
        assert out == 'data: {"id":"c","choices":[{"delta":{"content":"héllo 世界"}}]}\n\n'.encode()
        assert json.loads(decode_whole(out)[0].data) == chunk

    def test_format_sse_chunk_escapes_newlines_so_it_stays_one_event(self) -> None:
        out = format_sse_chunk({"content": "a\nb\r\nc"})
        assert out.count(b"\n") == 2
        assert json.loads(decode_whole(out)[0].data) == {"content": "a\nb\r\nc"}

    def test_format_sse_chunk_lone_surrogate_falls_back_to_ascii(self) -> None:
        out = format_sse_chunk({"content": "é\ud800"})
        out.decode("utf-8")  # valid UTF-8, no exception
        assert out == b'data: {"content":"\\u00e9\\ud800"}\n\n'

    def test_done_and_keepalive(self) -> None:
        assert format_sse_done() == b"data: [DONE]\n\n"
        assert format_keepalive() == KEEPALIVE == b": keep-alive\n\n"
        decoder = SSEDecoder()
        assert decoder.feed_items(KEEPALIVE) == [Comment("keep-alive")]
