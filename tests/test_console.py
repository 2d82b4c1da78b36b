"""The console's server side: its page and JSON over a real loopback server (httpx), the
timelines it draws (against the replay plans the server sends), its access rules, and
`harness ui`. What the page does with them is tests/test_console_browser.py."""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.conformance.results import CaseResult, Run
from harness.mock.console import SECURITY_HEADERS, side_by_side
from harness.mock.options import ServerOptions
from harness.mock.replay import build_plan, parse_faults
from harness.mock.scenario import Faults, Scenario, load_scenarios
from harness.mock.serve import ServerThread
from harness.mock.timeline import MAX_BLOCKS, View, route_views, timeline
from tests.processes import read_line, start_harness

ROOT = Path(__file__).resolve().parent.parent
BUILTINS = load_scenarios()
UI = "/_harness/ui/"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(BUILTINS, ServerOptions(goldens=ROOT / "tests" / "golden")) as running:
        yield running


def _get(server: ServerThread, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(server.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def _scenario(name: str) -> Scenario:
    found = BUILTINS.get(name)
    assert found is not None
    return found


# --- the timeline against the plan -----------------------------------------------------------


@pytest.mark.parametrize("name", BUILTINS.names)
def test_every_view_of_every_scenario_accounts_for_every_byte_and_write(name: str) -> None:
    """Blocks tile the body with no gap or overlap; writes are the plan's, in order, each
    naming exactly the blocks it carries part of."""
    scenario = _scenario(name)
    for index, answer in enumerate(scenario.answers):
        faults = answer.faults or Faults()
        for view in route_views(scenario):
            data = timeline(scenario, index, view, faults)
            if "error" in data:
                continue  # not servable there: the server answers 400 too
            plan = build_plan(
                scenario,
                answer,
                target=view.route,
                stream=answer.streaming,
                normalize=view.normalize,
                faults=faults,
            )
            assert data["write_count"] == len(plan.writes)
            assert [w["size"] for w in data["writes"]] == [len(w.data) for w in plan.writes]
            assert data["abort"] == plan.abort
            assert data["status"] == plan.status
            body = b"".join(w.data for w in plan.writes)
            blocks = data["blocks"]
            assert blocks[0]["start"] == 0 if body else True
            for before, after in itertools.pairwise(blocks):
                assert before["end"] == after["start"]
            assert (blocks[-1]["end"] if blocks else 0) == len(body)
            for write in data["writes"]:
                span = (write["start"], write["start"] + write["size"])
                carried = [
                    i for i, b in enumerate(blocks) if b["start"] < span[1] and b["end"] > span[0]
                ]
                assert write["blocks"] == carried


def _markers(name: str, overlay: str, view: str = "raw") -> tuple[list[dict], list[dict]]:
    scenario = _scenario(name)
    chosen = next(v for v in route_views(scenario) if v.name == view)
    faults = (scenario.answers[0].faults or Faults()).merged(parse_faults(overlay))
    data = timeline(scenario, 0, chosen, faults)
    return data["markers"], data["blocks"]


@pytest.mark.parametrize("after", [1, 2, 5])
@pytest.mark.parametrize("view", ["raw", "openai", "responses", "converse"])
def test_the_error_marker_is_on_the_event_the_fault_adds(after: int, view: str) -> None:
    markers, blocks = _markers("anthropic/text", f"error_after={after}", view)
    errors = [m for m in markers if m["kind"] == "error"]
    assert len(errors) == 1
    marked = blocks[errors[0]["block"]]
    assert marked is blocks[-1] or blocks[-1]["kind"] != "event"
    assert any(item.startswith("error ") for item in marked["reading"])
    if view == "raw":  # the scenario's own events: the error is event after + 1
        assert errors[0]["event"] == after + 1
        assert marked["name"] == "error"


def test_a_cut_inside_an_event_is_marked_inside() -> None:
    markers, blocks = _markers("openai/text", "disconnect_inside=3")
    (cut,) = [m for m in markers if m["kind"] == "cut"]
    assert cut["inside"]
    assert blocks[cut["block"]]["kind"] == "partial"
    assert [b["kind"] for b in blocks].count("event") == 3
    markers, blocks = _markers("openai/text", "disconnect_after=3")
    (cut,) = [m for m in markers if m["kind"] == "cut"]
    assert not cut["inside"]
    assert cut["block"] == 2


def test_keepalives_and_stalls_are_marked_where_they_land() -> None:
    markers, blocks = _markers("openai/text", "keepalive_every=2; keepalive_style=ping")
    keepalives = [m["block"] for m in markers if m["kind"] == "keepalive"]
    assert keepalives
    assert all(blocks[i]["kind"] == "comment" for i in keepalives)
    assert all(blocks[i - 1]["event"] % 2 == 0 for i in keepalives)
    scenario = _scenario("openai/text")
    faults = parse_faults("stall_after=2; stall_ms=1500")
    data = timeline(scenario, 0, View("raw", "openai", False), faults)
    stalled = [w for w in data["writes"] if w["stall_ms"]]
    assert [w["stall_ms"] for w in stalled] == [1500.0]
    assert stalled[0]["index"] == 2


def test_rechunking_shows_blocks_spanning_writes() -> None:
    scenario = _scenario("openai/utf8-split")
    data = timeline(scenario, 0, View("raw", "openai", False), parse_faults("chunking=byte"))
    assert all(w["size"] == 1 for w in data["writes"])
    assert all(len(w["blocks"]) == 1 for w in data["writes"])


def test_an_event_stream_is_cut_into_its_messages() -> None:
    scenario = _scenario("bedrock-converse/text")
    data = timeline(scenario, 0, route_views(scenario)[0], Faults())
    names = [b.get("name") for b in data["blocks"]]
    assert names[0] == "messageStart"
    assert names[-1] == "metadata"
    assert any("text" in item for b in data["blocks"] for item in b["reading"])


def test_a_long_stream_is_described_up_to_a_bound() -> None:
    scenario = _scenario("openai/text")
    data = timeline(scenario, 0, View("raw", "openai", False), parse_faults("chunking=byte"))
    assert data["write_count"] > MAX_BLOCKS
    assert len(data["writes"]) == MAX_BLOCKS
    assert data["truncated_writes"] == data["write_count"] - MAX_BLOCKS


# --- the endpoints -----------------------------------------------------------------------------


def test_the_page_and_assets_are_served_with_a_strict_policy(server: ServerThread) -> None:
    page = _get(server, UI)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert "access-control-allow-origin" not in page.headers
    assert '<script src="static/console.js"' in page.text
    assert "<script>" not in page.text
    assert "style=" not in page.text
    for asset, kind in [
        ("console.js", "javascript"),
        ("console.css", "css"),
        ("favicon.svg", "svg"),
    ]:
        got = _get(server, UI + "static/" + asset)
        assert got.status_code == 200
        assert kind in got.headers["content-type"]
        assert b"http://" not in got.content.replace(b"http://www.w3.org/2000/svg", b"")
        assert b"https://" not in got.content
    missing = _get(server, UI + "static/../admin.py")
    assert missing.status_code == 404


def test_scenarios_list_every_scenario_with_its_families(server: ServerThread) -> None:
    rows = _get(server, UI + "api/scenarios").json()["scenarios"]
    assert [row["name"] for row in rows] == BUILTINS.names
    by_name = {row["name"]: row for row in rows}
    assert by_name["gemini/text"]["families"] == [
        "openai",
        "openai-responses",
        "gemini",
        "azure-responses",
        "azure",
        "vertex-gemini",
        "bedrock-converse",
    ]
    cut = by_name["openai/cut-abrupt"]
    assert cut["expect"] is True
    assert cut["provider"] == "openai"


def test_a_scenario_row_names_its_own_faults(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "openai" / "text.yaml").read_text()
    (tmp_path / "faulty.yaml").write_text(text + "faults: {error_after: 3, chunking: byte}\n")
    with ServerThread(load_scenarios(tmp_path), ServerOptions()) as running:
        (row,) = _get(running, UI + "api/scenarios").json()["scenarios"]
    assert row["name"] == "faulty"
    assert row["faults"] == ["error_after=3, chunking=byte"]


def test_timeline_endpoint_agrees_with_the_module_and_refuses_bad_input(
    server: ServerThread,
) -> None:
    got = _get(
        server, UI + "api/timeline", params={"scenario": "openai/text", "faults": "error_after=2"}
    )
    data = got.json()
    scenario = _scenario("openai/text")
    faults = parse_faults("error_after=2")
    assert data["views"] == json.loads(
        json.dumps([timeline(scenario, 0, view, faults) for view in route_views(scenario)])
    )
    assert data["header"] == "x-harness-faults: error_after=2"
    assert data["prefix"] == "/f/error_after=2/"
    bad = _get(
        server, UI + "api/timeline", params={"scenario": "openai/text", "faults": "error_afterr=2"}
    )
    assert bad.status_code == 400
    assert "did you mean 'error_after'" in bad.json()["error"]["message"]
    unknown = _get(server, UI + "api/timeline", params={"scenario": "openai/txt"})
    assert unknown.status_code == 404
    assert "openai/text" in unknown.json()["error"]["message"]
    beyond = _get(server, UI + "api/timeline", params={"scenario": "openai/text", "answer": "1"})
    assert beyond.status_code == 400
    assert "answers 0 to 0" in beyond.json()["error"]["message"]


def test_a_request_is_journaled_with_what_its_timeline_needs(server: ServerThread) -> None:
    with (
        httpx.Client(base_url=server.url) as http,
        http.stream(
            "POST",
            "/t/console-test/f/chunking=random;seed=3/s/anthropic/text/v1/chat/completions",
            json={"model": "my-own-model", "stream": True, "messages": []},
        ) as response,
    ):
        received = list(response.iter_raw())
    rows = _get(server, UI + "api/requests").json()["requests"]
    row = next(r for r in rows if r["test_id"] == "console-test")
    assert row["scenario"] == "anthropic/text"
    assert row["outcome"] == "completed"
    assert row["faults"] == "chunking=random, seed=3"
    assert row["model"] == "my-own-model"
    assert row["duration_ms"] >= 0
    assert "body" not in row
    one = _get(server, UI + f"api/requests/{row['seq']}").json()
    sent = one["timeline"]
    assert one["request"]["body"]["model"] == "my-own-model"
    body = b"".join(received)
    assert sent["bytes"] == len(body)
    assert "".join(block["text"] for block in sent["blocks"]) == body.decode()
    assert _get(server, UI + "api/requests/999999").status_code == 404


def test_goldens_show_each_mismatch_side_by_side(tmp_path: Path) -> None:
    goldens = tmp_path / "golden"
    shutil.copytree(ROOT / "tests" / "golden", goldens)
    changed = goldens / "gemini" / "text.openai.sse"
    changed.write_bytes(changed.read_bytes().replace(b"Hello", b"Howdy", 1))
    (goldens / "gemini" / "text.raw.sse").unlink()
    options = ServerOptions(goldens=goldens, scenarios_dir=ROOT / "scenarios")
    with ServerThread(BUILTINS, options) as running:
        data = _get(running, UI + "api/goldens").json()
    (mismatch,) = data["mismatches"]
    assert mismatch["scenario"] == "gemini/text"
    assert mismatch["kind"] == "openai"
    changed_rows = [row for row in mismatch["rows"] if row[0] != "equal"]
    assert len(changed_rows) == 1
    assert "Howdy" in changed_rows[0][2]
    assert "Hello" in changed_rows[0][4]
    assert data["missing"] == [str(goldens / "gemini" / "text.raw.sse")]
    assert mismatch["command"] == (
        f"harness check --update --goldens {goldens} --scenarios {ROOT / 'scenarios'}"
    )


def test_side_by_side_rows() -> None:
    old = b"a\nb\nc\nd\ne\nf\ng\nh\ni\n"
    new = b"a\nB\nc\nd\ne\nf\ng\nh\ni\nj\n"
    rows = side_by_side(old, new, context=1)
    assert ["replace", 2, "b", 2, "B"] in rows
    assert ["insert", None, "", 10, "j"] in rows
    assert ["skip", None, "", None, ""] in rows
    assert side_by_side(b"same\r\n", b"same\n")[0][2] == "same\\r"


def test_goldens_and_report_say_what_is_missing(server: ServerThread) -> None:
    with ServerThread(BUILTINS, ServerOptions()) as bare:
        assert _get(bare, UI + "api/goldens").json()["goldens"] is None
        report = _get(bare, UI + "api/report")
        assert report.status_code == 404
        assert "results.json" in report.json()["error"]["message"]
    assert _get(server, UI + "api/goldens").json()["mismatches"] == []


# --- access -----------------------------------------------------------------------------------


def test_without_a_token_only_loopback_host_names_are_answered(server: ServerThread) -> None:
    port = server.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.2"):
        assert _get(server, UI + "api/info", headers={"host": host}).status_code == 200, host
    for host in (f"evil.example:{port}", "192.168.1.4", "localhost.evil.example"):
        refused = _get(server, UI, headers={"host": host})
        assert refused.status_code == 403, host
        assert "loopback" in refused.json()["error"]["message"]
    # The mock's own routes and other admin endpoints keep answering any host name.
    assert _get(server, "/_harness/health", headers={"host": "evil.example"}).status_code == 200


def test_with_a_token_the_console_needs_it_once_then_a_cookie(tmp_path: Path) -> None:
    with ServerThread(BUILTINS, ServerOptions(admin_token="s3cret")) as running:
        assert _get(running, UI).status_code == 401
        assert _get(running, UI + "api/scenarios").status_code == 401
        assert _get(running, UI + "?token=wrong").status_code == 401
        given = _get(running, UI + "?token=s3cret")
        assert given.status_code == 303
        assert given.headers["location"] == UI
        cookie = given.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/_harness" in cookie
        with httpx.Client(base_url=running.url) as browserlike:
            browserlike.cookies.set("harness_admin_token", "s3cret")
            assert browserlike.get(UI + "api/scenarios").status_code == 200
            assert browserlike.get("/_harness/requests").status_code == 200
        header = {"x-harness-admin-token": "s3cret", "host": "any.example"}
        assert _get(running, UI + "api/info", headers=header).status_code == 200


def test_harness_ui_serves_no_api_routes() -> None:
    with ServerThread(BUILTINS, ServerOptions(serve_clients=False)) as running:
        post = httpx.post(running.url + "/s/openai/text/v1/chat/completions", json={"messages": []})
        assert post.status_code == 404
        assert _get(running, UI + "api/info").json()["serve_clients"] is False


# --- the command --------------------------------------------------------------------------------


def test_harness_ui_opens_a_report_folder(tmp_path: Path) -> None:
    run = Run(
        results=[
            CaseResult(
                scenario="openai/text",
                fault="none",
                overlay="",
                route="openai",
                client="openai",
                version="1",
                expected={},
                observed={},
                verdict="pass",
            )
        ],
        started="2026-12-04T20:00:00Z",
    )
    (tmp_path / "results.json").write_text(json.dumps(run.to_json()))
    process, first = start_harness("ui", str(tmp_path), "--port", "0", cwd=ROOT)
    try:
        assert first.startswith("harness: console on http://127.0.0.1:"), first
        console = first.split(" on ", 1)[1].strip()
        assert console.endswith(UI)
        report = httpx.get(console + "api/report", timeout=10).json()
        assert report["results"][0]["scenario"] == "openai/text"
        info = httpx.get(console + "api/info", timeout=10).json()
        assert info["serve_clients"] is False
        assert info["goldens"] == str(ROOT / "tests" / "golden")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_harness_ui_refuses_what_it_cannot_open(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{oops")
    for args, message in [
        (["ui", str(bad)], f"harness ui: {bad}:"),
        (["ui", str(tmp_path / "nowhere")], "no such file or folder"),
        (["ui", "--goldens", str(bad)], "not a folder"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "harness", *args, "--port", "0"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr


def test_harness_serve_names_the_console(tmp_path: Path) -> None:
    process, first = start_harness("serve", "--port", "0", "--speed", "0", cwd=tmp_path)
    try:
        lines = [first, *(read_line(process) for _ in range(5))]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert any(line.strip().startswith("console:") and line.rstrip().endswith(UI) for line in lines)


def test_the_journal_gives_the_last_requests_over_every_test_id_in_order() -> None:
    from harness.mock.journal import Entry, Journal

    journal = Journal(max_entries=3)
    for number in range(10):
        journal.add(
            f"t{number % 3}",
            Entry(time=number, method="POST", path=f"/{number}", query={}, headers={}),
        )
    recent = journal.recent(4)
    assert [entry.path for _, entry in recent] == ["/6", "/7", "/8", "/9"]
    assert [tid for tid, _ in recent] == ["t0", "t1", "t2", "t0"]
    assert [entry.seq for _, entry in recent] == [7, 8, 9, 10]
    assert journal.recent(0) == []
    # Only what each test id keeps (3 each): 9 entries, the oldest dropped.
    assert len(journal.recent(100)) == 9
    found = journal.find(8)
    assert found is not None
    assert found[1].path == "/7"
    assert journal.find(1) is None  # dropped from t0's group
