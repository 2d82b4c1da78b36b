"""The console, ``/_harness/ui/``: a page for people, and the JSON it reads.

The page (``harness/mock/ui/``: one HTML file, one script, one style sheet, no build
step and nothing fetched from elsewhere) draws what this module serves:

* ``api/scenarios``: every scenario with its provider, description, tags, faults,
  whether it has ``expect``, and the API families that serve it;
* ``api/timeline``: one answer of a scenario as each route sends it
  (:mod:`harness.mock.timeline`), with a fault overlay typed in the page;
* ``api/requests``: the journal's last requests over every test id (polled, so a
  request shows within a second), and ``api/requests/<seq>``: one request with the
  timeline of the plan it was sent;
* ``api/goldens``: ``harness check`` on the served scenarios, each mismatch as
  side-by-side rows with the command that rewrites it;
* ``api/report``: the conformance run ``harness ui REPORT`` opened.

Safety: the page builds every element with ``textContent`` (no HTML from data), and
every response of the console carries a Content-Security-Policy that allows scripts
from this server only (no inline script), so a hostile scenario description or
request header is shown as text and never runs. The console is an admin endpoint:
with an admin token set it needs it like the others (a browser gives it once as
``/_harness/ui/?token=...``, kept in a cookie for ``/_harness``); without one (a
loopback server) it answers only requests whose ``Host`` names a loopback address,
so a web page elsewhere cannot read it through DNS rebinding.
"""

from __future__ import annotations

import asyncio
import difflib
import shlex
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from quart import Blueprint, request
from quart.wrappers import Response as QuartResponse

from harness import __version__
from harness.errors import FaultSpecError
from harness.mock import families
from harness.mock.http import CONSOLE_PATH, FAULTS_HEADER, admin_error
from harness.mock.journal import Entry
from harness.mock.replay import parse_faults
from harness.mock.scenario import Faults, Scenario
from harness.mock.state import MockState
from harness.stream.outputs import OUTPUTS
from harness.stream.provider_errors import Family

# The timeline and the goldens (harness.mock.timeline, harness.mock.golden) are imported
# by the handlers that use them: every server has a console, few open it, and a server
# starts faster without them.

__all__ = ["SECURITY_HEADERS", "console_blueprint", "side_by_side"]

#: Sent with every console response: scripts and styles from this server only, no
#: inline script, no frames, no requests elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

_ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

#: Requests the live journal sends at most per poll.
JOURNAL_LIMIT = 500


def console_blueprint(state: MockState) -> Blueprint:
    """The console's page and JSON endpoints for the app that holds ``state``."""
    ui = Blueprint("harness_console", __name__, url_prefix=CONSOLE_PATH.rstrip("/"))

    @ui.after_request
    async def secure(response: QuartResponse) -> QuartResponse:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        return response

    @ui.get("/")
    async def page() -> Any:
        return _asset("index.html", "text/html; charset=utf-8")

    @ui.get("/static/<name>")
    async def asset(name: str) -> Any:
        kind = _ASSETS.get(name)
        if kind is None:
            return admin_error(404, "not_found", f"no console asset {name!r}")
        return _asset(name, kind)

    @ui.get("/api/info")
    async def info() -> Any:
        return _info(state)

    @ui.get("/api/scenarios")
    async def scenarios() -> Any:
        return {"scenarios": [_scenario_row(s) for s in state.scenarios]}

    @ui.get("/api/timeline")
    async def scenario_timeline() -> Any:
        return await _timeline(state, request.args)

    @ui.get("/api/requests")
    async def journal() -> Any:
        try:
            limit = min(max(int(request.args.get("limit", JOURNAL_LIMIT)), 0), JOURNAL_LIMIT)
        except ValueError:
            return admin_error(400, "bad_request", "limit: expected a number")
        now = time.time()
        rows = [_request_row(tid, entry, now) for tid, entry in state.journal.recent(limit)]
        return {"requests": rows, "total": len(state.journal)}

    @ui.get("/api/requests/<int:seq>")
    async def one_request(seq: int) -> Any:
        found = state.journal.find(seq)
        if found is None:
            return admin_error(404, "not_found", f"request {seq} is no longer in the journal")
        tid, entry = found
        row = _request_row(tid, entry, time.time())
        row["body"] = entry.body
        sent = await asyncio.to_thread(_sent, state, entry)
        return {"request": row, "timeline": sent}

    @ui.get("/api/goldens")
    async def goldens() -> Any:
        folder = state.options.goldens
        if folder is None:
            return {"goldens": None, "checked": 0, "mismatches": [], "missing": [], "unused": []}
        return await asyncio.to_thread(_goldens, state, folder)

    @ui.get("/api/report")
    async def report() -> Any:
        if state.options.report is None:
            return admin_error(
                404,
                "no_report",
                "no conformance report was opened: harness ui DIR/results.json opens one, "
                "or open a results.json file in the page",
            )
        return dict(state.options.report)

    return ui


def _info(state: MockState) -> dict[str, Any]:
    options = state.options
    return {
        "version": __version__,
        "scenarios": len(state.scenarios),
        "scenarios_dir": str(options.scenarios_dir) if options.scenarios_dir else None,
        "goldens": str(options.goldens) if options.goldens else None,
        "report": options.report is not None,
        "serve_clients": options.serve_clients,
    }


