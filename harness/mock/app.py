"""The mock provider: a Quart app that answers each provider's API from scenarios.

:func:`create_app` builds the app from a :class:`~harness.mock.scenario.ScenarioSet`; it
keeps no module globals, so several apps (one per test, say) live side by side.
:mod:`harness.mock.serve` runs it on Hypercorn.

Request handling, in order:

1. The scenario prefix: ``/s/{scenario}/`` in front of any route selects a scenario,
   so an unmodified SDK selects one through its ``base_url``. An ASGI layer strips the
   prefix before routing (the name is the longest run of path segments that names a
   loaded scenario; it is looked up, never used as a path).
2. The route decides the output family: ``/v1/chat/completions`` OpenAI,
   ``/v1/messages`` Anthropic, ``/v1beta/models/{model}:streamGenerateContent`` and
   ``:generateContent`` Gemini.
3. The body must be a JSON object of at most ``max_body`` bytes; anything else gets
   the family's own error shape (400, 413, 415), never a traceback.
4. Scenario selection, first that applies: the prefix, the ``x-harness-scenario``
   header, the ``match`` rules of the scenarios the route can serve (load order).
   Nothing: a provider-shaped 404 naming the closest scenarios.
5. The answer: for a scenario with ``responses``, the next one in the sequence of
   this test id (the last repeats). Faults: the scenario's, overridden field by field
   by the ``x-harness-faults`` header. Speed: the app's, or ``x-harness-speed``.
6. :func:`harness.mock.replay.build_plan` decides every byte; this module only sleeps and
   writes, one write per plan element, flushed as its own chunk.

Every request is journaled under its ``x-harness-test-id`` (see :class:`Journal`),
with secrets masked. A client that hangs up mid-stream cancels the writer task:
nothing is left running and the journal records ``client_disconnected``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hmac
import json
import os
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, Request, request
from quart.wrappers import Response as QuartResponse
from werkzeug.exceptions import HTTPException

from harness import _json
from harness._text import plural
from harness.errors import FaultSpecError, ScenarioError, ScenarioSetError
from harness.mock.replay import Plan, ReplayError, build_plan, parse_faults
from harness.mock.scenario import Faults, Scenario, ScenarioSet
from harness.secrets import DEFAULT_HEADERS, DEFAULT_QUERY
from harness.stream.provider_errors import Family, error_body

__all__ = ["DEFAULT_MAX_BODY", "HEADER_PREFIX", "Journal", "create_app", "unserved_match_paths"]

#: The largest request body accepted (bytes); larger gets the provider's 413.
DEFAULT_MAX_BODY = 10 * 1024 * 1024
#: Seconds a request body may take to arrive in full (Quart's ``BODY_TIMEOUT``);
#: a slower one gets the provider's 408 and the connection is closed.
DEFAULT_BODY_TIMEOUT = 60.0
#: Journal entries kept per test id (``harness serve --journal-max``).
DEFAULT_JOURNAL_MAX = 10_000

#: Control headers harness reads (all optional).
HEADER_PREFIX = "x-harness-"
SCENARIO_HEADER = "x-harness-scenario"
FAULTS_HEADER = "x-harness-faults"
SPEED_HEADER = "x-harness-speed"
NORMALIZE_HEADER = "x-harness-normalize"
TEST_ID_HEADER = "x-harness-test-id"
ADMIN_TOKEN_HEADER = "x-harness-admin-token"

#: Headers whose values are secrets: the journal masks them (the recorder's list).
SECRET_HEADERS = DEFAULT_HEADERS

Sleep = Callable[[float], Awaitable[Any]]

#: The API versions in a Gemini path, and the actions of its model route.
GEMINI_VERSIONS = ("v1", "v1beta", "v1alpha")
GEMINI_ACTIONS = ("generateContent", "streamGenerateContent")


class ClientGone(ConnectionResetError):
    """A write to the client failed: it hung up. Raised into the app's ``send``.

    Hypercorn (0.16 to 0.18) swallows a failed write and lets the app go on sending into
    the dead transport, where asyncio drops each write and logs ``socket.send() raised
    exception.``; the app learns of the hang-up only when its receive task next runs,
    which a stream written without pauses never lets happen, so such a stream was
    journaled as completed with every byte. Raising at the first failed write stops the
    stream there: the journal says ``client_disconnected`` with the bytes handed over.
    """


class _Abort(Exception):
    """Raised at the end of a plan that cuts the connection (caught by the ASGI layer)."""


@dataclass
class Journal:
    """What each client sent and how each answer ended, per test id.

    Entries and ``responses`` sequence positions are kept per test id (the
    ``x-harness-test-id`` header, ``""`` without one), so parallel test workers
    sharing one server never see each other's requests or advance each other's
    sequences.

    Bounded for servers that run for days: each test id keeps its last
    ``max_entries`` entries, and at most ``max_test_ids`` test ids are kept; past
    that, the test id that has been quiet the longest is forgotten whole (entries
    and sequence positions), as a ``reset`` of that id would. The pytest plugin uses
    one id per test, so only ids of tests long finished are ever dropped.
    """

    entries: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    #: Entries kept per test id; the oldest go first (a long load test stays bounded).
    max_entries: int = DEFAULT_JOURNAL_MAX
    #: Test ids kept; the least recently active one goes first.
    max_test_ids: int = 10_000
    positions: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Test ids by last activity, oldest first (a dict keeps insertion order).
    _active: dict[str, None] = field(default_factory=dict, repr=False)

    def add(self, test_id: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Record ``entry`` under ``test_id`` and return it (it is updated in place)."""
        self._touch(test_id)
        group = self.entries.get(test_id)
        if group is None:
            group = self.entries[test_id] = deque(maxlen=self.max_entries)
        group.append(entry)
        return entry

    def next_answer(self, test_id: str, scenario: Scenario) -> int:
        """The index of the answer this test id gets next from ``scenario``."""
        position = self.positions.get((test_id, scenario.name), 0)
        return min(position, len(scenario.answers) - 1)

    def advance(self, test_id: str, scenario: Scenario) -> None:
        """Move this test id on to the next answer (only once a request was answered)."""
        self._touch(test_id)
        key = (test_id, scenario.name)
        self.positions[key] = self.positions.get(key, 0) + 1

    def reset(self, test_id: str | None) -> None:
        """Forget one test id's entries and sequences (all of them for ``None``)."""
        if test_id is None:
            self.entries.clear()
            self.positions.clear()
            self._active.clear()
            return
        self.entries.pop(test_id, None)
        self._active.pop(test_id, None)
        for key in [key for key in self.positions if key[0] == test_id]:
            del self.positions[key]

    def _touch(self, test_id: str) -> None:
        self._active.pop(test_id, None)
        self._active[test_id] = None
        while len(self._active) > self.max_test_ids:
            self.reset(next(iter(self._active)))


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, secret values masked (the scheme of a credential kept)."""
    out = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in SECRET_HEADERS:
            scheme, sep, _ = value.partition(" ")
            value = f"{scheme} ***" if sep and scheme.lower() in ("bearer", "basic") else "***"
        out[lowered] = value
    return out


def _mask_query(query: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in DEFAULT_QUERY else v) for k, v in query.items()}


def _family_of(path: str) -> Family:
    """The API family a path belongs to, for error shapes."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if (
        path.startswith(("/v1beta/", "/v1alpha/"))
        or ":generateContent" in path
        or (":streamGenerateContent" in path)
    ):
        return "gemini"
    return "openai"


