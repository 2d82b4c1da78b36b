"""A tiny HTTP/1.1 client on a raw socket, for tests that need the bytes on the wire.

An HTTP client library would normalize what it sends (targets, NUL bytes, oversized
heads) and hide how the answer came (chunk boundaries, a connection cut inside a chunk,
whether the server closed the connection afterwards). Here a request is sent as the
bytes given, and an answer keeps each chunk of the chunked encoding apart. Every read
has the socket's timeout: a server that hangs fails the test instead of hanging it.

Answers are parsed by :class:`AnswerReader` (h11, sans I/O), which the load clients of
``bench/serve.py`` and ``bench/soak.py`` use too: the one HTTP/1.1 answer reader here.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11


def address(url: str) -> tuple[str, int]:
    """The (host, port) of ``http://host:port``."""
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port


def request(
    target: str, body: bytes = b"", *, host: str = "x", headers: Mapping[str, str] | None = None
) -> bytes:
    """A POST request's bytes, sent as given: the target is not normalized, and header
    values go out as UTF-8 (obs-text).

    The head has ``host``, ``content-type: application/json``, then ``headers`` (names
    lower-cased; one named like a default replaces it), then ``content-length``.
    """
    fields = {"host": host, "content-type": "application/json"}
    fields.update({name.lower(): value for name, value in (headers or {}).items()})
    fields["content-length"] = str(len(body))
    head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode() + b"\r\n" + body


@dataclass(frozen=True)
class Head:
    """An answer's status line and headers (names lower-cased, values stripped)."""

    raw: bytes  # as received, without the blank line ending it
    status: int  # 0: the connection ended before the head did (``raw`` is what came)
    headers: dict[str, str]


class AnswerReader:
    """One HTTP/1.1 answer parsed with h11 from the bytes fed to it (sans I/O).

    :meth:`feed` what the connection delivers (``b""`` once it has ended), then call
    :meth:`next` until it returns None. The body is framed as HTTP says: chunked, by
    content-length, or until the connection ends (neither). A chunked body keeps each
    HTTP chunk apart: h11's Data events from ``chunk_start`` to ``chunk_end`` make one
    element of :attr:`chunks`. The connection ending before the answer is whole (h11's
    RemoteProtocolError on an EOF) makes it :attr:`cut`, not an error; any other
    malformed answer raises h11.RemoteProtocolError.
    """

    def __init__(self, data: bytes = b"") -> None:
        self._parser = h11.Connection(h11.CLIENT)
        # h11 frames an answer by its request: it is told of one (not HEAD), not sent.
        self._parser.send(h11.Request(method="POST", target="/", headers=[("host", "x")]))
        self._parser.send(h11.EndOfMessage())
        if data:  # b"" would say the connection ended
            self._parser.receive_data(data)
        self._received = bytearray(data)  # until the head is whole: for Head.raw
        self.head: Head | None = None  # once whole; status 0 if the connection ended first
        self.chunks: list[bytes] = []  # the body's whole chunks so far; not chunked: the
        # whole body at its end. A cut adds what came of the last one.
        self.partial = bytearray()  # the chunk still arriving (not chunked: the body so far)
        self.chunked = False
        self.terminated = False  # the body ended as framed (chunked: the 0-size chunk came)
        self.cut = False  # the connection ended first

    @property
    def done(self) -> bool:
        """The answer is over: terminated or cut."""
        return self.terminated or self.cut

    @property
    def trailing(self) -> bytes:
        """What was fed and not parsed: after an answer done, what followed it."""
        return self._parser.trailing_data[0]

    def feed(self, data: bytes) -> None:
        """Add what the connection delivered; ``b""``: it has ended."""
        if self.head is None:
            self._received += data
        self._parser.receive_data(data)

    def next(self) -> Head | bytes | None:
        """Parse on: the head once whole, then each piece of the body as it arrives
        (a chunk may come in several); None once more bytes are needed or it is done."""
        while not self.done:
            try:
                event = self._parser.next_event()
            except h11.RemoteProtocolError:
                if not self._parser.trailing_data[1]:
                    raise  # malformed, not cut
                self._end(cut=True)
                return None
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Data):
                data = bytes(event.data)
                self.partial += data
                if event.chunk_end:
                    self.chunks.append(bytes(self.partial))
                    self.partial.clear()
                return data
            if isinstance(event, h11.EndOfMessage):
                self._end(cut=False)
            elif isinstance(event, h11.InformationalResponse | h11.Response):
                consumed = len(self._received) - len(self.trailing)
                if isinstance(event, h11.InformationalResponse):  # 1xx: not the answer
                    del self._received[:consumed]
                    continue
                raw = bytes(self._received[:consumed]).removesuffix(b"\r\n\r\n")
                self._received = bytearray()
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
                self.chunked = headers.get("transfer-encoding") == "chunked"
                self.head = Head(raw, event.status_code, headers)
                return self.head
            else:  # ConnectionClosed: the connection ended before anything came
                self._end(cut=True)
        return None

    def _end(self, *, cut: bool) -> None:
        self.terminated, self.cut = not cut, cut
        if self.head is None:
            self.head = Head(bytes(self._received), 0, {})
        elif self.partial or not self.chunked:
            self.chunks.append(bytes(self.partial))
            self.partial.clear()


