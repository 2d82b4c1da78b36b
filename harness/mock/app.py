"""The mock provider: a Quart app that answers each served API from scenarios.

:func:`create_app` builds the app from a :class:`~harness.mock.scenario.ScenarioSet`
and a :class:`~harness.mock.options.ServerOptions`; it keeps no module globals, so
several apps (one per test, say) live side by side. :mod:`harness.mock.serve` runs it
on Hypercorn. The app assembles its parts: the API families
(:mod:`harness.mock.families`, one module each), the admin Blueprint
(:mod:`harness.mock.admin`), the ASGI layer (:mod:`harness.mock.asgi`), all sharing
one :class:`~harness.mock.state.MockState`.

Request handling, in order:

1. The scenario prefix: ``/s/{scenario}/`` in front of any route selects a scenario,
   so an unmodified SDK selects one through its ``base_url``. The ASGI layer strips
   the prefix before routing (the name is the longest run of path segments that
   names a loaded scenario; it is looked up, never used as a path).
2. The route decides the family, and the family reads the call: the model and
   whether to stream (``/v1/chat/completions`` OpenAI, ``/v1/messages`` Anthropic,
   ``/v1beta/models/{model}:streamGenerateContent`` and ``:generateContent`` Gemini).
3. The body must be a JSON object of at most ``max_body`` bytes; anything else gets
   the family's own error shape (400, 413, 415), never a traceback.
4. Scenario selection, first that applies: the prefix, the ``x-harness-scenario``
   header, the ``match`` rules of the scenarios the family can serve (load order).
   Nothing: a provider-shaped 404 naming the closest scenarios.
5. The answer: for a scenario with ``responses``, the next one in the sequence of
   this test id (the last repeats). Faults: the scenario's, overridden field by field
   by the ``x-harness-faults`` header. Speed: the app's, or ``x-harness-speed``.
6. :func:`harness.mock.replay.build_plan` decides every byte; this module only sleeps and
   writes, one write per plan element, flushed as its own chunk.

Every request is journaled under its test id (:mod:`harness.mock.journal`), with
secrets masked. A client that hangs up mid-stream cancels the writer task: nothing is
left running and the journal records ``client_disconnected``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, cast

from quart import Quart, Request, request
from quart.routing import QuartRule
from quart.wrappers import Response as QuartResponse
from werkzeug.exceptions import HTTPException

from harness._args import speed
from harness.errors import FaultSpecError
from harness.mock import families
from harness.mock.admin import admin_blueprint
from harness.mock.asgi import Abort, ClientGone, PrefixAndAbort
from harness.mock.console import console_blueprint
from harness.mock.families import ApiFamily, Call, family_of_path, reachable, routes_hint
from harness.mock.http import (
    CONSOLE_PATH,
    FAULTS_HEADER,
    NORMALIZE_HEADER,
    SCENARIO_HEADER,
    SPEED_HEADER,
    UNREAD_BODY,
    drain,
    error_response,
    mask_headers,
    mask_query,
    read_json,
    shown,
    test_id_of,
)
from harness.mock.journal import Entry, Journal, Outcome
from harness.mock.options import ServerOptions, Sleep
from harness.mock.replay import Plan, ReplayError, Write, parse_faults
from harness.mock.scenario import Faults, Scenario, ScenarioSet
from harness.mock.state import MockState, Served

__all__ = ["ClientGone", "create_app", "unserved_match_paths"]

#: The faults of an answer that sets none (one shared value: most requests have none).
NO_FAULTS = Faults.unchecked()


class _Rule(QuartRule):
    """A route whose URL builders are compiled when a URL is first built with it.

    werkzeug compiles two URL-building functions per rule as the rule is added (Python
    source made and compiled: ~0.2 ms a rule, ~5 ms of every start for harness's 29
    routes), though a URL is built only by ``url_for``, which nothing on harness's
    request path calls. Set through Quart's ``url_rule_class`` (the documented way to
    choose the rule class); ``_compile_builder`` is werkzeug's own (werkzeug 3, locked).
    Should a release rename it, this override is never called and rules compile as
    before; tests/test_server.py builds a URL with every route and compares it with
    werkzeug's own rules.
    """

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: QuartRule, *args: Any, **kwargs: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:
                compiled = QuartRule._compile_builder(rule, append_unknown)
            return compiled(rule, *args, **kwargs)

        return build


def create_app(
    scenarios: ScenarioSet, options: ServerOptions | None = None, *, journal: Journal | None = None
) -> Quart:
    """Build the mock provider app.

    Args:
        scenarios: what it can replay.
        options: how it behaves (speed, limits, admin token, reload...).
        journal: where requests are recorded (a new one, bounded by
            ``options.journal_max``, by default).

    The app's :class:`~harness.mock.state.MockState` is ``app.config["HARNESS"]``.
    """
    options = options or ServerOptions()
    state = MockState(
        Served(scenarios),
        options,
        journal if journal is not None else Journal(max_entries=options.journal_max),
    )
    # No static folder: harness serves none, and Quart's /static/<path> route would
    # take those paths from the families and the 404 that names the known routes.
    app = Quart("harness", static_folder=None)
    app.url_rule_class = _Rule
    # A doubled slash is not redirected (an HTML 308 no SDK follows on a POST): the path
    # is routed as sent, so it gets the provider-shaped 404 (or names a model as sent).
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = options.max_body
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = options.body_timeout
    app.config["HARNESS"] = state
    # Read at build time from the registry, so each app serves the families registered then.
    registered = families.FAMILIES
    roots = frozenset(root for family in registered for root in family.roots())
    app.asgi_app = PrefixAndAbort(app.asgi_app, state, roots)  # type: ignore[method-assign]
    app.register_blueprint(admin_blueprint(state))
    app.register_blueprint(console_blueprint(state))
    _add_error_handlers(app, state)
    for family in registered if options.serve_clients else ():
        for rule in family.rules:
            app.add_url_rule(
                rule, f"{family.name}:{rule}", _family_view(state, family), methods=["POST"]
            )
    app.add_url_rule("/v1/models", "models", _models_view(state), methods=["GET"])
    return app


def _family_view(state: MockState, family: ApiFamily) -> Any:
    async def view(**args: str) -> Any:
        return await _answer(state, family, args)

    return view


def _add_error_handlers(app: Quart, state: MockState) -> None:
    @app.after_request
    async def cors(response: QuartResponse) -> QuartResponse:
        # Browser clients (fetch streaming, the SDKs' browser builds) may call a mock
        # provider from any origin; CORS preflights get an answer instead of a 405.
        # Not the console: its page and data are for its own origin only.
        if request.path.startswith(CONSOLE_PATH):
            return response
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
        if status not in UNREAD_BODY:
            await drain(request)
        if status == 404:
            message = f"Unknown route {request.method} {request.path}. " + routes_hint()
            return _unserved(state, 404, message)
        if status == 405:
            message = f"Method {request.method} is not allowed on {request.path}."
            return _unserved(state, 405, message)
        if status == 413:
            message = f"Request body too large: the limit is {state.options.max_body} bytes."
        else:
            message = exc.description or f"HTTP {status}"
        return error_response(family_of_path(request.path).name, status, message)

    @app.errorhandler(Exception)
    async def crash(exc: Exception) -> QuartResponse:  # never a traceback to the client
        app.logger.exception("harness: internal error on %s %s", request.method, request.path)
        family = family_of_path(request.path).name
        return error_response(family, 500, f"harness internal error: {type(exc).__name__}: {exc}")


def _current() -> Request:
    """This request's object, looked up once (each use of Quart's ``request`` proxy
    looks it up again)."""
    return cast(Request, cast(Any, request)._get_current_object())


def _journaled(
    state: MockState, family: str | None, test_id: str | None = None, req: Request | None = None
) -> Entry:
    """A new journal entry for this request (also handed to the request log)."""
    if req is None:
        req = _current()
    scope = req.scope
    entry = state.journal.add(
        test_id_of(req) if test_id is None else test_id,
        Entry(
            time=time.time(),
            method=req.method,
            path=req.path,
            query=mask_query(req.args.to_dict()) if scope.get("query_string") else {},
            headers=mask_headers(dict(req.headers.items())),
            family=family,
        ),
    )
    out = cast(dict[str, Any] | None, scope.get("harness.out"))
    if out is not None:
        out["entry"] = entry
    return entry


def _unserved(state: MockState, status: int, message: str) -> QuartResponse:
    """A request to no route harness serves (404, 405): journaled, so a user can see
    which path their client used; answered in the error shape of the path's family."""
    entry = _journaled(state, None)
    entry.status, entry.outcome, entry.error = status, "rejected", message
    entry.ended = time.time()
    return error_response(family_of_path(request.path).name, status, message)


