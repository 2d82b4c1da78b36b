"""The admin endpoints, ``/_harness/*``, as a Blueprint: health, scenarios, the journal,
counters, reload. With an admin token set, all but health need it.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections import Counter
from typing import Any

from quart import Blueprint, request
from quart.wrappers import Response as QuartResponse

from harness._text import plural
from harness.errors import ScenarioError, ScenarioSetError
from harness.mock.http import (
    ADMIN_TOKEN_HEADER,
    CONSOLE_PATH,
    TOKEN_COOKIE,
    admin_error,
    drain,
    error_response,
    is_loopback_name,
    test_id_of,
)
from harness.mock.state import MockState, Served

__all__ = ["admin_blueprint"]


def admin_blueprint(state: MockState) -> Blueprint:
    """The ``/_harness`` endpoints of the app that holds ``state``."""
    admin = Blueprint("harness_admin", __name__, url_prefix="/_harness")
    token = state.options.admin_token

    # For the whole app, so that a mistyped /_harness/ path needs the token too.
    @admin.before_app_request
    async def admin_only() -> QuartResponse | None:
        path = request.path
        if not path.startswith("/_harness/") or path == "/_harness/health":
            return None
        if token is None:
            return _loopback_only(path)
        given = (
            request.headers.get(ADMIN_TOKEN_HEADER)
            or request.headers.get("authorization", "").removeprefix("Bearer ")
            or request.cookies.get(TOKEN_COOKIE, "")
        )
        if hmac.compare_digest(given.encode(), token.encode()):
            return None
        offered = request.args.get("token", "")
        if path == CONSOLE_PATH and hmac.compare_digest(offered.encode(), token.encode()):
            # A browser gives the token once in the URL; it is kept in a cookie for
            # /_harness only, and the URL without it is loaded again.
            response = QuartResponse("", status=303, headers={"location": CONSOLE_PATH})
            response.set_cookie(
                TOKEN_COOKIE, token, path="/_harness", httponly=True, samesite="Strict"
            )
            return response
        return error_response("openai", 401, "The admin endpoints need the admin token.")

    @admin.get("/health")
    async def health() -> Any:
        return {"status": "ok", "scenarios": len(state.scenarios)}

    @admin.get("/scenarios")
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
                for s in state.scenarios
            ]
        }

    @admin.get("/requests")
    async def requests_() -> Any:
        everything = request.args.get("all") in ("1", "true")
        entries = state.journal.entries(None if everything else test_id_of(request))
        return {"requests": [entry.to_dict() for entry in entries]}

    @admin.delete("/requests")
    async def reset() -> Any:
        everything = request.args.get("all") in ("1", "true")
        state.journal.reset(None if everything else test_id_of(request))
        return {"reset": "all" if everything else test_id_of(request)}

    @admin.get("/stats")
    async def stats() -> Any:
        return _stats(state, tasks=request.args.get("tasks") in ("1", "true"))

    reloading = asyncio.Lock()

    @admin.post("/reload")
    async def reload_scenarios() -> Any:
        await drain(request)
        async with reloading:
            return await _reload(state)

    return admin


def _loopback_only(path: str) -> QuartResponse | None:
    """Without a token the server listens on loopback only (``harness serve`` refuses
    anything else), so whatever reaches it is trusted; the console also checks that
    the browser asked for a loopback name, so that a page elsewhere cannot read it by
    pointing its own host name at 127.0.0.1 (DNS rebinding)."""
    if not path.startswith(CONSOLE_PATH):
        return None
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    host = host.strip("[]")
    if is_loopback_name(host):
        return None
    return admin_error(
        403,
        "not_loopback",
        f"The console answers only loopback host names (127.0.0.1, localhost, [::1]), "
        f"not {host!r}; open it at http://127.0.0.1:<port>{CONSOLE_PATH}",
    )


def _stats(state: MockState, *, tasks: bool) -> dict[str, Any]:
    counts = state.stats
    detail: dict[str, Any] = {}
    if tasks:
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
        "scenarios": len(state.scenarios),
        "plans_cached": len(state.served.plans),
        "journal_entries": len(state.journal),
    }


async def _reload(state: MockState) -> Any:
    reload = state.options.reload
    if reload is None:
        return admin_error(
            409,
            "not_reloadable",
            "These scenarios were not loaded from a folder, so there is nothing to "
            "reload from: start the server from a folder (harness serve --scenarios "
            "DIR, run_server(DIR)) to use POST /_harness/reload.",
        )
    before = state.scenarios
    try:
        # Reading and validating the files happens off the loop: the streams in
        # progress keep being written meanwhile.
        fresh = await asyncio.to_thread(reload)
    except ScenarioError as exc:
        problems = exc.errors if isinstance(exc, ScenarioSetError) else (exc,)
        return admin_error(
            400,
            "scenario_error",
            f"Reload failed; still serving the {plural(len(before), 'scenario')} loaded "
            f"before. {exc}",
            errors=[str(problem) for problem in problems],
        )
    # One assignment on the loop: a request sees the old set or the new one, never a
    # mix; a stream in progress keeps the plan it started with. Plans are cached by
    # scenario object, so a new cache comes with the new set.
    state.served = Served(fresh)
    return {"reloaded": len(fresh), "before": len(before), "scenarios": fresh.names}


def _task_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return str(getattr(coro, "__qualname__", None) or type(coro).__name__)


def _rss_bytes() -> int | None:
    """This process's resident memory in bytes (Linux ``/proc``), ``None`` elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