async def _timeline(state: MockState, args: Mapping[str, str]) -> Any:
    """``api/timeline``: one answer of a scenario on every route that serves it."""
    name = args.get("scenario", "")
    scenario = state.scenarios.get(name)
    if scenario is None:
        close = state.scenarios.closest(name)
        hint = f"; closest: {', '.join(close)}" if close else ""
        return admin_error(404, "not_found", f"no scenario named {name!r}{hint}")
    try:
        index = int(args.get("answer", "0"))
    except ValueError:
        return admin_error(400, "bad_request", "answer: expected a number")
    if not 0 <= index < len(scenario.answers):
        last = len(scenario.answers) - 1
        return admin_error(400, "bad_request", f"answer: {scenario.name} has answers 0 to {last}")
    text = args.get("faults", "").strip()
    try:
        overlay = parse_faults(text) if text else Faults.unchecked()
    except FaultSpecError as exc:
        return admin_error(400, "fault_error", f"{FAULTS_HEADER}: {exc}")
    faults = (scenario.answers[index].faults or Faults.unchecked()).merged(overlay)

    def every_route() -> list[dict[str, Any]]:
        # In the worker thread, like the timelines: the first import pauses no stream.
        from harness.mock.timeline import route_views, timeline

        return [timeline(scenario, index, view, faults) for view in route_views(scenario)]

    views = await asyncio.to_thread(every_route)
    return {
        "scenario": _scenario_row(scenario),
        "answer": index,
        "answers": len(scenario.answers),
        "overlay": text,
        "header": f"{FAULTS_HEADER}: {text}" if text else "",
        "prefix": _url_prefix(overlay),
        "effective": faults.describe(),
        "views": views,
    }


def _url_prefix(overlay: Faults) -> str:
    """The overlay as a ``/f/{faults}/`` base-URL prefix (``""`` when a value holds a
    character the path form cannot carry: ``,`` ``;`` ``/``)."""
    pairs = overlay.model_dump(exclude_defaults=True)
    if not pairs or any(ch in str(value) for value in pairs.values() for ch in ",;/"):
        return ""
    return "/f/" + ";".join(f"{k}={quote(str(v), safe='')}" for k, v in pairs.items()) + "/"


def _asset(name: str, content_type: str) -> QuartResponse:
    data = resources.files("harness.mock").joinpath("ui", name).read_bytes()
    return QuartResponse(data, content_type=content_type)


def _scenario_row(scenario: Scenario) -> dict[str, Any]:
    faults = sorted(
        {answer.faults.describe() for answer in scenario.answers if answer.faults is not None}
        - {""}
    )
    return {
        "name": scenario.name,
        "provider": scenario.provider,
        "description": scenario.description,
        "tags": list(scenario.tags),
        "faults": faults,
        "expect": scenario.expect is not None,
        "answers": len(scenario.answers),
        "streaming": any(answer.streaming for answer in scenario.answers),
        "families": [
            f.name for f in families.FAMILIES if OUTPUTS[f.name].replays(scenario.provider)
        ],
        "path": str(scenario.path) if scenario.path else None,
    }


def _request_row(test_id: str, entry: Entry, now: float) -> dict[str, Any]:
    row = entry.to_dict()
    row.pop("body", None)
    end = entry.ended if entry.ended is not None else now
    row.update(
        test_id=test_id,
        seq=entry.seq,
        stream=entry.stream,
        model=entry.model,
        duration_ms=round((end - entry.time) * 1000, 1),
    )
    return row


def _sent(state: MockState, entry: Entry) -> dict[str, Any] | None:
    """The timeline of the plan this request was sent (``None``: none was planned)."""
    if entry.scenario is None or entry.answer is None or entry.family is None:
        return None
    scenario = state.scenarios.get(entry.scenario)
    if scenario is None or entry.faults is None:
        return None
    from harness.mock.timeline import View, timeline

    # The plan cache's key, less the scenario: the same plan, so the same bytes.
    view = View("sent", cast(Family, entry.family), entry.normalize)
    return timeline(
        scenario, entry.answer, view, entry.faults, stream=entry.stream, model=entry.model
    )


def _goldens(state: MockState, folder: Path) -> dict[str, Any]:
    from harness.mock.golden import check

    report = check(state.scenarios, folder)
    command = "harness check --update --goldens " + shlex.quote(str(folder))
    if state.options.scenarios_dir is not None:
        command += " --scenarios " + shlex.quote(str(state.options.scenarios_dir))
    mismatches = [
        {
            "path": str(mismatch.path),
            "scenario": mismatch.scenario,
            "kind": mismatch.kind,
            "rows": side_by_side(mismatch.expected, mismatch.actual),
            "command": command,
        }
        for mismatch in report.mismatches
    ]
    return {
        "goldens": str(folder),
        "checked": report.checked,
        "mismatches": mismatches,
        "missing": [str(path) for path in report.missing],
        "unused": [str(path) for path in report.unused],
        "command": command,
    }


def side_by_side(expected: bytes, actual: bytes, context: int = 3) -> list[list[Any]]:
    """Rows ``[tag, line number, golden line, line number, actual line]`` of a
    side-by-side diff (``tag``: ``equal``, ``replace``, ``delete``, ``insert``,
    ``skip`` for unchanged lines left out), lines shown as :func:`view_lines` does."""
    from harness.mock.golden import view_lines

    old, new = view_lines(expected), view_lines(actual)
    rows: list[list[Any]] = []
    for group in difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(
        context
    ):
        if rows:
            rows.append(["skip", None, "", None, ""])
        for tag, i1, i2, j1, j2 in group:
            for k in range(max(i2 - i1, j2 - j1)):
                left = i1 + k if i1 + k < i2 else None
                right = j1 + k if j1 + k < j2 else None
                rows.append(
                    [
                        tag,
                        None if left is None else left + 1,
                        "" if left is None else old[left],
                        None if right is None else right + 1,
                        "" if right is None else new[right],
                    ]
                )
    return rows