async def _answer(state: MockState, family: ApiFamily, args: dict[str, str]) -> Any:
    """Answer one call to ``family``'s route: read, select, plan, respond."""
    if not family.accepts(args):
        await drain(request)
        return _unserved(state, 404, f"Unknown route POST {request.path}. " + routes_hint())
    req = _current()
    test_id = test_id_of(req)
    entry = _journaled(state, family.name, test_id, req)

    def fail(status: int, message: str, **headers: str) -> QuartResponse:
        entry.status, entry.outcome, entry.error = status, "rejected", message
        entry.ended = time.time()
        return error_response(family.name, status, message, **headers)

    body, problem = await read_json(req)
    if problem is not None:
        return fail(*problem)
    entry.body = body
    call = family.read(args, body)
    entry.stream, entry.model = call.stream, call.model
    served = state.served  # one snapshot: a reload in between changes nothing here
    scenario, why = _select(served.scenarios, family, call, body, req, state.options.list_command)
    if scenario is None:
        return fail(404, why)
    # Journaled before the overlays are read: a request refused for its fault header
    # still shows the answer it asked for (and that answer's retry-after counts).
    entry.scenario, entry.answer = scenario.name, state.journal.next_answer(test_id, scenario)
    try:
        index, faults, failing = _answer_and_faults(state, test_id, scenario, req)
        entry.answer = index
        headers = req.headers
        pace = _speed(headers.get(SPEED_HEADER), state.options.speed)
        normalize = headers.get(NORMALIZE_HEADER, "").lower() in ("1", "true", "yes")
        entry.normalize = normalize
        plan = served.plans.get(
            scenario, index, family.name, call.stream, normalize, faults, call.model
        )
    except (ReplayError, FaultSpecError) as exc:
        return fail(400, str(exc))
    # A rejected request does not use up a step of a responses: sequence.
    state.journal.advance(test_id, scenario)
    if failing:
        state.journal.fail(test_id, scenario, index)
    entry.status, entry.faults = plan.status, faults
    return await _respond(plan, pace, state.options.sleep, entry, req)


