"""A tiny HTTP/1.1 client on a raw socket, for tests that need the bytes on the wire.

An HTTP client library would normalize what it sends (targets, NUL bytes, oversized
heads) and hide how the answer came (chunk boundaries, a connection cut inside a chunk,
whether the server closed the connection afterwards). Here a request is sent as the
bytes given, and an answer keeps each chunk of the chunked encoding apart. Every read
has the socket's timeout: a server that hangs fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


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

    @classmethod
    def parse(cls, raw: bytes) -> Head:
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return cls(raw, int(lines[0].split(" ")[1]), headers)


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

    With ``tolerate_reset``, a reset counts as the end of the connection and a send
    the server no longer takes is dropped (a server may answer and close before it has
    read everything); without it both raise.
    """

    def __init__(self, sock: socket.socket, *, tolerate_reset: bool = False) -> None:
        self.sock = sock
        self.tolerate_reset = tolerate_reset
        self.buffer = b""
        self.eof = False  # the connection has ended

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

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
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

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

    def head(self) -> Head:
        """The next answer's head (status 0 if the connection ends before it does)."""
        while b"\r\n\r\n" not in self.buffer:
            if not self.fill():
                partial, self.buffer = self.buffer, b""
                return Head(partial, 0, {})
        raw, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return Head.parse(raw)

    def chunks(self, limit: int | None = None) -> tuple[list[bytes], bool]:
        """The chunks of a chunked body (at most ``limit``), and whether its terminating
        0-size chunk arrived; a connection cut inside the body ends the list."""
        chunks: list[bytes] = []
        while limit is None or len(chunks) < limit:
            size_line = self.line()
            if size_line is None:
                return chunks, False
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                assert self.line() == b"", "no CRLF after the terminating chunk"
                return chunks, True
            data = self.exact(size)
            chunks.append(data)
            if len(data) < size or self.line() != b"":
                return chunks, False  # cut inside a chunk
        return chunks, False

    def answer(self, *, until_close: bool = False) -> Answer:
        """Read one answer: its head, then its body, chunked or by content-length (none
        without either); a connection cut inside it leaves the answer unterminated.

        ``until_close``: then read until the server closes the connection (it must send
        nothing after the body). Otherwise ``closed`` says whether the connection ended
        right after an answer that says ``connection: close``.
        """
        head = self.head()
        if not head.status:
            return Answer(head, [head.raw], terminated=False, closed=True)
        if head.headers.get("transfer-encoding") == "chunked":
            chunks, terminated = self.chunks()
        else:
            length = int(head.headers.get("content-length", "0"))
            body = self.exact(length)
            chunks, terminated = [body], len(body) == length
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