#: Answers given before the request body was read in full (too large, too slow): the
#: rest of it is never read, so the connection cannot carry another request.
_UNREAD_BODY = frozenset({408, 413})


def _error(family: Family, status: int, message: str, **headers: str) -> QuartResponse:
    body = json.dumps(error_body(family, status, message), separators=(",", ":"))
    response = QuartResponse(body, status=status, content_type="application/json")
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    if status in _UNREAD_BODY:
        response.headers["connection"] = "close"
    return response


@dataclass
class _Stats:
    """What ``GET /_harness/stats`` reports besides the task count and memory.

    Counted in the ASGI layer, around everything the app does, so a request that ends
    in a crash, a cut or a client hanging up is counted as surely as a clean one.
    """

    open_requests: int = 0
    open_streams: int = 0
    #: Answers by status class ("2xx", "4xx", ...), counted when their head is sent;
    #: an app error before any head counts as "5xx" (Hypercorn answers 500 for it).
    by_status: dict[str, int] = field(default_factory=dict)
    #: How streams ended: "completed", "cut" (a planned disconnect), "client_gone"
    #: (cancelled: the client hung up), "error".
    streams: dict[str, int] = field(default_factory=dict)

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


def _rss_bytes() -> int | None:
    """This process's resident memory in bytes (Linux ``/proc``), ``None`` elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


class _PrefixAndAbort:
    """ASGI layer: strips ``/s/{scenario}/``, turns :class:`_Abort` into a cut, counts.

    An ASGI app that returns without finishing its response makes Hypercorn close
    the connection without the terminating chunk: exactly an abrupt disconnect.
    """

    def __init__(
        self, app: Any, scenarios: ScenarioSet, on_request: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.scenarios = scenarios
        self.stats = _Stats()
        self.on_request = on_request

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._call(scope, receive, send)
            return
        stats = self.stats
        head: dict[str, Any] = {}

        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start" and not head:
                head["status"] = status = int(message["status"])
                stats.count(stats.by_status, f"{status // 100}xx")
                stream = any(
                    name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                    for name, value in message.get("headers", ())
                )
                if stream:
                    head["stream"] = True
                    stats.open_streams += 1
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                head["ended"] = True
            await send(message)

        stats.open_requests += 1
        outcome = "error"
        started = time.monotonic()
        # For the request log, the app puts the request's journal entry here (the scope
        # copies made below share it); without a log, the scope is left as it is.
        holder: dict[str, dict[str, Any]] = {}
        if self.on_request is not None:
            scope = {**scope, "harness.entry": holder}
        try:
            gone = await self._call(scope, receive, counting_send)
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
            if self.on_request is not None:
                self.on_request(_log_line(scope, head, holder.get("entry"), started))

    async def _call(self, scope: Any, receive: Any, send: Any) -> bool:
        """Run the app; ``True`` when the client hung up while it was answered."""
        if scope["type"] == "http" and scope["path"].startswith(("/t/", "/s/")):
            scope = dict(scope)
            path = scope["path"]
            if path.startswith("/t/"):
                # /t/{test id}/ : per-test isolation through the base URL, for clients
                # that cannot send the x-harness-test-id header.
                test_id, _, rest = path[3:].partition("/")
                scope["harness.test_id"] = test_id
                path = "/" + rest
            if path.startswith("/s/"):
                name, path = self._split(path[3:])
                scope["harness.mock.scenario"] = name
            scope["path"] = path
            scope["raw_path"] = path.encode()
        try:
            await self.app(scope, receive, send)
        except _Abort:
            pass
        except ClientGone:
            return True
        except BaseExceptionGroup as group:  # quart may wrap task errors
            rest_group = group.subgroup(lambda exc: not isinstance(exc, _Abort | ClientGone))
            if rest_group is not None:
                raise rest_group from None
            return group.subgroup(ClientGone) is not None
        return False

    def _split(self, tail: str) -> tuple[str, str]:
        segments = tail.split("/")
        for cut in range(len(segments), 0, -1):
            name = "/".join(segments[:cut])
            if self.scenarios.get(name) is not None:
                return name, "/" + "/".join(segments[cut:])
        # Unknown name: it ends before the API version segment (or is the first one).
        for cut, segment in enumerate(segments):
            if segment in GEMINI_VERSIONS and cut > 0:
                return "/".join(segments[:cut]), "/" + "/".join(segments[cut:])
        return segments[0], "/" + "/".join(segments[1:])


def create_app(
    scenarios: ScenarioSet,
    *,
    speed: float = 0.0,
    sleep: Sleep = asyncio.sleep,
    max_body: int = DEFAULT_MAX_BODY,
    journal: Journal | None = None,
    admin_token: str | None = None,
    reload: Callable[[], ScenarioSet] | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    list_command: str = "harness list",
    on_request: Callable[[str], None] | None = None,
) -> Quart:
    """Build the mock provider app.

    Args:
        scenarios: what it can replay.
        speed: pause factor: 1 replays recorded timing, 0 sends without pauses (a
            fault's stall is kept whatever the speed); ``x-harness-speed`` overrides
            it per request.
        sleep: the coroutine used to pause (tests inject a recorder).
        max_body: the largest request body accepted, in bytes.
        journal: where requests are recorded (a new one by default); also
            available as ``app.config["HARNESS_JOURNAL"]``.
        admin_token: when set, the journal and scenario listing (``/_harness/*``
            but health) answer only requests carrying it as
            ``x-harness-admin-token`` or ``authorization: Bearer`` (for a server
            reachable from other machines).
        reload: loads the scenarios again (from the folder they came from) for
            ``POST /_harness/reload``; without it that endpoint answers 409.
        body_timeout: seconds a request body may take to arrive (then a 408).
        list_command: the command that lists these scenarios, named in 404 hints
            (``harness list --scenarios DIR`` for a folder).
        on_request: called with one line per request once it has ended (method, path
            with secrets masked, scenario, status, how it ended, bytes, duration):
            ``harness serve --log-requests``.
    """
    app = Quart("harness")
    # A doubled slash is not redirected (an HTML 308 no SDK follows on a POST): the path
    # is routed as sent, so it gets the provider-shaped 404 (or names a model as sent).
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = max_body
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = body_timeout
    journal = journal or Journal()
    plans = _PlanCache()
    app.config["HARNESS_JOURNAL"] = journal
    app.config["HARNESS_SCENARIOS"] = scenarios
    outer = _PrefixAndAbort(app.asgi_app, scenarios, on_request)
    app.asgi_app = outer  # type: ignore[method-assign]

    @app.before_request
    async def admin_only() -> QuartResponse | None:
        if admin_token is None or not request.path.startswith("/_harness/"):
            return None
        if request.path == "/_harness/health":
            return None
        given = request.headers.get(ADMIN_TOKEN_HEADER) or request.headers.get(
            "authorization", ""
        ).removeprefix("Bearer ")
        if hmac.compare_digest(given.encode(), admin_token.encode()):
            return None
        return _error("openai", 401, "The admin endpoints need the admin token.")

    @app.after_request
    async def cors(response: QuartResponse) -> QuartResponse:
        # Browser clients (fetch streaming, the SDKs' browser builds) may call a mock
        # provider from any origin; CORS preflights get an answer instead of a 405.
        response.headers.setdefault("access-control-allow-origin", "*")
        if request.method == "OPTIONS":
            wanted = request.headers.get("access-control-request-headers", "*")
            response.headers["access-control-allow-methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["access-control-allow-headers"] = wanted
            response.headers["access-control-max-age"] = "600"
        return response

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> QuartResponse:
        status = exc.code or 500
        if status not in _UNREAD_BODY:
            await _drain(request)
        family = _family_of(request.path)
        if status == 404:
            return unserved(404, f"Unknown route {request.method} {request.path}. " + _ROUTES_HINT)
        if status == 405:
            return unserved(405, f"Method {request.method} is not allowed on {request.path}.")
        if status == 413:
            message = f"Request body too large: the limit is {max_body} bytes."
        else:
            message = exc.description or f"HTTP {status}"
        return _error(family, status, message)

    @app.errorhandler(Exception)
    async def crash(exc: Exception) -> QuartResponse:  # never a traceback to the client
        app.logger.exception("harness: internal error on %s %s", request.method, request.path)
        family = _family_of(request.path)
        return _error(family, 500, f"harness internal error: {type(exc).__name__}: {exc}")

    def journaled() -> dict[str, Any]:
        """A new journal entry for this request (also handed to the request log)."""
        entry = journal.add(
            _test_id(request),
            {
                "time": time.time(),
                "method": request.method,
                "path": request.path,
                "query": _mask_query(request.args.to_dict()),
                "headers": mask_headers(dict(request.headers.items())),
                "scenario": None,
                "answer": None,
                "body": None,
                "status": None,
                "outcome": "pending",
                "faults": "",
                "bytes_sent": 0,
            },
        )
        holder: dict[str, Any] | None = request.scope.get("harness.entry")  # type: ignore[assignment]
        if holder is not None:
            holder["entry"] = entry
        return entry

    def unserved(status: int, message: str) -> QuartResponse:
        """A request to no route harness serves (404, 405): journaled, so a user can see
        which path their client used; answered in the family's error shape."""
        entry = journaled()
        entry.update(status=status, outcome="rejected", error=message)
        return _error(_family_of(request.path), status, message)

    async def answer(family: Family, model: str | None, stream_from_route: bool | None) -> Any:
        test_id = _test_id(request)
        entry = journaled()

        def fail(status: int, message: str, **headers: str) -> QuartResponse:
            entry.update(status=status, outcome="rejected", error=message)
            return _error(family, status, message, **headers)

        body, problem = await _read_json(request)
        entry["body"] = body if problem is None else None
        if problem is not None:
            return fail(*problem)
        assert isinstance(body, dict)
        model = model or (body.get("model") if isinstance(body.get("model"), str) else None)
        stream = stream_from_route if stream_from_route is not None else body.get("stream") is True

        scenario, why = _select(scenarios, family, model, stream, body, request, list_command)
        if scenario is None:
            return fail(404, why)
        entry["scenario"] = scenario.name
        index = journal.next_answer(test_id, scenario)
        entry["answer"] = index
        answer_ = scenario.answers[index]
        try:
            overlay = request.headers.get(FAULTS_HEADER)
            faults = (answer_.faults or Faults()).merged(parse_faults(overlay) if overlay else None)
            pace = _speed(request.headers.get(SPEED_HEADER), speed)
            normalize = request.headers.get(NORMALIZE_HEADER, "").lower() in ("1", "true", "yes")
            plan = plans.get(scenario, index, family, stream, normalize, faults, model)
        except (ReplayError, FaultSpecError) as exc:
            return fail(400, str(exc))
        # A rejected request does not use up a step of a responses: sequence.
        journal.advance(test_id, scenario)
        entry.update(status=plan.status, faults=plan.faults)
        return await _respond(plan, pace, sleep, entry)

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Any:
        return await answer("openai", None, None)

    @app.post("/v1/messages")
    async def messages() -> Any:
        return await answer("anthropic", None, None)

    @app.post("/<version>/models/<path:target>")
    async def gemini(version: str, target: str) -> Any:
        model, _, action = target.rpartition(":")
        if version not in GEMINI_VERSIONS or action not in GEMINI_ACTIONS:
            await _drain(request)
            return unserved(404, f"Unknown route POST {request.path}. " + _ROUTES_HINT)
        return await answer("gemini", model or None, action == "streamGenerateContent")

    @app.get("/v1/models")
    async def models() -> Any:
        names = sorted({m for s in scenarios for m in _models_of(s)})
        if "anthropic-version" in request.headers:
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in names
            ]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            return {"data": data, "has_more": False, "first_id": first, "last_id": last}
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "harness"} for m in names
            ],
        }

    @app.get("/_harness/health")
    async def health() -> Any:
        return {"status": "ok", "scenarios": len(scenarios)}

    @app.get("/_harness/scenarios")
    async def list_scenarios() -> Any:
        return {
            "scenarios": [
                {
                    "name": s.name,
                    "provider": s.provider,
                    "description": s.description,
                    "answers": len(s.answers),
                    "expect": s.expect.model_dump(exclude_none=True) if s.expect else None,
                }
                for s in scenarios
            ]
        }

    @app.get("/_harness/requests")
    async def requests_() -> Any:
        if request.args.get("all") in ("1", "true"):
            entries = [e for group in journal.entries.values() for e in group]
            entries.sort(key=lambda e: e["time"])
        else:
            entries = list(journal.entries.get(_test_id(request), ()))
        return {"requests": entries}

    @app.delete("/_harness/requests")
    async def reset() -> Any:
        everything = request.args.get("all") in ("1", "true")
        journal.reset(None if everything else _test_id(request))
        return {"reset": "all" if everything else _test_id(request)}

    @app.get("/_harness/stats")
    async def stats() -> Any:
        counts = outer.stats
        detail: dict[str, Any] = {}
        if request.args.get("tasks") in ("1", "true"):
            # What the tasks are running (by coroutine), to tell a leak from a busy server.
            names = Counter(_task_name(task) for task in asyncio.all_tasks())
            detail["task_names"] = dict(names.most_common())
        return {
            **detail,
            # Every task on the server's loop: one per open connection and per stream
            # being written, plus the server's own; back to its idle level once
            # clients are gone (a soak test checks nothing is left behind).
            "tasks": len(asyncio.all_tasks()),
            "open_requests": counts.open_requests - 1,  # not counting this one
            "open_streams": counts.open_streams,
            "requests": dict(sorted(counts.by_status.items())),
            "streams": dict(sorted(counts.streams.items())),
            "rss_bytes": _rss_bytes(),
            "scenarios": len(scenarios),
            "plans_cached": len(plans),
            "journal_entries": sum(len(group) for group in journal.entries.values()),
        }

    reloading = asyncio.Lock()

    @app.post("/_harness/reload")
    async def reload_scenarios() -> Any:
        nonlocal scenarios
        await _drain(request)
        if reload is None:
            return _admin_error(
                409,
                "not_reloadable",
                "These scenarios were not loaded from a folder, so there is nothing to "
                "reload from: start the server from a folder (harness serve --scenarios "
                "DIR, run_server(DIR)) to use POST /_harness/reload.",
            )
        async with reloading:
            try:
                # Reading and validating the files happens off the loop: the streams
                # in progress keep being written meanwhile.
                fresh = await asyncio.to_thread(reload)
            except ScenarioError as exc:
                problems = exc.errors if isinstance(exc, ScenarioSetError) else (exc,)
                return _admin_error(
                    400,
                    "scenario_error",
                    f"Reload failed; still serving the {plural(len(scenarios), 'scenario')} loaded "
                    f"before. {exc}",
                    errors=[str(problem) for problem in problems],
                )
            old = len(scenarios)
            # The swap is one assignment on the loop: a request sees the old set or the
            # new one, never a mix; a stream in progress keeps the plan it started with.
            # Plans are cached by scenario object, so the cache goes too.
            scenarios = fresh
            outer.scenarios = fresh
            app.config["HARNESS_SCENARIOS"] = fresh
            plans.clear()
        return {"reloaded": len(fresh), "before": old, "scenarios": fresh.names}

    return app


def _log_line(
    scope: Mapping[str, Any], head: Mapping[str, Any], entry: dict[str, Any] | None, started: float
) -> str:
    """One line of ``harness serve --log-requests``: no query string, header or body, so
    no secret (an API key may travel as ``?key=``)."""
    path = str(scope.get("raw_path", b"").decode("latin-1") or scope.get("path", ""))
    method = scope.get("method", "?")
    status = head.get("status", "-")
    millis = (time.monotonic() - started) * 1000
    if entry is None:  # admin endpoints, CORS preflights: not journaled
        return f"{method} {path} {status} {millis:.0f} ms"
    faults = f" faults={entry['faults']}" if entry["faults"] else ""
    return (
        f"{method} {entry['path']} scenario={entry['scenario'] or '-'} {status} "
        f"{entry['outcome']} {plural(entry['bytes_sent'], 'byte')} {millis:.0f} ms{faults}"
    )


def _task_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return str(getattr(coro, "__qualname__", None) or type(coro).__name__)


def _admin_error(status: int, kind: str, message: str, **extra: Any) -> QuartResponse:
    body = json.dumps({"error": {"type": kind, "message": message, **extra}})
    return QuartResponse(body, status=status, content_type="application/json")


def _served(path: str) -> bool:
    """Whether a request to ``path`` reaches a route that answers from scenarios."""
    if path in ("/v1/chat/completions", "/v1/messages"):
        return True
    # As the Gemini route reads it: /<version>/models/<target>, target = model:action.
    version, _, target = path.removeprefix("/").partition("/models/")
    action = target.rpartition(":")[2]
    return version in GEMINI_VERSIONS and action in GEMINI_ACTIONS


def unserved_match_paths(scenarios: ScenarioSet) -> list[str]:
    """A warning for each scenario whose ``match.path`` no served route can ever have:
    such a scenario is only reachable by name, which is rarely what its author meant.

    A literal path is checked as a request would be routed; a glob against a request to
    each route (Gemini's with the scenario's ``match.model``, or any model name).
    """
    out = []
    for scenario in scenarios:
        match = scenario.match
        if match is None or match.path is None:
            continue
        pattern = match.path
        if any(c in pattern for c in "*?["):
            model = match.model or "gemini-model"
            routes = ["/v1/chat/completions", "/v1/messages"] + [
                f"/{version}/models/{model}:{action}"
                for version in GEMINI_VERSIONS
                for action in GEMINI_ACTIONS
            ]
            reachable = any(fnmatch.fnmatchcase(route, pattern) for route in routes)
        else:
            reachable = _served(pattern)
        if not reachable:
            where = f" ({scenario.path})" if scenario.path is not None else ""
            out.append(
                f"scenario {scenario.name}{where}: match.path {pattern!r} is no route harness "
                "serves, so no request can match it: " + _ROUTES_HINT
            )
    return out


_ROUTES_HINT = (
    "harness serves POST /v1/chat/completions, POST /v1/messages, "
    "POST /v1beta/models/{model}:streamGenerateContent and :generateContent, GET /v1/models."
)


class _PlanCache:
    """The last plans built, by everything that decides their bytes.

    A plan is frozen and deterministic (faults are seeded), so requests that ask for
    the same replay share one; building it is most of the per-request cost
    (``bench/serve.py``). Bounded by count and by the bytes the plans hold.
    """

    def __init__(self, max_plans: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._plans: OrderedDict[tuple[Any, ...], tuple[Plan, int]] = OrderedDict()
        self._bytes = 0
        self._max_plans = max_plans
        self._max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self._plans)

    def clear(self) -> None:
        """Forget every plan (the scenarios they were built from were replaced)."""
        self._plans.clear()
        self._bytes = 0

    def get(
        self,
        scenario: Scenario,
        index: int,
        family: Family,
        stream: bool,
        normalize: bool,
        faults: Faults,
        model: str | None,
    ) -> Plan:
        key = (id(scenario), index, family, stream, normalize, faults.model_dump_json(), model)
        hit = self._plans.get(key)
        if hit is not None:
            self._plans.move_to_end(key)
            return hit[0]
        plan = build_plan(
            scenario,
            scenario.answers[index],
            target=family,
            stream=stream,
            normalize=normalize,
            faults=faults,
            options={"model": model},
        )
        size = sum(len(write.data) for write in plan.writes)
        self._plans[key] = (plan, size)
        self._bytes += size
        while self._plans and (len(self._plans) > self._max_plans or self._bytes > self._max_bytes):
            _, (_, dropped) = self._plans.popitem(last=False)
            self._bytes -= dropped
        return plan


def _test_id(req: Request) -> str:
    """The caller's test id: the ``/t/{id}/`` prefix, the header, or ``?test_id=``."""
    return str(
        req.scope.get("harness.test_id")
        or req.headers.get(TEST_ID_HEADER)
        or req.args.get("test_id", "")
    )


def _models_of(scenario: Scenario) -> list[str]:
    if (
        scenario.match is not None
        and scenario.match.model
        and not any(c in scenario.match.model for c in "*?[")
    ):
        return [scenario.match.model]
    return []


def _speed(header: str | None, default: float) -> float:
    if header is None:
        return default
    try:
        value = float(header)
    except ValueError:
        raise FaultSpecError(f"{SPEED_HEADER} must be a number >= 0, got {header!r}") from None
    if not value >= 0 or value == float("inf"):
        raise FaultSpecError(f"{SPEED_HEADER} must be a finite number >= 0, got {header!r}")
    return value


async def _drain(req: Request) -> None:
    """Read (and drop) the request body before answering early.

    Answering before the body is read makes the server close a keep-alive connection
    without saying so, and a client that reuses it fails on its next request.
    """
    with contextlib.suppress(HTTPException):  # too large: the connection closes anyway
        await req.get_data(as_text=False)


def _shown(value: str, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters: names from requests are echoed in
    error messages, and a request may carry a megabyte-long one."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...' ({len(value):,} chars)"


async def _read_json(req: Request) -> tuple[Any, tuple[int, str] | None]:
    content_type = req.headers.get("content-type", "")
    if content_type and "json" not in content_type.split(";")[0].lower():
        await _drain(req)
        return None, (415, f"Content-Type must be application/json, got {content_type!r}.")
    try:
        raw = await req.get_data(as_text=False)
    except HTTPException as exc:
        if exc.code == 413:
            limit = req.max_content_length
            return None, (413, f"Request body too large: the limit is {limit} bytes.")
        if exc.code == 408:  # Quart's BODY_TIMEOUT: a client dribbling its body
            return None, (408, f"The request body did not arrive within {req.body_timeout} s.")
        raise
    if not raw:
        return None, (400, "The request body is empty: expected a JSON object.")
    try:
        # Strict: NaN and Infinity are not JSON; the providers refuse them, and the
        # journal must stay JSON that any client can read.
        body = _json.loads(raw, strict=True)
    except UnicodeDecodeError:
        return None, (400, "The request body is not valid UTF-8 JSON.")
    except json.JSONDecodeError as exc:
        return None, (
            400,
            f"The request body is not valid JSON: {exc.msg} "
            f"at line {exc.lineno} column {exc.colno}.",
        )
    except ValueError as exc:  # NaN, Infinity, 4300+ digits, nested too deeply
        return None, (400, f"The request body is not valid JSON: {str(exc).split(';')[0]}.")
    if not isinstance(body, dict):
        return None, (400, f"The request body must be a JSON object, got {type(body).__name__}.")
    return body, None


def _select(
    scenarios: ScenarioSet,
    family: Family,
    model: str | None,
    stream: bool,
    body: Any,
    req: Request,
    list_command: str = "harness list",
) -> tuple[Scenario | None, str]:
    name = str(req.scope.get("harness.mock.scenario") or req.headers.get(SCENARIO_HEADER) or "")
    if name:
        scenario = scenarios.get(name)
        if scenario is not None:
            return scenario, ""
        close = scenarios.closest(name)
        hint = f" Closest: {', '.join(close)}." if close else ""
        return None, f"No scenario named {_shown(name)}.{hint} `{list_command}` shows them all."
    for scenario in scenarios:
        if scenario.match is None:
            continue
        if scenario.provider != family and family != "openai":
            continue
        if scenario.match.matches(
            path=req.path, model=model, stream=stream, body=body, headers=dict(req.headers.items())
        ):
            return scenario, ""
    servable = [s.name for s in scenarios if s.provider == family or family == "openai"]
    close = scenarios.closest(model or "", n=3) if model else []
    shown = ", ".join(close or servable[:3])
    return None, (
        f"No scenario matches {req.method} {req.path}"
        + (f" (model {_shown(model)})" if model else "")
        + f". Select one with the path prefix /s/<name>/ in the base URL or the "
        f"{SCENARIO_HEADER} header; for example: {shown}."
    )


async def _respond(plan: Plan, pace: float, sleep: Sleep, entry: dict[str, Any]) -> Any:
    if not plan.streaming:
        try:
            for write in plan.writes:
                wait = write.delay * pace + write.stall
                if wait > 0:
                    await sleep(wait)
        except asyncio.CancelledError:
            entry["outcome"] = "client_disconnected"
            raise
        data = b"".join(write.data for write in plan.writes)
        entry.update(outcome="completed", bytes_sent=len(data))
        response = QuartResponse(data, status=plan.status)
        response.headers.clear()
        for name, value in plan.headers:
            response.headers.add(name, value)
        response.headers["content-length"] = str(len(data))
        return response

    # The journal says how the answer ended as soon as its last byte is handed over:
    # a client that stops reading at [DONE] or message_stop may look at the journal
    # before the terminating chunk has even been written.
    last = max((i for i, write in enumerate(plan.writes) if write.data), default=-1)
    tail_pause = any(w.delay or w.stall for w in plan.writes[last + 1 :])

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        outcome = "client_disconnected"
        try:
            for index, write in enumerate(plan.writes):
                wait = write.delay * pace + write.stall
                if wait > 0:
                    await sleep(wait)
                if write.data:
                    before = sent
                    sent += len(write.data)
                    entry["bytes_sent"] = sent
                    if index == last and not plan.abort and not tail_pause:
                        outcome = entry["outcome"] = "completed"
                    try:
                        yield write.data
                    except GeneratorExit:
                        # The write failed (the client hung up: ClientGone) or was cut
                        # short: it was not handed over.
                        entry["bytes_sent"] = before
                        outcome = "client_disconnected"
                        raise
            if plan.abort:
                outcome = "disconnected_by_fault"
                raise _Abort
            outcome = "completed"
        finally:
            entry["outcome"] = outcome

    response = QuartResponse(body(), status=plan.status)
    response.headers.clear()
    for name, value in plan.headers:
        response.headers.add(name, value)
    response.timeout = None  # a stream may outlive any fixed response timeout
    return response