def _answer_and_faults(
    state: MockState, test_id: str, scenario: Scenario, req: Request
) -> tuple[int, Faults, bool]:
    """Which answer the request gets, its effective faults (the answer's own, then the
    URL's ``/f/`` overlay, then the ``x-harness-faults`` header, field by field), and
    whether it is one of the answer's ``fail_first`` errors.

    With ``fail_first: N`` the first N requests that reach that answer get its
    ``http_error``; they use up no step of a ``responses`` sequence, and later
    requests get the answer without it.

    Raises:
        FaultSpecError: an overlay cannot be parsed.
    """
    overlay: Faults | None = None
    for text in (req.scope.get("harness.faults"), req.headers.get(FAULTS_HEADER)):
        if isinstance(text, str) and text:
            parsed = parse_faults(text)
            overlay = parsed if overlay is None else overlay.merged(parsed)
    failed = state.journal.failed(test_id, scenario)
    position = state.journal.position(test_id, scenario) - sum(failed.values())
    index = min(position, len(scenario.answers) - 1)
    faults = (scenario.answers[index].faults or NO_FAULTS).merged(overlay)
    if faults.fail_first is None:
        return index, faults, False
    if failed.get(index, 0) < faults.fail_first:
        return index, faults, True
    cleared = {"http_error": None, "retry_after": None, "fail_first": None}
    return index, faults.model_copy(update=cleared), False


def _models_view(state: MockState) -> Any:
    async def models() -> Any:
        names = sorted({m for s in state.scenarios for m in _models_of(s)})
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

    return models


