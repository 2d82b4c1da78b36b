"""The conformance matrix: derived expectations, the runner, and broken toy clients.

A toy client reads the OpenAI route with httpx the way a small gateway would; each
variant has one deliberate bug (silent truncation, invented usage, an ignored
``retry-after``, a crash on a keep-alive) and must show as failed cells with the right
reason, while the correct variant passes the same cells. Everything runs against the
real server on a loopback port.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.conformance import Outcome, OutcomeError, ToolCall, compare
from harness.conformance.clients.base import Call, Client
from harness.conformance.command import run_matrix
from harness.conformance.matrix import FAULTS, cells, derive, fault_set
from harness.conformance.results import Run
from harness.errors import UsageError
from harness.mock.replay import build_plan, parse_faults
from harness.mock.scenario import Expect, ScenarioSet, load_scenarios
from harness.testing import run_server

BUILTINS = load_scenarios()


def scenarios(*names: str) -> ScenarioSet:
    found = [BUILTINS.get(name) for name in names]
    assert all(found), names
    return ScenarioSet([s for s in found if s is not None])


# --- derived expectations -------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(BUILTINS), ids=BUILTINS.names)
def test_derived_on_its_own_route_is_the_scenarios_expect(scenario: Any) -> None:
    """harness's reading of what it sends agrees with every hand-written ``expect``,
    absence demands included: the reference reader is checked before it judges clients."""
    assert scenario.expect is not None
    derived = derive(scenario, scenario.provider).model_dump(exclude_none=True)
    for field, value in scenario.expect.model_dump(exclude_none=True).items():
        assert derived.get(field) == value, field


def test_faults_change_the_expectation_as_they_should() -> None:
    text = BUILTINS.get("anthropic/text")
    assert text is not None
    plain = derive(text, "openai")
    assert plain.error is None
    assert plain.finish_reason == "stop"
    broken = derive(text, "openai", "error_after=4")
    assert broken.error is not None
    assert broken.error.code == "overloaded_error"
    assert broken.finish_reason == "absent"
    assert broken.usage is None
    assert broken.text or ""
    assert plain.text
    assert plain.text.startswith(broken.text or "")
    cut = derive(text, "anthropic", "disconnect_inside=5")
    assert cut.error is not None
    assert cut.error.code == "connection_closed"
    for overlay in ("chunking=byte", "chunking=random; seed=3", "keepalive_every=1"):
        assert derive(text, "anthropic", overlay) == derive(text, "anthropic")
    dropped = derive(text, "anthropic", "drop_usage=true")
    assert dropped.usage == "absent"  # the client must not invent it


def test_cells_skip_what_cannot_apply_and_say_why() -> None:
    matrix = {
        (c.scenario.name, c.fault.name): c
        for c in cells(
            list(scenarios("gemini/text", "openai/http-429")), fault_set("default"), "gemini"
        )
    }
    assert "Gemini sends none" in matrix["gemini/text", "keepalive=comment"].skip
    assert not matrix["gemini/text", "chunking=byte"].skip
    assert ("openai/http-429", "none") not in matrix  # the Gemini route cannot serve it
    http = {
        c.fault.name: c
        for c in cells(list(scenarios("openai/http-429")), fault_set("default"), "openai")
    }
    assert "not a stream" in http["error_after"].skip
    assert http["none"].expect is not None
    assert http["none"].expect.error is not None
    assert http["retry-429"].attempts == 2


def test_fault_sets_and_unknown_faults() -> None:
    assert [f.name for f in fault_set("none")] == ["none"]
    assert len(fault_set("default")) == len(FAULTS)
    assert [f.name for f in fault_set("error_after, chunking=byte")] == [
        "error_after",
        "chunking=byte",
    ]
    with pytest.raises(UsageError, match="unknown fault 'nope'"):
        fault_set("error_after,nope")


def test_absent_demands_in_compare() -> None:
    expect = Expect.model_validate({"usage": "absent", "finish_reason": "absent"})
    assert compare(Outcome(), expect) == []
    invented = Outcome(usage={"prompt_tokens": 0}, finish_reason="stop")
    assert compare(invented, expect) == [
        "finish_reason: expected none (the provider sent none), got 'stop'",
        "usage: expected none (the provider reported none), got {'prompt_tokens': 0}",
    ]


# --- the server side of the matrix: faults in the URL, fail_first ----------------------


def test_faults_in_the_base_url_and_fail_first() -> None:
    with run_server() as server:
        url = server.base_url("openai/text", test_id="u", faults="http_error=429; fail_first=1")
        assert "/t/u/f/http_error=429;%20fail_first=1/s/openai/text/v1" in url
        body = {"model": "m", "messages": [], "stream": True}
        first = httpx.post(url + "/chat/completions", json=body, timeout=10)
        second = httpx.post(url + "/chat/completions", json=body, timeout=10)
        assert (first.status_code, second.status_code) == (429, 200)
        assert b"[DONE]" in second.content
        assert [e.answer for e in server.entries("u")] == [0, 0]  # no responses step used up
        header = {"x-harness-faults": "disconnect_inside=1"}
        cut = server.base_url("openai/text", test_id="h", faults="chunking=byte")
        with (
            httpx.stream("POST", cut + "/chat/completions", json=body, headers=header) as answer,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            b"".join(answer.iter_raw())
        [entry] = server.entries("h")
        assert entry.faults is not None
        assert (entry.faults.chunking, entry.faults.disconnect_inside) == ("byte", 1)


# --- toy clients ---------------------------------------------------------------------------


def toy(bug: str = "") -> Client:
    """A small httpx client of the OpenAI route, with one deliberate ``bug``."""

    def run(call: Call) -> Outcome:
        outcome = Outcome()
        for attempt in range(call.retries + 1):
            try:
                with httpx.stream(
                    "POST",
                    call.base_url + "/chat/completions",
                    json={"model": "m", "messages": [], "stream": True},
                    timeout=call.timeout,
                ) as answer:
                    if answer.status_code == 429 and attempt < call.retries:
                        wait = 0.0 if bug == "retry" else float(answer.headers["retry-after"])
                        time.sleep(wait)
                        continue
                    if answer.status_code >= 400:
                        outcome.error = OutcomeError(status=answer.status_code)
                        return outcome
                    _read(answer, outcome, bug)
            except httpx.TransportError:
                if bug != "truncation":
                    outcome.error = OutcomeError(code="connection_closed")
            break
        if bug == "usage" and outcome.usage is None:
            outcome.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return outcome

    return Client(name=f"toy-{bug or 'correct'}", family="openai", distribution="httpx", run=run)


def _read(answer: httpx.Response, outcome: Outcome, bug: str) -> None:
    done = False
    for line in answer.iter_lines():
        if line.startswith(":") and bug == "keepalive":
            raise ValueError(f"unexpected line {line!r}")
        if not line.startswith("data: "):
            continue
        if line == "data: [DONE]":
            done = True
            break
        chunk = json.loads(line[6:])
        if "error" in chunk:
            outcome.error = OutcomeError(code=chunk["error"].get("code"))
            return
        if chunk.get("usage"):
            usage = chunk["usage"]
            outcome.usage = {
                k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
            }
        for choice in chunk.get("choices", []):
            outcome.text += (choice.get("delta") or {}).get("content") or ""
            outcome.finish_reason = choice.get("finish_reason") or outcome.finish_reason
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                if call.get("function", {}).get("name"):
                    outcome.tool_calls.append(ToolCall(call["function"]["name"]))
    if not done and bug != "truncation":
        outcome.error = OutcomeError(code="connection_closed")


FAULTS_USED = "none,disconnect_after,disconnect_inside,keepalive=comment,drop_usage,retry-429"
TOY_SCENARIOS = scenarios("openai/text", "openai/usage-absent")


def matrix(bug: str) -> dict[tuple[str, str], Any]:
    run = run_matrix(toy(bug), TOY_SCENARIOS, fault_set(FAULTS_USED), "openai", timeout=10)
    return {(r.scenario, r.fault): r for r in run.results}


def _cannot_tools(results: dict[tuple[str, str], Any]) -> None:
    # The toy keeps no arguments: its tool calls are never compared (no tool scenarios here).
    assert all(not r.expected.get("tool_calls") for r in results.values())


def test_the_correct_toy_passes_every_cell() -> None:
    results = matrix("")
    _cannot_tools(results)
    assert {r.verdict for r in results.values()} == {"pass"}, [
        (k, r.differences) for k, r in results.items() if r.verdict != "pass"
    ]


def test_silent_truncation_fails_the_cut_cells() -> None:
    results = matrix("truncation")
    for fault in ("disconnect_after", "disconnect_inside"):
        result = results["openai/text", fault]
        assert result.verdict == "fail"
        assert "error: expected code 'connection_closed', got none" in result.differences[0]
        assert "/f/" in result.reproduction
        assert "openai/text" in result.reproduction
    assert results["openai/text", "none"].verdict == "pass"


def test_invented_usage_fails_where_the_provider_sent_none() -> None:
    results = matrix("usage")
    assert results["openai/usage-absent", "none"].verdict == "fail"
    assert results["openai/text", "drop_usage"].verdict == "fail"
    assert results["openai/text", "drop_usage"].differences == [
        "usage: expected none (the provider reported none), got "
        "{'prompt_tokens': 0, 'completion_tokens': 0, 'total_tokens': 0}"
    ]
    assert results["openai/text", "none"].verdict == "pass"


def test_an_ignored_retry_after_fails_the_retry_cell() -> None:
    result = matrix("retry")["openai/text", "retry-429"]
    assert result.verdict == "fail"
    assert result.differences[0].startswith("retry: the retry came 0.")
    assert "before its retry-after of 1 s" in result.differences[0]


def test_a_crash_on_a_keepalive_is_an_error_cell_with_its_traceback() -> None:
    result = matrix("keepalive")["openai/text", "keepalive=comment"]
    assert result.verdict == "error"
    assert result.differences == ["ValueError: unexpected line ': keep-alive'"]
    assert "Traceback" in result.traceback
    assert "_read" in result.traceback


def test_a_hanging_client_times_out_one_cell_not_the_run() -> None:
    def hang(call: Call) -> Outcome:
        time.sleep(30)
        return Outcome()

    client = Client(name="hang", family="openai", distribution="", run=hang)
    started = time.monotonic()
    run = run_matrix(
        client, scenarios("openai/text"), fault_set("none,drop_usage"), "openai", timeout=0.3
    )
    assert time.monotonic() - started < 5
    assert [r.verdict for r in run.results] == ["timeout", "timeout"]
    assert run.results[0].differences == ["the client did not finish within 0.3 s"]


# --- the command -----------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "conformance", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_the_command_writes_the_three_reports(tmp_path: Path) -> None:
    done = _cli(
        "--client", "openai", "--select", "openai/text", "--select", "anthropic/error-midstream",
        "--faults", "none,error_after,chunking=byte", "--report", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 cases in" in done.stdout
    assert "6 pass" in done.stdout
    run = Run.from_json(json.loads((tmp_path / "out" / "results.json").read_text()))
    assert {r.client for r in run.results} == {"openai"}
    assert run.results[0].version
    assert (tmp_path / "out" / "junit.xml").read_text().count("<testcase") == 6
    assert "report.html" in done.stdout


def test_the_command_fails_a_nonconforming_client_and_refuses_bad_arguments(tmp_path: Path) -> None:
    done = _cli("--client", "openai", "--select", "openai/cut-clean", "--faults", "none")
    assert done.returncode == 1
    assert (
        "FAIL    openai/cut-clean [none]: error: expected code 'connection_closed'" in done.stdout
    )
    known = tmp_path / "known.yaml"
    known.write_text("openai:\n  openai/cut-clean: the openai SDK ends a clean cut silently\n")
    done = _cli(
        "--client",
        "openai",
        "--select",
        "openai/cut-clean",
        "--faults",
        "none",
        "--known",
        str(known),
    )
    assert done.returncode == 0
    assert "1 known" in done.stdout
    assert _cli("--client", "nope").returncode == 2
    assert "unknown client 'nope'" in _cli("--client", "nope").stderr
    assert "unknown fault" in _cli("--client", "openai", "--faults", "x").stderr
    listing = _cli("--list")
    assert listing.returncode == 0
    assert "boto3-converse" in listing.stdout


# --- fixes from review: each an input that showed a wrong answer ----------------------------


def test_an_overlay_may_hold_an_encoded_slash() -> None:
    with run_server() as server:
        faults = "error_after=1; error_message=upstream/gateway timeout"
        url = server.base_url("openai/text", test_id="slash", faults=faults)
        body = {"model": "m", "messages": [], "stream": True}
        answer = httpx.post(url + "/chat/completions", json=body, timeout=10)
        assert answer.status_code == 200
        assert '"message":"upstream/gateway timeout"' in answer.text
        [entry] = server.entries("slash")
        assert entry.path == "/v1/chat/completions"


def test_fail_first_on_an_answer_of_a_sequence() -> None:
    from harness.mock.scenario import parse_scenario

    sequence = parse_scenario(
        "version: 1\nname: seq\nprovider: openai\nresponses:\n"
        "  - {status: 500, body: {error: {message: boom, type: server_error}}}\n"
        "  - faults: {http_error: 429, fail_first: 1}\n"
        "    events:\n"
        "      - {data: {id: c, object: chat.completion.chunk, created: 1, model: m,"
        " choices: [{index: 0, delta: {content: ok}, finish_reason: stop}]}}\n"
        '      - {data: "[DONE]"}\n'
    )
    with run_server(ScenarioSet([sequence])) as server:
        url = server.base_url("seq", test_id="q") + "/chat/completions"
        body = {"model": "m", "messages": [], "stream": True}
        statuses = [httpx.post(url, json=body, timeout=10).status_code for _ in range(4)]
        assert statuses == [500, 429, 200, 200]
        assert [entry.answer for entry in server.entries("q")] == [0, 1, 1, 1]


def test_cells_that_would_test_nothing_are_skipped() -> None:
    blocked = {
        c.fault.name: c
        for c in cells(list(scenarios("gemini/prompt-blocked")), fault_set("default"), "openai")
    }
    assert "1 events in the scenario" in blocked["error_after"].skip  # counted at the source
    rendered = {
        c.fault.name: c
        for c in cells(list(scenarios("anthropic/text")), fault_set("default"), "openai")
    }
    assert "estimates usage" in rendered["drop_usage"].skip
    own = {
        c.fault.name: c
        for c in cells(list(scenarios("openai/text")), fault_set("default"), "openai")
    }
    assert not own["drop_usage"].skip
    converse = {
        c.fault.name: c
        for c in cells(
            list(scenarios("bedrock-converse/text")), fault_set("default"), "bedrock-converse"
        )
    }
    assert converse["retry-429"].overlay == "http_error=429; fail_first=1"  # AWS sends none


def test_disconnect_inside_cuts_an_event_not_a_comment() -> None:
    ping = BUILTINS.get("openai/keepalive-ping")
    assert ping is not None
    for overlay in ("disconnect_inside=2", "keepalive_every=1; disconnect_inside=2"):
        plan = build_plan(
            ping, ping.answers[0], target="openai", stream=True, faults=parse_faults(overlay)
        )
        body = b"".join(write.data for write in plan.writes)
        assert plan.abort
        assert body.rsplit(b"\n\n", 1)[1].startswith(b"data: {")
