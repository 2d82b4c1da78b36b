"""Running the mock provider on Hypercorn: in the foreground, or in a background thread.

:func:`serve_forever` is what ``harness serve`` runs: it binds (127.0.0.1 by
default), reports the base URL once the socket listens, and stops cleanly on
SIGINT/SIGTERM. :class:`ServerThread` runs the same server on its own event loop in a
thread, on port 0 by default, for tests and for users' own tooling
(:func:`harness.testing.run_server` wraps it).

The socket is bound and listening *before* Hypercorn starts, so the URL is known and
connectable the moment it is reported (no sleep-and-retry in callers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any, Literal

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config
from hypercorn.events import RawData

from harness.errors import UsageError
from harness.mock.app import create_app
from harness.mock.asgi import ClientGone
from harness.mock.http import is_loopback_name
from harness.mock.journal import Journal
from harness.mock.options import DEFAULT_KEEP_ALIVE_TIMEOUT, ServerOptions
from harness.mock.scenario import ScenarioSet

__all__ = [
    "DEFAULT_KEEP_ALIVE_TIMEOUT",
    "MAX_HEAD_BYTES",
    "BackgroundLoop",
    "ServerThread",
    "bind",
    "is_loopback",
    "serve_forever",
]

log = logging.getLogger("harness.mock.serve")


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises:
        UsageError: the address cannot be bound (in use, or not an address here).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        hint = " (pass --port 0 for any free port)" if port else ""
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    return sock


#: The largest request head (request line and headers), in bytes: past it, h11 answers
#: 431 and closes the connection before the app sees anything (Hypercorn's default,
#: pinned here so an upgrade cannot change it unnoticed).
MAX_HEAD_BYTES = 16 * 1024


def _config(sock: socket.socket, keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT) -> Config:
    config = Config()
    # Hypercorn adopts the socket's file descriptor; our socket object lets go of it.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None  # an access log would print query strings: ?key= is a secret
    config.errorlog = log
    config.backlog = 1024  # Hypercorn listens again with this (its default is 100)
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = keep_alive_timeout
    config.h11_max_incomplete_size = MAX_HEAD_BYTES
    # No read_timeout: Hypercorn applies it to every read of the connection, even
    # while the server streams, so it would cut any stream that pauses longer (a
    # scenario's stall). Heads and bodies are bounded by the two timeouts above.
    config.read_timeout = None
    config.include_server_header = False
    return config


class _TCPServer(TCPServer):
    """Hypercorn's connection handler, releasing a connection as soon as its client closes.

    Hypercorn (0.16 to 0.18 at least) runs a keep-alive timer while a connection is
    idle, and when the client closes the connection it still waits for that timer:
    the socket stays in CLOSE-WAIT and three tasks stay alive for the whole keep-alive
    timeout. The timer is also restarted when an answer ends after its client has
    gone (a client that read the terminating chunk and closed at once). Under load,
    every client that does not reuse its connection piles up file descriptors and
    tasks for 75 s; ``bench/soak.py`` found it. Once reading has ended (end of file
    or an error), nothing more can arrive: the timer is stopped, and a timer started
    afterwards ends at once, so the connection closes as soon as its answer is done.
    """

    _reading_done = False
    _client_gone = False

    async def protocol_send(self, event: Any) -> None:
        if not isinstance(event, RawData):
            await super().protocol_send(event)
            return
        if self._client_gone:
            raise ClientGone("the client closed the connection")
        await super().protocol_send(event)
        if self.writer.is_closing():  # the write failed and Hypercorn closed the stream
            self._client_gone = True
            raise ClientGone("the client closed the connection")

    async def _read_data(self) -> None:
        await super()._read_data()
        self._reading_done = True
        await self.idle_task.stop()

    async def _idle_timeout(self) -> None:
        if not self._reading_done:
            await super()._idle_timeout()


def _release_closed_connections() -> None:
    # Hypercorn's worker_serve builds each connection's handler from this name.
    if hypercorn_run.TCPServer is TCPServer:  # type: ignore[attr-defined]
        hypercorn_run.TCPServer = _TCPServer  # type: ignore[attr-defined]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    return is_loopback_name(host)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(
    app: Any,
    sock: socket.socket,
    stop: asyncio.Event,
    ready: Callable[[], None],
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
) -> None:
    if stop.is_set():  # stopped (Ctrl-C) while starting: never serve
        sock.close()
        return
    config = _config(sock, keep_alive_timeout)
    _release_closed_connections()
    asyncio.get_running_loop().set_exception_handler(_quiet_cancelled_connections)
    ready()
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)


def _quiet_cancelled_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: drops the cancellation of a connection's task.

    At shutdown, Hypercorn cancels the task of each open connection; Python 3.11's
    ``asyncio.streams`` then calls ``task.exception()`` on it, which raises
    ``CancelledError`` into the loop's handler: ~30 lines of traceback per open
    stream on Ctrl-C (CPython fixed it in 3.12). Anything else goes to the default.
    """
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def serve_forever(
    scenarios: ScenarioSet,
    options: ServerOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
    stop_requested: threading.Event | None = None,
    loop: str = "asyncio",
) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly (open streams get 1 s to end).

    ``options`` are the app's and the connections' (defaults: :class:`ServerOptions`,
    speed 0 as everywhere; ``harness serve`` passes its ``--speed``, 1 by default).
    ``on_ready`` is called with the base URL once the socket listens.
    ``stop_requested``: set by the caller's own signal handler while it was starting
    (loading scenarios, say); the server then stops as soon as it could have started.
    ``loop``: ``asyncio`` or ``uvloop`` (``harness[fast]``; :data:`LOOPS`).

    Raises:
        UsageError: the address cannot be bound, or the event loop is not available.
    """
    options = options or ServerOptions()
    loop_factory(loop)  # refused before the socket is bound
    sock = bind(host, port)
    url = _url(host, sock.getsockname()[1])
    app = create_app(scenarios, options)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Unix only; elsewhere Ctrl-C arrives as KeyboardInterrupt (see README).
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        if stop_requested is not None and stop_requested.is_set():
            stop.set()  # a signal came before the handlers above were in place
        await _serve(
            app, sock, stop, lambda: on_ready(url) if on_ready else None, options.keep_alive_timeout
        )

    _run(main(), loop)


#: The event loops a server can run on: Python's own, or uvloop (``harness[fast]``).
EventLoop = Literal["asyncio", "uvloop"]
LOOPS: tuple[EventLoop, ...] = ("asyncio", "uvloop")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the event loop called ``name`` (``None``: asyncio's default).

    Raises:
        UsageError: an unknown name, or uvloop is not installed (saying how to get it).
    """
    if name == "asyncio":
        return None
    if name != "uvloop":
        raise UsageError(f"unknown event loop {name!r}; known: {', '.join(LOOPS)}")
    try:
        import uvloop
    except ImportError:
        raise UsageError(
            "the uvloop event loop needs uvloop: pip install 'harness[fast]' (or uvloop)"
        ) from None
    return uvloop.new_event_loop