def unserved_match_paths(scenarios: ScenarioSet) -> list[str]:
    """A warning for each scenario whose ``match.path`` no served route can ever have:
    such a scenario is only reachable by name, which is rarely what its author meant.

    A literal path is checked as a request would be routed; a glob against a request to
    each route (Gemini's with the scenario's ``match.model``, or any model name).
    """
    out = []
    for scenario in scenarios:
        match = scenario.match
        if match is None or match.path is None or reachable(match.path, match.model):
            continue
        where = f" ({scenario.path})" if scenario.path is not None else ""
        out.append(
            f"scenario {scenario.name}{where}: match.path {match.path!r} is no route harness "
            "serves, so no request can match it: " + routes_hint()
        )
    return out


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
        return speed(header)
    except ValueError as exc:
        kind = "number" if exc.__cause__ is not None else "finite number"
        raise FaultSpecError(f"{SPEED_HEADER} must be a {kind} >= 0, got {header!r}") from None


def _select(
    scenarios: ScenarioSet,
    family: ApiFamily,
    call: Call,
    body: Any,
    req: Request,
    list_command: str = "harness list",
) -> tuple[Scenario | None, str]:
    """The scenario a request selects, or ``None`` and why (naming the closest ones)."""
    name = str(req.scope.get("harness.scenario") or req.headers.get(SCENARIO_HEADER) or "")
    if name:
        scenario = scenarios.get(name)
        if scenario is not None:
            return scenario, ""
        close = scenarios.closest(name)
        hint = f" Closest: {', '.join(close)}." if close else ""
        return None, f"No scenario named {shown(name)}.{hint} `{list_command}` shows them all."
    output = family.output
    model = call.model
    for scenario in scenarios:
        if scenario.match is None or not output.replays(scenario.provider):
            continue
        if scenario.match.matches(
            path=req.path,
            model=model,
            stream=call.stream,
            body=body,
            headers=dict(req.headers.items()),
        ):
            return scenario, ""
    servable = [s.name for s in scenarios if output.replays(s.provider)]
    close = scenarios.closest(model or "", n=3) if model else []
    examples = ", ".join(close or servable[:3])
    return None, (
        f"No scenario matches {req.method} {req.path}"
        + (f" (model {shown(model)})" if model else "")
        + f". Select one with the path prefix /s/<name>/ in the base URL or the "
        f"{SCENARIO_HEADER} header; for example: {examples}."
    )


async def _respond(plan: Plan, pace: float, sleep: Sleep, entry: Entry, req: Request) -> Any:
    """The answer ``plan`` describes, paced, journaled in ``entry`` as it goes out."""
    if not plan.streaming:
        return await _respond_whole(plan, pace, sleep, entry)
    # The ASGI layer writes the body itself (one layer less per write than Quart's
    # iteration); Quart sends the head and an empty body whose end starts it.
    out = cast(dict[str, Any] | None, req.scope.get("harness.out"))
    if out is None:  # not behind harness's ASGI layer: Quart iterates the body
        response = QuartResponse(_paced(plan, pace, sleep, entry), status=plan.status)
    else:
        known = plan.back_to_back_writes(pace)
        out["body"] = (
            _BackToBack(known, plan.abort, entry)
            if known is not None
            else _Iterated(_paced(plan, pace, sleep, entry))
        )
        response = QuartResponse(_no_body(), status=plan.status)
    _set_headers(response, plan)
    response.timeout = None  # a stream may outlive any fixed response timeout
    return response


# The journal says how a stream ended as soon as its last byte is handed over: a
# client that stops reading at [DONE] or message_stop may look at the journal before
# the terminating chunk has even been written.


async def _paced(plan: Plan, pace: float, sleep: Sleep, entry: Entry) -> AsyncIterator[bytes]:
    """The stream's bytes, each write after its pause, journaled as they go."""
    sent = 0
    outcome: Outcome = "client_disconnected"
    abort = plan.abort
    try:
        for write, final in _marked(plan.iter_writes()):
            wait = write.delay * pace + write.stall
            if wait > 0:
                await sleep(wait)
            if write.data:
                before = sent
                sent += len(write.data)
                entry.bytes_sent = sent
                if final and not abort:
                    outcome = entry.outcome = "completed"
                    entry.ended = time.time()
                try:
                    yield write.data
                except GeneratorExit:
                    # The write failed (the client hung up: ClientGone) or was cut
                    # short: it was not handed over.
                    entry.bytes_sent = before
                    outcome = "client_disconnected"
                    raise
        if abort:
            outcome = "disconnected_by_fault"
            raise Abort
        outcome = "completed"
    finally:
        _ended(entry, outcome)


