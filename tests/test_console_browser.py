"""The console (/_harness/ui/) in a real headless Chromium from the distribution's
packages, against a real harness server on a loopback port.

What a person does with it, checked in the page itself: find a scenario (the list
renders and filters), read its timeline (one bar per write of the plan the server
would send, the fault marker at the right event, an overlay typed in the page), watch
a request made by the openai SDK arrive in the live journal within a second and open
it, read a golden mismatch side by side, open a conformance report. And what it must
never do: run a script that came in a scenario or a request, or fetch anything from
another origin.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai
import pytest

from harness.conformance.results import CaseResult, Run
from harness.mock.options import ServerOptions
from harness.mock.replay import build_plan, parse_faults
from harness.mock.scenario import Faults, load_scenarios
from harness.mock.serve import ServerThread
from harness.mock.timeline import route_views, timeline
from tests import browser
from tests.browser import wait_for

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
BUILTINS = load_scenarios()

if browser.find_browser() is None and not browser.required():
    pytest.skip(
        f"browser tests skipped: Chromium not found; {browser.INSTALL_HINT}",
        allow_module_level=True,
    )

# Scripts in every string a scenario or a request can carry. Each would set
# window.__pwned if the page ever parsed it as HTML.
IMG = "<img src=x onerror=\"window.__pwned='{}'\">"
SCRIPT = "<script>window.__pwned='{}'</script>"


def _hostile(where: str) -> str:
    return IMG.format(where) + SCRIPT.format(where) + f"<b>{where}</b>"


# Run before any page script (and, injected over DevTools, not subject to the page's
# CSP): counts every CSP violation, so "no script ran" does not rest on the CSP alone.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with browser.chromium() as session:
        session.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
        yield session


def _goldens(tmp: Path) -> Path:
    """A copy of the built-ins' goldens with one line of one golden changed."""
    shutil.copytree(ROOT / "tests" / "golden", tmp)
    golden = tmp / "openai" / "text.raw.sse"
    golden.write_bytes(golden.read_bytes().replace(b'"content":" How"', b'"content":" Why"'))
    return tmp


def _run() -> Run:
    def case(verdict: str, scenario: str, fault: str, **fields: Any) -> CaseResult:
        base: dict[str, Any] = {
            "overlay": "" if fault == "none" else fault,
            "route": "openai",
            "client": "openai",
            "version": "2.8.0",
            "expected": {"text": "Hello", "finish_reason": "stop"},
            "observed": {"text": "Hello", "finish_reason": "stop"},
            "reproduction": f"OpenAI(base_url='http://127.0.0.1:8080/f/{fault}/s/{scenario}/v1')",
        }
        base.update(fields)
        return CaseResult(scenario=scenario, fault=fault, verdict=verdict, **base)  # type: ignore[arg-type]

    return Run(
        results=[
            case("pass", "openai/text", "none"),
            case(
                "fail",
                "openai/text",
                "disconnect_after=2",
                observed={"text": "Hel", "finish_reason": "stop"},
                differences=["finish_reason: expected absent, got 'stop'"],
            ),
            case("pass", "anthropic/text", "none"),
            case(
                "error",
                "anthropic/text",
                "disconnect_after=2",
                observed=None,
                traceback=_hostile("traceback"),
                differences=[_hostile("difference")],
            ),
        ],
        started="2026-12-04T20:00:00Z",
        harness="0.2.0",
        command="harness conformance --client openai",
    )


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The built-ins with a golden folder holding one mismatch and a conformance report."""
    goldens = _goldens(tmp_path_factory.mktemp("console") / "golden")
    options = ServerOptions(goldens=goldens, report=_run().to_json())
    with ServerThread(BUILTINS, options) as server:
        yield server


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A scenario with scripts in its description, tags and stream."""
    folder = tmp_path_factory.mktemp("hostile")
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": _hostile("model"),
        "choices": [{"index": 0, "delta": {"content": _hostile("stream")}, "finish_reason": None}],
    }
    scenario = {
        "version": 1,
        "provider": "openai",
        "description": _hostile("description"),
        "tags": [_hostile("tag")],
        "events": [{"data": chunk}, {"comment": _hostile("comment")}, {"data": "[DONE]"}],
    }
    (folder / "evil.yaml").write_text(json.dumps(scenario))
    with ServerThread(load_scenarios(folder), ServerOptions()) as server:
        yield server


