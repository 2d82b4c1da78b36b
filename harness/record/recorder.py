"""``harness record``: a streaming recording proxy in front of a real provider.

The proxy listens on loopback and forwards every request (any method, path and
query) to the upstream with httpx, unchanged but for the hop-by-hop headers, ``host``
and ``accept-encoding`` (``identity``, so the recorded bytes are readable). Each
piece of the upstream's body goes to the client the moment it arrives and is
recorded with its arrival time, so a recording keeps the bytes, the chunk
boundaries, the timing, and how the body ended:

* the upstream status and headers pass through (non-2xx answers are recorded too);
* an upstream that cuts its body mid-stream gets the client's connection cut the
  same way (no terminating chunk), and the interaction is recorded with
  ``complete=False`` and the bytes that did arrive;
* an unreachable upstream gets the client a 502, and nothing is recorded;
* a client that hangs up mid-stream ends the upstream request too, after a grace of
  half a second (SDKs hang up as soon as they read the terminal event, often just
  before the body's end arrives): a body that ended in time is recorded as complete,
  otherwise what arrived is recorded with ``complete=False``.

The client's credentials go upstream as sent; they are dropped only from what is
recorded (:mod:`harness.secrets`, plus ``--filter-header`` / ``--filter-query``). An
AWS SigV4 signature covers the ``host`` header, which the proxy replaces with the
upstream's: a request signed for another host (the SDK's ``endpoint_url`` pointed at
the proxy) gets one warning on stderr (``docs/recording.md#amazon-bedrock``).
The cassette (:mod:`harness.record.cassette`) is rewritten atomically after each
interaction, before the client sees the end of its body, and once more on stop, so
a crash loses nothing. Interactions are kept in the order their requests arrived.

:func:`run_record` is what ``harness record`` runs; :class:`RecordingProxy` runs the
same proxy in a thread, for tests and users' own tooling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import httpx

from harness._text import plural
from harness.errors import UsageError
from harness.mock.serve import BackgroundLoop, _serve, _url, bind
from harness.record.cassette import (
    CassetteError,
    Chunk,
    Interaction,
    RecordMode,
    save_cassette,
    start_recording,
)
from harness.secrets import DEFAULT_HEADERS, DEFAULT_QUERY, filter_headers, filter_uri

__all__ = ["RecordingProxy", "run_record"]

#: Headers that belong to one connection, never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers httpx sets itself from the URL and the body, or that the proxy sets.
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
#: Response headers the proxy does not pass on: it frames the body itself (chunked),
#: and Hypercorn sends its own ``date`` (the recording keeps the upstream's).
_NOT_RETURNED = HOP_BY_HOP | {"content-length", "date"}

#: The signed header names of an AWS SigV4 ``authorization`` header.
_SIGNED_HEADERS = re.compile(r"^AWS4-HMAC-SHA256 .*SignedHeaders=([^,\s]+)")

#: How long the upstream may still take to end its body once the client hung up.
HANG_UP_GRACE = 0.5

Ended = Literal["complete", "upstream_cut", "client_gone", "stopped"]


def _say(message: str) -> None:
    print(f"harness record: {message}", file=sys.stderr, flush=True)


class _Session:
    """What one run of the proxy records, and the cassette it keeps up to date."""

    def __init__(
        self,
        cassette: Path | None,
        mode: RecordMode,
        extra_headers: Iterable[str],
        extra_query: Iterable[str],
    ) -> None:
        # The mode is checked now; the cassette file when the proxy starts (prepare).
        in_memory = start_recording(None, mode)
        self.cassette = cassette
        self.mode = mode
        self.recording = in_memory.records
        self.extra_headers = tuple(extra_headers)
        self.extra_query = tuple(extra_query)
        self._base: list[Interaction] = []
        self._finished: dict[int, Interaction] = {}
        self._slots = itertools.count()
        self._changes = 0
        self._written = 0
        # Whether the next write creates the cassette: it then never replaces a file
        # that appeared meanwhile (only --record-mode all may replace one).
        self._create = not in_memory.overwrite
        self._state = threading.Lock()
        self._writing = threading.Lock()

    def prepare(self) -> None:
        """Check the cassette against the record mode before serving.

        Raises:
            CassetteError: ``once`` and the cassette exists; ``new_episodes`` and the
                existing cassette cannot be read.
        """
        if not self.recording or self.cassette is None:
            return
        start = start_recording(self.cassette, self.mode, option="--record-mode ")
        self._base = list(start.base)
        self._create = not start.overwrite

    def reserve(self) -> int:
        """A place in the recording order, taken when a request arrives."""
        return next(self._slots)

    def finish(self, slot: int, interaction: Interaction) -> None:
        """Keep ``interaction`` at its place (no-op when not recording)."""
        if not self.recording:
            return
        with self._state:
            self._finished[slot] = interaction
            self._changes += 1

    @property
    def interactions(self) -> list[Interaction]:
        """This run's interactions, in the order their requests arrived."""
        with self._state:
            return [self._finished[slot] for slot in sorted(self._finished)]

    def save(self) -> None:
        """Rewrite the cassette with everything recorded so far, if anything changed.

        Raises:
            CassetteError: the cassette cannot be written.
        """
        if not self.recording or self.cassette is None:
            return
        with self._writing:
            with self._state:
                changes = self._changes
                interactions = [self._finished[slot] for slot in sorted(self._finished)]
            if changes == self._written:
                return
            # The record mode was applied once, at start: from then on this run owns
            # the file and rewrites all of it. Its first write creates the file unless
            # the mode allows replacing one (all) or it was read (new_episodes).
            everything = self._base + interactions
            if self._create:
                if self.cassette.exists():
                    raise CassetteError(
                        self.cassette,
                        "appeared while recording (written by something else); not "
                        "overwritten: move it away, or pass --record-mode all to overwrite it",
                    )
                save_cassette(self.cassette, everything, mode="once")
                self._create = False
            else:
                save_cassette(self.cassette, everything, mode="all")
            self._written = changes