class _Iterated:
    """A stream body the ASGI layer writes chunk by chunk as the iterator makes them;
    the iterator is closed whatever happens (its ``finally`` journals the end)."""

    __slots__ = ("body",)

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self.body = body

    async def send_to(self, send: Callable[[Any], Awaitable[None]]) -> None:
        body = self.body
        try:
            async for data in body:
                await send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            await body.aclose()  # type: ignore[attr-defined]


class _BackToBack:
    """Writes that all have bytes and no pause to make (the replay's hot loop at speed
    0), sent by the ASGI layer straight from the plan: the journal of :func:`_paced`
    with no iterator between the plan and the server."""

    __slots__ = ("abort", "entry", "writes")

    def __init__(self, writes: tuple[Write, ...], abort: bool, entry: Entry) -> None:
        self.writes, self.abort, self.entry = writes, abort, entry

    async def send_to(self, send: Callable[[Any], Awaitable[None]]) -> None:
        entry, abort = self.entry, self.abort
        sent = 0
        outcome: Outcome = "client_disconnected"
        last = len(self.writes) - 1
        try:
            for index, write in enumerate(self.writes):
                data = write.data
                sent += len(data)
                entry.bytes_sent = sent
                if index == last and not abort:
                    outcome = entry.outcome = "completed"
                    entry.ended = time.time()
                try:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                except BaseException:
                    # The client hung up (ClientGone) or the task was cancelled: this
                    # write was not handed over.
                    entry.bytes_sent = sent - len(data)
                    outcome = "client_disconnected"
                    raise
            if abort:
                outcome = "disconnected_by_fault"
                raise Abort
            outcome = "completed"
        finally:
            _ended(entry, outcome)


def _ended(entry: Entry, outcome: Outcome) -> None:
    """Journal how a stream ended (its end time, unless it completed earlier)."""
    entry.outcome = outcome
    if entry.ended is None or outcome != "completed":
        entry.ended = time.time()


async def _no_body() -> AsyncIterator[bytes]:
    """An empty streamed body (chunked, no content-length)."""
    nothing: tuple[bytes, ...] = ()
    for data in nothing:
        yield data


def _marked(writes: Iterator[Write]) -> Iterator[tuple[Write, bool]]:
    """Each write, and whether it is the last one with bytes and no pause comes after
    it (then the answer is complete once it is handed over). Reads one write with
    bytes ahead: a lazy plan's writes are made as they go, so its end is not known
    before."""
    held: Write | None = None  # the last write with bytes so far
    after: list[Write] = []  # the empty writes (pauses) since
    for write in writes:
        if not write.data:
            if held is None:
                yield write, False
            else:
                after.append(write)
            continue
        if held is not None:
            yield held, False
            for pause in after:
                yield pause, False
            after.clear()
        held = write
    if held is not None:
        yield held, not any(pause.delay or pause.stall for pause in after)
        for pause in after:
            yield pause, False


async def _respond_whole(plan: Plan, pace: float, sleep: Sleep, entry: Entry) -> Any:
    try:
        for write in plan.writes:
            wait = write.delay * pace + write.stall
            if wait > 0:
                await sleep(wait)
    except asyncio.CancelledError:
        entry.outcome, entry.ended = "client_disconnected", time.time()
        raise
    data = b"".join(write.data for write in plan.writes)
    entry.outcome, entry.bytes_sent, entry.ended = "completed", len(data), time.time()
    response = QuartResponse(data, status=plan.status)
    _set_headers(response, plan)
    response.headers["content-length"] = str(len(data))
    return response


def _set_headers(response: QuartResponse, plan: Plan) -> None:
    response.headers.clear()
    for name, value in plan.headers:
        response.headers.add(name, value)