@dataclass
class Answer:
    """One answer read off a raw socket."""

    head: Head
    chunks: list[bytes]  # one element per HTTP chunk; the whole body if not chunked
    terminated: bool  # the body ended as framed (chunked: the 0-size chunk arrived)
    closed: bool  # the server closed the connection after the answer

    @property
    def status(self) -> int:
        """The status code; 0 if the connection ended before a whole head."""
        return self.head.status

    @property
    def headers(self) -> dict[str, str]:
        return self.head.headers

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def message(self) -> str:
        """The provider-shaped error's message (every family puts it at error.message)."""
        assert self.headers.get("content-type") == "application/json", self
        error = json.loads(self.body)["error"]
        assert isinstance(error, dict)
        message: str = error["message"]
        return message


class Connection:
    """A client socket and the bytes read from it but not yet taken (``buffer``).

    From :meth:`head` until its answer is done, an :class:`AnswerReader` parses what is
    read (``buffer`` is then what it has not parsed yet); a raw read (:meth:`line`,
    :meth:`exact`) or setting ``buffer`` takes the bytes back from it.

    With ``tolerate_reset``, a reset counts as the end of the connection and a send
    the server no longer takes is dropped (a server may answer and close before it has
    read everything); without it both raise.
    """

    def __init__(self, sock: socket.socket, *, tolerate_reset: bool = False) -> None:
        self.sock = sock
        self.tolerate_reset = tolerate_reset
        self._buffer = b""
        self._reader: AnswerReader | None = None  # the answer being read
        self.eof = False  # the connection has ended

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    @property
    def buffer(self) -> bytes:
        """The bytes read but not taken (nor parsed by the answer being read)."""
        return self._buffer if self._reader is None else self._reader.trailing

    @buffer.setter
    def buffer(self, data: bytes) -> None:
        self._reader = None
        self._buffer = data

    def send(self, data: bytes) -> None:
        if not self.tolerate_reset:
            self.sock.sendall(data)
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(data)

    def fill(self) -> bool:
        """Read once more into the buffer; False once the connection has ended.

        A timeout raises: a hang is a failure.
        """
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            if not self.tolerate_reset:
                raise
            data = b""
        self.eof = not data
        if self._reader is not None:
            self._reader.feed(data)
        else:
            self._buffer += data
        return not self.eof

    def at_end(self) -> bool:
        """Nothing is buffered and the next read finds the connection ended."""
        return not self.buffer and not self.fill()

    def drain(self) -> None:
        """Read until the server closes the connection."""
        while self.fill():
            pass

    def line(self) -> bytes | None:
        """The next line without its CRLF; None if the connection ends first."""
        while b"\r\n" not in self.buffer:
            if not self.fill():
                return None
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def exact(self, size: int) -> bytes:
        """The next ``size`` bytes, or fewer if the connection ends first."""
        while len(self.buffer) < size and self.fill():
            pass
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _step(self, reader: AnswerReader) -> None:
        """Parse one more step of the answer, reading once more if it needs to."""
        if reader.next() is None and not reader.done:
            self.fill()

    def head(self) -> Head:
        """The next answer's head (status 0 if the connection ends before it does)."""
        reader = AnswerReader(self.buffer)
        if self.eof:
            reader.feed(b"")
        self._buffer, self._reader = b"", reader
        while reader.head is None:
            self._step(reader)
        if not reader.head.status:
            self.buffer = b""
        return reader.head

    def chunks(self, limit: int | None = None) -> tuple[list[bytes], bool]:
        """The body's next chunks after :meth:`head` (at most ``limit``; the whole body
        if not chunked), and whether it ended as framed (chunked: its terminating 0-size
        chunk arrived); a connection cut inside the body ends the list with what came
        of the chunk it cut."""
        reader = self._reader
        assert reader is not None, "no answer being read: read its head first"
        start = len(reader.chunks)
        while not reader.done and (limit is None or len(reader.chunks) - start < limit):
            self._step(reader)
        chunks = reader.chunks[start:][:limit]
        if reader.done:
            self.buffer = reader.trailing
        return chunks, reader.terminated

    def answer(self, *, until_close: bool = False) -> Answer:
        """Read one answer: its head, then its body, framed as HTTP says (chunked, by
        content-length, or until the connection ends); a connection cut inside it leaves
        the answer unterminated.

        ``until_close``: then read until the server closes the connection (it must send
        nothing after the body). Otherwise ``closed`` says whether the connection ended
        right after an answer that says ``connection: close``.
        """
        head = self.head()
        if not head.status:
            return Answer(head, [head.raw], terminated=False, closed=True)
        chunks, terminated = self.chunks()
        if until_close:
            self.drain()
            assert self.buffer == b"", f"bytes after the end of the body: {self.buffer!r}"
            closed = True
        else:
            closing = head.headers.get("connection", "").lower() == "close"
            closed = closing and self.at_end()
        return Answer(head, chunks, terminated, closed)


def connect(url: str, timeout: float = 5.0, *, tolerate_reset: bool = False) -> Connection:
    """A new connection to the server at ``url`` (every read and send has ``timeout``)."""
    sock = socket.create_connection(address(url), timeout=timeout)
    return Connection(sock, tolerate_reset=tolerate_reset)


def send(
    url: str, data: bytes, timeout: float = 5.0, *, tolerate_reset: bool = False
) -> Connection:
    """A new connection to ``url`` that has sent ``data`` (the request; read the answer
    from it)."""
    conn = connect(url, timeout, tolerate_reset=tolerate_reset)
    try:
        conn.send(data)
    except BaseException:
        conn.close()
        raise
    return conn


def exchange(
    url: str,
    data: bytes,
    *,
    timeout: float = 5.0,
    tolerate_reset: bool = False,
    until_close: bool = False,
) -> Answer:
    """Send ``data`` on a new connection and read one answer (see Connection.answer)."""
    with send(url, data, timeout, tolerate_reset=tolerate_reset) as conn:
        return conn.answer(until_close=until_close)