class _ProxyApp:
    """The ASGI app: forwards each request upstream and streams the answer back."""

    def __init__(self, upstream: str, session: _Session) -> None:
        self.upstream = upstream
        self.session = session
        self.client: httpx.AsyncClient | None = None
        self._host = httpx.URL(upstream).netloc.decode("ascii")
        self._warned = False

    def _check_signature(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        """Warn once when a request is AWS SigV4-signed for another host than the
        upstream's: the signature covers ``host``, so the upstream will refuse it."""
        if self._warned:
            return
        headers = {name.lower(): value.decode("latin-1") for name, value in raw}
        signed = _SIGNED_HEADERS.search(headers.get(b"authorization", ""))
        host = headers.get(b"host", "")
        if signed is None or "host" not in signed.group(1).split(";") or host == self._host:
            return
        self._warned = True
        _say(
            f"a request is AWS SigV4-signed for host {host!r}, not {self._host!r}: the "
            "upstream will refuse the signature. Make the SDK sign for the upstream's host "
            "and send through the proxy (docs/recording.md#amazon-bedrock)"
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return  # websockets: refused (Hypercorn closes the handshake)
        await self._forward(scope, receive, send)

    async def _forward(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.client is not None
        body = await _read_body(receive)
        if body is None:
            return  # the client left before sending its whole request
        method: str = scope["method"]
        target = _target(scope)
        self._check_signature(scope["headers"])
        url = self.upstream + target
        headers = _request_headers(scope["headers"])
        slot = self.session.reserve()
        request = self.client.build_request(method, url, headers=headers, content=body)
        started = time.perf_counter()
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            shown = filter_uri(target, self.session.extra_query)
            problem = f"upstream unreachable for {method} {shown}: {_describe(exc)}"
            _say(f"{problem}; answered 502, not recorded")
            await _send_error(send, 502, f"harness record: {problem}")
            return

        chunks: list[Chunk] = []
        ended: Ended = "stopped"
        why = ""
        try:
            ended, why = await self._relay(response, send, receive, chunks, started)
        finally:
            await response.aclose()
            interaction = Interaction(
                method=method,
                uri=filter_uri(url, self.session.extra_query),
                request_headers=filter_headers(_grouped(headers), self.session.extra_headers),
                request_body=body,
                status=response.status_code,
                reason=response.reason_phrase,
                response_headers=filter_headers(
                    _grouped(
                        (name, value)
                        for name, value in response.headers.multi_items()
                        if name.lower() not in HOP_BY_HOP
                    ),
                    self.session.extra_headers,
                ),
                chunks=tuple(chunks),
                complete=ended == "complete",
            )
            self.session.finish(slot, interaction)
            self._report(slot, interaction, target, ended, why, started)
        # Written before the client sees the end of its body: once a client has its
        # answer, the cassette on disk has it too.
        try:
            await asyncio.to_thread(self.session.save)
        except CassetteError as exc:
            _say(f"{exc} (kept in memory; retried after the next interaction and on stop)")
        if ended == "complete":
            # A client may close without reading to the end (boto3's invoke_model
            # hands the body over unread): the interaction is recorded all the same.
            with contextlib.suppress(ConnectionError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        # Otherwise return without finishing the body: Hypercorn closes the connection
        # without the terminating chunk, as the upstream did.

    async def _relay(
        self,
        response: httpx.Response,
        send: Any,
        receive: Any,
        chunks: list[Chunk],
        started: float,
    ) -> tuple[Ended, str]:
        """Pass each chunk on as it arrives until the body ends, is cut, or the client
        hangs up (which ends the upstream request too).

        Reading and timestamping run in their own task, apart from writing to the
        client, so a slow client (or the client's own work on the headers) does not
        shift the recorded arrival times.
        """
        queue: asyncio.Queue[bytes | tuple[Ended, str]] = asyncio.Queue()

        async def read() -> tuple[Ended, str]:
            result: tuple[Ended, str] = ("complete", "")
            try:
                async for data in response.aiter_raw():
                    if data:
                        chunks.append(Chunk(data, time.perf_counter() - started))
                        queue.put_nowait(data)
            except httpx.TransportError as exc:
                result = ("upstream_cut", _describe(exc))
            queue.put_nowait(result)
            return result

        async def watch() -> None:
            await _wait_for_disconnect(receive)
            queue.put_nowait(("client_gone", ""))

        reader = asyncio.create_task(read())
        await asyncio.sleep(0)  # a first chunk already buffered is timestamped now
        watcher = asyncio.create_task(watch())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _response_headers(response.headers.raw),
                }
            )
            while True:
                item = await queue.get()
                end: tuple[Ended, str] = ("client_gone", "")
                if isinstance(item, bytes):
                    try:
                        await send({"type": "http.response.body", "body": item, "more_body": True})
                        continue
                    except ConnectionError:  # the write failed: the client hung up
                        pass
                else:
                    end = item
                if end[0] != "client_gone":
                    return end
                # SDKs hang up as soon as they have the terminal event ([DONE],
                # message_stop), often just before the body's end: let it arrive.
                await asyncio.wait({reader}, timeout=HANG_UP_GRACE)
                return reader.result() if reader.done() else end
        finally:
            watcher.cancel()
            reader.cancel()
            await asyncio.gather(reader, watcher, return_exceptions=True)

    def _report(
        self,
        slot: int,
        interaction: Interaction,
        target: str,
        ended: Ended,
        why: str,
        started: float,
    ) -> None:
        size = len(interaction.body)
        how = {
            "complete": "",
            "upstream_cut": f", CUT by the upstream ({why})",
            "client_gone": ", the client hung up",
            "stopped": ", the proxy stopped",
        }[ended]
        verdict = "recorded" if self.session.recording else "not recorded"
        if ended != "complete" and self.session.recording:
            verdict = "recorded as incomplete"
        shown = filter_uri(target, self.session.extra_query)
        _say(
            f"#{slot} {interaction.method} {shown} -> {interaction.status}, "
            f"{plural(len(interaction.chunks), 'chunk')}, {plural(size, 'byte')}, "
            f"{time.perf_counter() - started:.2f} s{how}: {verdict}"
        )


def _target(scope: Any) -> str:
    """The request target to append to the upstream: path and query, as received."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    if raw.startswith((b"http://", b"https://")):  # absolute form: used as an HTTP proxy
        raw = b"/" + raw.split(b"/", 3)[3] if raw.count(b"/") >= 3 else b"/"
    query: bytes = scope.get("query_string", b"")
    target = raw.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


def _request_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    pairs = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw]
    listed = {
        token.strip().lower()
        for name, value in pairs
        if name == "connection"
        for token in value.split(",")
    }
    forwarded = [(n, v) for n, v in pairs if n not in _NOT_FORWARDED and n not in listed]
    forwarded.append(("accept-encoding", "identity"))
    return forwarded


def _response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    pairs = list(raw)
    listed = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return [
        (name, value)
        for name, value in pairs
        if name.lower().decode("latin-1") not in _NOT_RETURNED and name.lower() not in listed
    ]


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


async def _read_body(receive: Any) -> bytes | None:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _wait_for_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_error(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": {"type": "harness_record_upstream_error", "message": message}})
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


def _check_upstream(upstream: str) -> str:
    try:
        url = httpx.URL(upstream)
    except httpx.InvalidURL as exc:
        raise UsageError(f"--upstream: not a URL: {upstream!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"--upstream must be an http:// or https:// URL, got {upstream!r}")
    if url.query or url.fragment:
        raise UsageError(f"--upstream must not have a query or fragment, got {upstream!r}")
    return upstream.rstrip("/")


class _LogRedactor(logging.Filter):
    """Masks credentials in httpx's and httpcore's log records.

    httpx logs each request's URL at INFO (a Gemini ``?key=`` included) and httpcore
    each response's headers at DEBUG (an upstream's ``set-cookie`` included). The
    proxy forwards credentials, so a process that turns logging up would print them;
    the query parameters and headers of :mod:`harness.secrets` are masked instead.
    """

    _QUERY = re.compile(
        r"(?i)([?&](?:" + "|".join(map(re.escape, sorted(DEFAULT_QUERY))) + r")=)[^&#\s\"']*"
    )
    _HEADER = re.compile(
        r"(?i)(\(b['\"](?:"
        + "|".join(map(re.escape, sorted(DEFAULT_HEADERS)))
        + r")['\"], b)(?:'[^']*'|\"[^\"]*\")"
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._HEADER.sub(r"\1'***'", self._QUERY.sub(r"\1***", message))
        if masked != message:
            record.msg, record.args = masked, None
        return True


#: The loggers the proxy's httpx client writes to (a filter applies to its own logger
#: only, not to the children that propagate to it).
_CLIENT_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2")


def _redact_client_logs() -> None:
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LogRedactor) for f in logger.filters):
            logger.addFilter(_LogRedactor())


async def _serve_proxy(
    app: _ProxyApp, sock: socket.socket, stop: asyncio.Event, ready: Callable[[], None]
) -> None:
    _redact_client_logs()
    # No read timeout: a provider may think for minutes; the client has its own.
    timeout = httpx.Timeout(None, connect=30.0)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        client.headers = httpx.Headers()  # send what the client sent, no httpx defaults
        app.client = client
        await _serve(app, sock, stop, ready)
    # Closing a connection schedules its socket's release on the next loop turns; let
    # them run before asyncio.run() ends the loop, or the socket is left unclosed.
    for _ in range(3):
        await asyncio.sleep(0)


class RecordingProxy:
    """The recording proxy on its own event loop in a daemon thread.

    >>> with RecordingProxy("https://api.openai.com", "x.yaml") as proxy:  # doctest: +SKIP
    ...     client = openai.OpenAI(base_url=proxy.url + "/v1")
    ...     ...
    >>> proxy.interactions  # doctest: +SKIP

    ``cassette=None`` records in memory only (:attr:`interactions`). The record mode
    is checked by :meth:`start`; the cassette is rewritten after each interaction and
    on :meth:`stop`.
    """

    def __init__(
        self,
        upstream: str,
        cassette: str | Path | None = None,
        *,
        mode: RecordMode = "once",
        host: str = "127.0.0.1",
        port: int = 0,
        filter_headers: Iterable[str] = (),
        filter_query: Iterable[str] = (),
    ) -> None:
        self.upstream = _check_upstream(upstream)
        self.cassette = Path(cassette) if cassette is not None else None
        self._session = _Session(self.cassette, mode, filter_headers, filter_query)
        self._host = host
        self._port = port
        self._background = BackgroundLoop()
        self.url = ""

    @property
    def interactions(self) -> list[Interaction]:
        """The interactions recorded so far, in the order their requests arrived."""
        return self._session.interactions

    def start(self) -> str:
        """Check the cassette, bind, start proxying; returns the URL (connectable).

        Raises:
            CassetteError: the record mode forbids using this cassette.
            UsageError: the address cannot be bound.
        """
        self._session.prepare()
        sock = bind(self._host, self._port)
        self.url = _url(self._host, sock.getsockname()[1])
        app = _ProxyApp(self.upstream, self._session)
        self._background.start(
            lambda stop, ready: _serve_proxy(app, sock, stop, ready), f"harness record {self.url}"
        )
        return self.url

    def stop(self) -> None:
        """Stop proxying (open streams get 1 s), then write the cassette a last time.

        Raises:
            CassetteError: the cassette cannot be written.
        """
        if not self._background.running:
            return
        try:
            self._background.stop()
        finally:
            self._session.save()

    def __enter__(self) -> RecordingProxy:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_record(args: argparse.Namespace) -> int:
    """Run ``harness record`` until SIGINT/SIGTERM; returns the exit code.

    ``args`` carries ``upstream``, ``cassette``, ``host``, ``port``, ``record_mode``,
    ``filter_header`` and ``filter_query``. Exit codes: 0 after a clean stop, 1 when
    the cassette could not be written at the end, 2 for unusable arguments (an
    existing cassette in mode ``once``, a bad upstream URL, an address in use).
    """
    try:
        upstream = _check_upstream(args.upstream)
        cassette = Path(args.cassette)
        session = _Session(cassette, args.record_mode, args.filter_header, args.filter_query)
        session.prepare()
        sock = bind(args.host, args.port)
    except UsageError as exc:
        print(f"harness record: {exc}", file=sys.stderr)
        return 2
    url = _url(args.host, sock.getsockname()[1])
    app = _ProxyApp(upstream, session)

    def ready() -> None:
        where = (
            f"recording to {cassette} (record mode {session.mode})"
            if session.recording
            else "not recording (record mode none)"
        )
        print(f"harness record: proxying {url} -> {upstream}, {where}", flush=True)
        print("  Point your SDK's base_url at the proxy; Ctrl-C stops it.", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await _serve_proxy(app, sock, stop, ready)

    asyncio.run(main())
    return _final_save(session)


def _final_save(session: _Session) -> int:
    """Write the cassette a last time and say what was recorded; the exit code."""
    try:
        session.save()
    except CassetteError as exc:
        print(f"harness record: {exc}", file=sys.stderr)
        return 1
    if session.recording:
        count = len(session.interactions)
        print(
            f"harness record: stopped; {count} interaction{'s' if count != 1 else ''} "
            f"recorded to {session.cassette}",
            file=sys.stderr,
        )
    else:
        print("harness record: stopped", file=sys.stderr)
    return 0