def _open(driver: Any, server: ServerThread, fragment: str = "") -> None:
    driver.get(f"{server.url}/_harness/ui/{fragment}")


def _count(driver: Any, selector: str) -> int:
    return int(driver.execute_script(f"return document.querySelectorAll({selector!r}).length"))


def _no_script_ran(driver: Any) -> None:
    assert driver.execute_script("return window.__pwned === undefined"), driver.execute_script(
        "return window.__pwned"
    )
    assert driver.execute_script("return window.__violations") == []
    assert _count(driver, "main img, main script, main iframe") == 0


# --- the scenario list ----------------------------------------------------------------------


def test_the_list_shows_every_scenario_and_filters(driver: Any, console: ServerThread) -> None:
    _open(driver, console)
    wait_for(lambda: _count(driver, "tr.scenario-row") == len(BUILTINS), what="every scenario row")
    names = driver.execute_script(
        "return [...document.querySelectorAll('tr.scenario-row')].map(r => r.dataset.name)"
    )
    assert names == [s.name for s in BUILTINS]

    search = driver.find_element("id", "search")
    search.send_keys("utf8")
    hay = {s.name: " ".join([s.name, s.description, s.provider, *s.tags]).lower() for s in BUILTINS}
    wanted = [name for name, text in hay.items() if "utf8" in text]
    assert 0 < len(wanted) < len(BUILTINS)
    wait_for(lambda: _count(driver, "tr.scenario-row") == len(wanted), what="the search to filter")
    search.clear()
    search.send_keys(" ")  # clear() fires no input event

    driver.execute_script(
        "const s = document.getElementById('provider'); s.value = 'gemini';"
        "s.dispatchEvent(new Event('change'))"
    )
    gemini = [s.name for s in BUILTINS if s.provider == "gemini"]
    wait_for(lambda: _count(driver, "tr.scenario-row") == len(gemini), what="the provider filter")
    assert driver.find_element("id", "count").text == f"{len(gemini)} of {len(BUILTINS)} scenarios"

    # By family: Bedrock Converse serves its own scenarios and renders every other one,
    # Gemini's route only replays Gemini's: with provider gemini, both give the same rows.
    driver.execute_script(
        "const s = document.getElementById('family'); s.value = 'anthropic';"
        "s.dispatchEvent(new Event('change'))"
    )
    wait_for(lambda: _count(driver, "tr.scenario-row") == 0, what="no gemini scenario on anthropic")


# --- a scenario's timeline ------------------------------------------------------------------


def _expected_writes(name: str, overlay: str, route: str, normalize: bool) -> int:
    scenario = BUILTINS.get(name)
    assert scenario is not None
    answer = scenario.answers[0]
    faults = (answer.faults or Faults()).merged(parse_faults(overlay) if overlay else None)
    plan = build_plan(
        scenario,
        answer,
        target=route,
        stream=True,
        normalize=normalize,
        faults=faults,  # type: ignore[arg-type]
    )
    return len(plan.writes)


def test_the_timeline_draws_every_write_and_the_fault_at_its_event(
    driver: Any, console: ServerThread
) -> None:
    _open(
        driver, console, "#/scenario/" + quote("openai/text", safe="") + "?faults=error_after%3D2"
    )
    wait_for(lambda: _count(driver, "section.view") == 4, what="the four routes")
    scenario = BUILTINS.get("openai/text")
    assert scenario is not None
    for view in route_views(scenario):
        drawn = _count(driver, f"section.view[data-view={view.name}] rect.write")
        assert drawn == _expected_writes("openai/text", "error_after=2", view.route, view.normalize)
    # On the scenario's own route the error event follows the second event.
    marker = driver.find_element(
        "css selector", "section.view[data-view=raw] g.marker[data-kind=error]"
    )
    assert marker.get_attribute("data-event") == "3"
    assert "error_after=2" in marker.get_attribute("textContent")
    header = driver.find_element("css selector", "code[data-copy=header]").text
    assert header == "x-harness-faults: error_after=2"


