"""A minimal HTTP/1.1 server on 127.0.0.1 that streams given SSE frames.

Test infrastructure for the core: it lets the real ``openai`` SDK (and its HTTP
stack) read what the normalization pipeline produces, one chunked-encoding chunk per
frame, over a real socket. It is not the harness server.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Exchange:
    """What the server will answer, and what it was asked."""

    frames: Sequence[bytes] = ()
    requests: list[bytes] = field(default_factory=list)
    url: str = ""  # set while served


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except ConnectionError:
            pass  # the client hung up (the SDK closes the socket after an APIError)

    def _one_request(self) -> bool:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline(65537)
            if not line:
                return False
            head += line
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = self.rfile.read(length)
        self.server.exchange.requests.append(head + body)
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for frame in self.server.exchange.frames:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    exchange: Exchange


@contextmanager
def serve_frames(exchange: Exchange) -> Iterator[str]:
    """Serve ``exchange.frames`` to every request; yields the base URL (``http://127.0.0.1:PORT``)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.exchange = exchange
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
