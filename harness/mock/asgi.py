"""The ASGI layer around the Quart app: path prefixes, planned cuts, counters, the log.

An ASGI app that returns without finishing its response makes Hypercorn close the
connection without the terminating chunk: exactly an abrupt disconnect, which is how
a plan that cuts the stream (:class:`Abort`) is carried out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from harness._text import plural
from harness.mock.journal import Entry
from harness.mock.state import MockState

__all__ = ["Abort", "ClientGone", "PrefixAndAbort"]


class ClientGone(ConnectionResetError):
    """A write to the client failed: it hung up. Raised into the app's ``send``.

    Hypercorn (0.16 to 0.18) swallows a failed write and lets the app go on sending into
    the dead transport, where asyncio drops each write and logs ``socket.send() raised
    exception.``; the app learns of the hang-up only when its receive task next runs,
    which a stream written without pauses never lets happen, so such a stream was
    journaled as completed with every byte. Raising at the first failed write stops the
    stream there: the journal says ``client_disconnected`` with the bytes handed over.
    """


class Abort(Exception):
    """Raised at the end of a plan that cuts the connection (caught by the ASGI layer)."""


class PrefixAndAbort:
    """Strips ``/t/{test_id}/``, ``/f/{faults}/`` and ``/s/{scenario}/``, turns
    :class:`Abort` into a cut, counts requests and streams, and writes the request log.

    ``roots`` are the first path segments of the served routes (``v1``, ``v1beta``...):
    an unknown scenario name in ``/s/{name}/`` ends before the first of them.
    """

    def __init__(self, app: Any, state: MockState, roots: frozenset[str]) -> None:
        self.app = app
        self.state = state
        self.roots = roots

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._call(scope, receive, send)
            return
        stats = self.state.stats
        on_request = self.state.options.on_request
        head: dict[str, Any] = {}
        # The app hands a stream's body over here (``out["body"]``, the scope's
        # ``harness.out``) to be written straight to the server; for the request log it
        # puts the journal entry here too.
        out: dict[str, Any] = {}
        send = _counting(send, head, out, self.state)
        stats.open_requests += 1
        outcome = "error"
        started = time.monotonic()
        scope = {**scope, "harness.out": out}
        try:
            gone = await self._call(scope, receive, send)
            outcome = "client_gone" if gone else "completed" if head.get("ended") else "cut"
        except asyncio.CancelledError:
            outcome = "client_gone"
            raise
        except BaseException:
            if not head:
                stats.count(stats.by_status, "5xx")
            raise
        finally:
            stats.open_requests -= 1
            if head.get("stream"):
                stats.open_streams -= 1
                stats.count(stats.streams, outcome)
            if on_request is not None:
                on_request(_log_line(scope, head, out.get("entry"), started))

    async def _call(self, scope: Any, receive: Any, send: Any) -> bool:
        """Run the app; ``True`` when the client hung up while it was answered."""
        if scope["type"] == "http" and scope["path"].startswith(("/t/", "/f/", "/s/")):
            scope = dict(scope)
            path = _prefixes(scope)
            if path.startswith("/s/"):
                name, path = self._split(path[3:])
                scope["harness.scenario"] = name
            scope["path"] = path
            scope["raw_path"] = path.encode()
        try:
            await self.app(scope, receive, send)
        except Abort:
            pass
        except ClientGone:
            return True
        except BaseExceptionGroup as group:  # quart may wrap task errors
            rest_group = group.subgroup(lambda exc: not isinstance(exc, Abort | ClientGone))
            if rest_group is not None:
                raise rest_group from None
            return group.subgroup(ClientGone) is not None
        return False

    def _split(self, tail: str) -> tuple[str, str]:
        """``name/rest...`` into the scenario name (the longest run of segments that
        names a loaded scenario; it is looked up, never used as a path) and the path."""
        segments = tail.split("/")
        scenarios = self.state.scenarios
        for cut in range(len(segments), 0, -1):
            name = "/".join(segments[:cut])
            if scenarios.get(name) is not None:
                return name, "/" + "/".join(segments[cut:])
        # Unknown name: it ends before the API version segment (or is the first one).
        for cut, segment in enumerate(segments):
            if segment in self.roots and cut > 0:
                return "/".join(segments[:cut]), "/" + "/".join(segments[cut:])
        return segments[0], "/" + "/".join(segments[1:])


def _prefixes(scope: dict[str, Any]) -> str:
    """Take ``/t/{test id}/`` and ``/f/{faults}/`` off the path, into ``scope``; the rest.

    Read from the path as sent (``raw_path``), each segment then percent-decoded, so an
    overlay may hold an encoded ``/`` (``error_message=a%2Fb``) without being cut there.
    """
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else quote(scope["path"])
    for prefix, key in (("/t/", "harness.test_id"), ("/f/", "harness.faults")):
        # /t/: per-test isolation through the base URL, for clients that cannot send
        # the x-harness-test-id header; /f/: a fault overlay as x-harness-faults takes
        # it, for clients that cannot send headers.
        if text.startswith(prefix):
            value, _, rest = text[3:].partition("/")
            scope[key] = unquote(value)
            text = "/" + rest
    return unquote(text)


def _counting(
    send: Any, head: dict[str, Any], out: dict[str, Any], state: MockState
) -> Callable[[Any], Any]:
    """``send``, noting the status and whether the answer is a stream, and its end.

    A stream's body is not iterated by Quart: the app leaves it in ``out["body"]`` (an
    object whose ``send_to(send)`` writes it) and answers with an empty one, and when
    Quart sends that empty body's end, the stream is written here first, each write
    straight to the server as one body message. One layer less per write than Quart's
    response iteration, which is what a replay spends its time in
    (``bench/serve.py``)."""
    stats = state.stats

    async def counting_send(message: Any) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            body = out.pop("body", None)
            if body is not None:
                await body.send_to(send)
            head["ended"] = True
        elif message["type"] == "http.response.start" and not head:
            head["status"] = status = int(message["status"])
            stats.count(stats.by_status, f"{status // 100}xx")
            stream = any(
                name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                for name, value in message.get("headers", ())
            )
            if stream:
                head["stream"] = True
                stats.open_streams += 1
        await send(message)

    return counting_send


def _log_line(scope: Any, head: dict[str, Any], entry: Entry | None, started: float) -> str:
    """One line of ``harness serve --log-requests``: no query string, header or body, so
    no secret (an API key may travel as ``?key=``)."""
    path = str(scope.get("raw_path", b"").decode("latin-1") or scope.get("path", ""))
    method = scope.get("method", "?")
    status = head.get("status", "-")
    millis = (time.monotonic() - started) * 1000
    if entry is None:  # admin endpoints, CORS preflights: not journaled
        return f"{method} {path} {status} {millis:.0f} ms"
    described = entry.faults.describe() if entry.faults is not None else ""
    faults = f" faults={described}" if described else ""
    return (
        f"{method} {entry.path} scenario={entry.scenario or '-'} {status} "
        f"{entry.outcome} {plural(entry.bytes_sent, 'byte')} {millis:.0f} ms{faults}"
    )