def test_an_overlay_typed_in_the_page_redraws_it(driver: Any, console: ServerThread) -> None:
    _open(driver, console, "#/scenario/" + quote("anthropic/text", safe=""))
    box = wait_for(lambda: driver.find_element("id", "overlay"), what="the overlay box")
    plain = _expected_writes("anthropic/text", "", "anthropic", False)
    wait_for(lambda: _count(driver, "section.view[data-view=raw] rect.write") == plain)
    box.send_keys("disconnect_inside=3; chunking=byte\n")
    cut = _expected_writes(
        "anthropic/text", "disconnect_inside=3; chunking=byte", "anthropic", False
    )
    assert cut > plain
    wait_for(
        lambda: _count(driver, "section.view[data-view=raw] rect.write") == cut,
        what="the redrawn timeline",
    )
    marker = driver.find_element(
        "css selector", "section.view[data-view=raw] g.marker[data-kind=cut]"
    )
    assert "inside an event" in marker.get_attribute("textContent")
    assert driver.find_element("css selector", "code[data-copy=header]").text == (
        "x-harness-faults: disconnect_inside=3; chunking=byte"
    )
    # A bad overlay is refused with the reason, and the timeline stays drawable.
    box = driver.find_element("id", "overlay")
    box.clear()
    box.send_keys("error_afterr=2\n")
    alert = wait_for(lambda: driver.find_element("css selector", "div.error-box"), what="the error")
    assert "did you mean 'error_after'" in alert.text
    assert _count(driver, "section.view[data-view=raw] rect.write") == plain


def test_the_side_by_side_view_reads_each_route(driver: Any, console: ServerThread) -> None:
    _open(driver, console, "#/scenario/" + quote("gemini/text", safe=""))
    wait_for(lambda: _count(driver, "#side .col") >= 2, what="the side-by-side columns")
    scenario = BUILTINS.get("gemini/text")
    assert scenario is not None
    for view in route_views(scenario):
        data = timeline(scenario, 0, view, scenario.answers[0].faults or Faults())
        shown = _count(driver, f"#side .col[data-view={view.name}] .block:not(.end)")
        assert shown == len(data["blocks"])
    text = driver.find_element("css selector", "#side .col[data-view=openai]").text
    assert "→ text" in text


# --- the live journal ------------------------------------------------------------------------


def test_an_sdk_request_shows_in_the_live_journal_within_a_second(
    driver: Any, console: ServerThread
) -> None:
    _open(driver, console, "#/journal")
    wait_for(lambda: "live" in driver.find_element("id", "journal-status").text, what="the poll")
    test_id = f"browser-{time.monotonic_ns()}"
    client = openai.OpenAI(
        base_url=f"{console.url}/t/{test_id}/s/openai/text/v1", api_key="sk-test", max_retries=0
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello! How can I help you today?"
    done = time.monotonic()
    row = wait_for(
        lambda: driver.find_element(
            "css selector", f"tr.group[data-test-id='{test_id}'] + tr.request-row"
        ),
        timeout=1.0,
        what="the request in the journal",
    )
    assert time.monotonic() - done < 1.0
    cells = row.text
    assert "openai/text" in cells
    assert "completed" in cells
    assert "200" in cells
    seq = row.get_attribute("data-seq")

    # The request opens the timeline of what was sent to it.
    driver.get(f"{console.url}/_harness/ui/#/request/{seq}")
    wait_for(lambda: _count(driver, "section.view[data-view=sent] rect.write") > 0)
    entry = next(e for e in console.journal.entries(test_id))
    sent = _count(driver, "section.view[data-view=sent] rect.write")
    assert sent == _expected_writes("openai/text", "", "openai", False)
    assert driver.find_element("id", "request-body").text.count('"gpt-4o-mini"') == 1
    assert entry.bytes_sent > 0


# --- goldens and reports ---------------------------------------------------------------------


def test_a_golden_mismatch_is_shown_side_by_side_with_the_command(
    driver: Any, console: ServerThread
) -> None:
    _open(driver, console, "#/goldens")
    section = wait_for(
        lambda: driver.find_element("css selector", "section.mismatch"), timeout=20, what="the diff"
    )
    assert section.get_attribute("data-path").endswith("openai/text.raw.sse")
    changed = section.find_elements("css selector", "table.diff tr.replace")
    assert len(changed) == 1
    left, right = changed[0].find_elements("css selector", "td.left, td.right")
    assert '" Why"' in left.text
    assert '" How"' in right.text
    command = driver.find_element("css selector", "code[data-copy='rewrite with']").text
    assert command.startswith("harness check --update --goldens ")


def test_a_conformance_report_opens_as_its_matrix(driver: Any, console: ServerThread) -> None:
    _open(driver, console, "#/report")
    wait_for(lambda: _count(driver, "span.verdict") == 4, what="the four cells")
    assert _count(driver, "table.matrix") == 1  # one route
    driver.find_element("css selector", "span.verdict.fail").click()
    detail = wait_for(lambda: driver.find_element("css selector", ".case-detail"), what="the case")
    assert "finish_reason: expected absent, got 'stop'" in detail.text
    assert "/f/disconnect_after=2/s/openai/text/v1" in detail.text
    driver.find_element("css selector", "span.verdict.error").click()
    wait_for(lambda: "anthropic/text" in driver.find_element("css selector", ".case-detail").text)
    _no_script_ran(driver)


def test_a_report_file_opens_in_the_page_without_the_server(
    driver: Any, hostile: ServerThread, tmp_path: Path
) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_run().to_json()))
    _open(driver, hostile, "#/report")
    wait_for(lambda: "no conformance report" in driver.find_element("id", "report-area").text)
    driver.find_element("id", "report-file").send_keys(str(path))
    wait_for(lambda: _count(driver, "span.verdict") == 4, what="the report read from the file")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    driver.find_element("id", "report-file").send_keys(str(broken))
    alert = wait_for(lambda: driver.find_element("css selector", "#report-area .error-box"))
    assert "broken.json: not a conformance report" in alert.text