def _run(main: Any, loop: str) -> None:
    """``asyncio.run(main)`` on the event loop called ``loop``."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(main)


class BackgroundLoop:
    """One serving coroutine on its own event loop in a daemon thread.

    The shared lifecycle of :class:`ServerThread` and the recording proxy: start
    returns once the socket is served (or raises what stopped it), stop sets the
    coroutine's stop event from any thread, waits, and re-raises a failure.
    """

    def __init__(self, loop: str = "asyncio") -> None:
        loop_factory(loop)  # an unknown or missing loop is refused here, not in the thread
        self._loop_name = loop
        self._thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self, serve: Callable[[asyncio.Event, Callable[[], None]], Any], name: str) -> None:
        """Run ``serve(stop_event, ready)`` in a new thread; return once it called ``ready``."""
        started = threading.Event()

        def run() -> None:
            async def main() -> None:
                self.loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
                await serve(self._stop, started.set)

            try:
                _run(main(), self._loop_name)
            except BaseException as exc:  # reported by start() or stop()
                self._error = exc
            finally:
                # Also when serve returned without calling ready (stopped while
                # starting: harness.mock.serve._serve), so start() never waits forever.
                started.set()

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        started.wait()
        if self._error is not None:
            raise self._error

    @property
    def running(self) -> bool:
        """Whether a thread was started and not yet stopped."""
        return self._thread is not None

    def stop(self) -> None:
        """Ask the coroutine to stop, wait for the thread, re-raise what failed it."""
        if self._thread is None:
            return
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._thread = None
        if self._error is not None:
            raise self._error


class ServerThread:
    """The mock provider on its own event loop in a daemon thread.

    >>> from harness.mock.scenario import load_scenarios
    >>> with ServerThread(load_scenarios()) as server:  # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:54321

    ``loop``: the event loop to serve on, ``asyncio`` or ``uvloop`` (:data:`LOOPS`).
    """

    def __init__(
        self,
        scenarios: ScenarioSet,
        options: ServerOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        loop: str = "asyncio",
    ) -> None:
        options = options or ServerOptions()
        self.app = create_app(scenarios, options)
        #: The app's journal.
        self.journal: Journal = self.app.config["HARNESS"].journal
        self._keep_alive_timeout = options.keep_alive_timeout
        self._host = host
        self._port = port
        self._background = BackgroundLoop(loop)
        self.url = ""

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self._background.loop

    def start(self) -> str:
        """Bind, start serving, and return the base URL (connectable on return)."""
        sock = bind(self._host, self._port)
        self.url = _url(self._host, sock.getsockname()[1])
        self._background.start(
            lambda stop, ready: _serve(self.app, sock, stop, ready, self._keep_alive_timeout),
            f"harness {self.url}",
        )
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        self._background.stop()

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