# --- safety -----------------------------------------------------------------------------------


def test_hostile_strings_are_shown_as_text_and_never_run(
    driver: Any, hostile: ServerThread
) -> None:
    evil = _hostile("header")
    with httpx.Client(base_url=hostile.url) as http:
        response = http.post(
            "/t/" + quote(_hostile("testid"), safe="") + "/s/evil/v1/chat/completions",
            params={"q": _hostile("query")},
            headers={"x-evil": evil.encode("ascii").decode(), "x-harness-faults": "chunking=byte"},
            json={"model": _hostile("body"), "messages": [], "stream": True},
        )
        assert response.status_code == 200
    # Every view that shows a scenario's or a request's strings.
    _open(driver, hostile)
    wait_for(lambda: _count(driver, "tr.scenario-row") == 1)
    assert "<img src=x" in driver.find_element("css selector", "td.description").text
    _no_script_ran(driver)
    _open(driver, hostile, "#/scenario/evil")
    wait_for(lambda: _count(driver, "#side .block") > 0)
    assert "<script>window.__pwned='stream'</script>" in driver.find_element("id", "side").text
    _no_script_ran(driver)
    _open(driver, hostile, "#/journal")
    row = wait_for(lambda: driver.find_element("css selector", "tr.request-row"))
    assert "<img src=x" in driver.find_element("css selector", "tr.group").text
    seq = row.get_attribute("data-seq")
    _no_script_ran(driver)
    driver.get(f"{hostile.url}/_harness/ui/#/request/{seq}")
    table = wait_for(lambda: driver.find_element("id", "request-headers"))
    assert evil in table.text
    assert (
        "<script>window.__pwned='body'</script>" in driver.find_element("id", "request-body").text
    )
    _no_script_ran(driver)


def test_the_page_fetches_nothing_from_elsewhere(driver: Any, console: ServerThread) -> None:
    driver.get_log("browser")  # what earlier tests left
    for fragment in ("", "#/scenario/openai%2Ftext", "#/journal", "#/goldens", "#/report"):
        _open(driver, console, fragment)
        wait_for(lambda: "Loading" not in driver.find_element("id", "main").text)
        names = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert names
        assert all(name.startswith(console.url + "/") for name in names), names
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_with_an_admin_token_the_browser_gives_it_once(driver: Any) -> None:
    """A server with an admin token: the console refuses a browser without it, and a
    browser that opens /_harness/ui/?token=... is sent to /_harness/ui/ with a cookie
    that its every request then carries (the token leaves the address bar)."""
    with ServerThread(BUILTINS, ServerOptions(admin_token="s3cret-token")) as guarded:
        driver.get(f"{guarded.url}/_harness/ui/")
        assert "admin token" in driver.find_element("tag name", "body").text
        driver.get(f"{guarded.url}/_harness/ui/?token=s3cret-token")
        wait_for(lambda: _count(driver, "tr.scenario-row") == len(BUILTINS), what="the list")
        assert "token" not in driver.current_url
        cookies = {c["name"]: c for c in driver.get_cookies()}
        cookie = cookies["harness_admin_token"]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/_harness"
        assert driver.execute_script("return document.cookie") == ""  # not readable by scripts
        driver.delete_all_cookies()
