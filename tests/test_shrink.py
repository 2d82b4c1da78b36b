"""harness shrink: delta debugging of a scenario against a failing command."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.mock.scenario import ScenarioSet, load_scenario, parse_scenario
from harness.shrink import (
    add_shrink_arguments,
    command_environment,
    ddmin,
    is_terminal,
    run_shrink,
    scenario_text,
)
from harness.testing import run_server

#: A deliberately buggy client: it fails (exit 1) when a ``: ping`` comment comes
#: right after an event that carried an ``id:`` line; exit 0 otherwise.
TOY = textwrap.dedent(
    """\
    import os, sys
    import httpx

    base = os.environ.get("HARNESS_BASE_URL_OPENAI") or os.environ["HARNESS_BASE_URL"] + "/v1"
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    had_id = last_had_id = False
    with httpx.stream("POST", base + "/chat/completions", json=body, timeout=10) as answer:
        if answer.status_code != 200:
            sys.exit(0)
        for line in answer.iter_lines():
            if line.startswith(":") and "ping" in line:
                if last_had_id:
                    sys.exit(1)  # the bug
            elif line.startswith("id:"):
                had_id = True
            elif line == "":
                last_had_id, had_id = had_id, False
            elif line.startswith("data:"):
                last_had_id = False
    sys.exit(0)
    """
)


def _chunk(n: int, content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {
        "id": "chatcmpl-shrink",
        "object": "chat.completion.chunk",
        "created": 1735689600,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def long_stream(events: int = 200, *, trigger: int = 137) -> dict[str, Any]:
    """An OpenAI chat stream of ``events`` chunks; some carry an ``id:``, ``: ping``
    comments are interspersed, and exactly one ping (after chunk ``trigger``) follows
    an event with an id; then the finish chunk and ``[DONE]``."""
    steps: list[dict[str, Any]] = []
    for n in range(events):
        step: dict[str, Any] = {"data": _chunk(n, f"w{n} ")}
        if n % 10 == 3 or n == trigger:
            step["id"] = f"ev-{n}"
        steps.append(step)
        # The other pings follow events without an id (n % 10 == 3 never gets one).
        if n == trigger or (n % 7 == 0 and n % 10 != 3):
            steps.append({"comment": "ping"})
    steps.append({"data": _chunk(events, None, "stop")})
    steps.append({"data": "[DONE]"})
    return {
        "version": 1,
        "name": "openai/long-pings",
        "provider": "openai",
        "headers": {"x-request-id": "req_1"},
        "events": steps,
    }


def _write_scenario(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / "long.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _shrink(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="harness shrink")
    add_shrink_arguments(parser)
    return run_shrink(parser.parse_args(argv))


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.py"
    path.write_text(TOY, encoding="utf-8")
    return path


def _toy_fails(path: Path, toy: Path) -> bool:
    scenario = load_scenario(path)
    with run_server(ScenarioSet([scenario])) as server:
        env = {**os.environ, **command_environment(server, scenario.name)}
        done = subprocess.run([sys.executable, str(toy)], env=env, timeout=30, check=False)
    return done.returncode == 1


def _events(path: Path) -> list[dict[str, Any]]:
    scenario = load_scenario(path)
    return [step.model_dump(exclude_none=True) for step in scenario.events or []]


def test_acceptance_200_events_to_at_most_three(
    tmp_path: Path, toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write_scenario(tmp_path, long_stream(200))
    assert len(load_scenario(source).events or []) > 200
    out = tmp_path / "minimal.yaml"
    started = time.monotonic()
    code = _shrink([str(source), "-o", str(out), "--", sys.executable, str(toy)])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 0, err
    steps = _events(out)
    assert len(steps) <= 3
    # The trigger is kept: an event with an id, and a ping right after it.
    pairs = itertools.pairwise(steps)
    assert any("id" in a and b.get("comment") == "ping" for a, b in pairs), steps
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Minimized by `harness shrink`")
    assert "Removed:" in text
    assert "comment step" in text
    assert toy.name in text
    assert "headers field(s)" in text
    assert _toy_fails(out, toy)  # served on its own, the minimal scenario still fails
    runs = int(text.split(" in ", 1)[1].split(" runs")[0])
    assert runs <= 500
    assert "run 1/500" in err
    assert "wrote" in err
    print(f"acceptance: {runs} runs in {elapsed:.1f} s")  # shown with -s


def test_deterministic_and_stable(tmp_path: Path, toy: Path) -> None:
    """Two runs write identical files; shrinking the result again removes nothing
    (it still fails from the start: no exit 2)."""
    source = _write_scenario(tmp_path, long_stream(40, trigger=21))
    outputs = []
    for n in (1, 2):
        out = tmp_path / f"minimal-{n}.yaml"
        assert _shrink([str(source), "-o", str(out), "--", sys.executable, str(toy)]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    again = tmp_path / "again.yaml"
    assert _shrink([str(out), "-o", str(again), "--", sys.executable, str(toy)]) == 0
    assert _events(again) == _events(out)


def test_max_runs_bound(tmp_path: Path, toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write_scenario(tmp_path, long_stream(40, trigger=21))
    out = tmp_path / "minimal.yaml"
    code = _shrink([str(source), "-o", str(out), "--max-runs", "4", "--", sys.executable, str(toy)])
    err = capsys.readouterr().err
    assert code == 0
    assert "stopped at --max-runs 4" in err
    assert "run 4/4" in err
    assert "run 5/" not in err
    text = out.read_text(encoding="utf-8")
    assert "in 4 runs" in text
    assert "Stopped at --max-runs 4" in text
    # The best so far: smaller than the original, and still failing.
    assert 2 <= len(_events(out)) < len(_events(source))
    assert any(step.get("comment") == "ping" for step in _events(out))


def test_passes_on_original_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write_scenario(tmp_path, long_stream(5, trigger=2))
    out = tmp_path / "minimal.yaml"
    code = _shrink([str(source), "-o", str(out), "--", sys.executable, "-c", "pass"])
    assert code == 2
    assert "the command passes on the original scenario" in capsys.readouterr().err
    assert not out.exists()


def test_timeout_counts_as_passing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write_scenario(tmp_path, long_stream(5, trigger=2))
    out = tmp_path / "minimal.yaml"
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    started = time.monotonic()
    code = _shrink([str(source), "-o", str(out), "--timeout", "0.5", "--", *hang])
    assert time.monotonic() - started < 10
    assert code == 2
    assert "over --timeout" in capsys.readouterr().err


def test_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write_scenario(tmp_path, long_stream(5, trigger=2))
    out = tmp_path / "minimal.yaml"
    out.write_text("keep me", encoding="utf-8")
    assert _shrink([str(source), "-o", str(out), "--", sys.executable, "-c", "pass"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "keep me"


def test_options_after_scenario_and_environment(tmp_path: Path) -> None:
    """Options may follow SCENARIO; the command sees every base URL variable."""
    source = _write_scenario(tmp_path, long_stream(3, trigger=1))
    seen = tmp_path / "env.json"
    script = (
        "import json, os, sys; "
        f"json.dump({{k: v for k, v in os.environ.items() if k.startswith('HARNESS_')}}, "
        f"open({str(seen)!r}, 'w')); sys.exit(1)"
    )
    out = tmp_path / "minimal.yaml"
    assert (
        _shrink(
            [str(source), "--max-runs", "1", "-o", str(out), "--", sys.executable, "-c", script]
        )
        == 0
    )
    env = json.loads(seen.read_text(encoding="utf-8"))
    root = env["HARNESS_BASE_URL"]
    assert root.startswith("http://127.0.0.1:")
    assert root.endswith("/s/openai/long-pings")
    assert env["HARNESS_SCENARIO"] == "openai/long-pings"
    assert env["HARNESS_BASE_URL_OPENAI"] == root + "/v1"
    assert env["HARNESS_BASE_URL_ANTHROPIC"] == root
    assert "HARNESS_BASE_URL_OPENAI_RESPONSES" in env


def test_ddmin_is_one_minimal() -> None:
    items = [(0, i) for i in range(64)]
    needed = {(0, 5), (0, 40), (0, 41)}
    tests: list[frozenset[tuple[int, int]]] = []

    def test(subset: list[tuple[int, int]]) -> bool:
        tests.append(frozenset(subset))
        return needed <= set(subset)

    assert sorted(ddmin(items, test)) == sorted(needed)
    assert len(tests) < 100
    assert ddmin([(0, 1)], lambda subset: True) == []


@pytest.mark.parametrize(
    ("provider", "step", "terminal"),
    [
        ("openai", {"data": "[DONE]"}, True),
        ("openai", {"data": {"choices": []}}, False),
        ("anthropic", {"event": "message_stop", "data": {"type": "message_stop"}}, True),
        ("openai-responses", {"event": "response.completed", "data": {}}, True),
        ("bedrock-converse", {"event": "metadata", "data": {}}, True),
        ("gemini", {"data": {"candidates": [{"finishReason": "STOP"}]}}, True),
        ("gemini", {"data": {"candidates": [{"index": 0}]}}, False),
        ("openai", {"comment": "ping"}, False),
        ("openai", {"raw": "data: [DONE]\n\n"}, True),
    ],
)
def test_terminal_events(provider: str, step: dict[str, Any], terminal: bool) -> None:
    assert is_terminal(provider, step) is terminal


def test_terminal_kept_and_extras_dropped(tmp_path: Path) -> None:
    """A client that fails unless it sees [DONE] keeps [DONE]; faults, pauses,
    headers and extra answers go; raw writes are merged."""
    doc = {
        "version": 1,
        "name": "seq",
        "provider": "openai",
        "responses": [
            {"status": 500, "body": {"error": {"message": "x"}}},
            {
                "headers": {"x-a": "1", "x-b": "2"},
                "delay_ms": 5,
                "faults": {"keepalive_every": 1},
                "events": [
                    {"data": _chunk(0, "a")},
                    {"sleep_ms": 1},
                    {"raw": 'data: {"choices": []}\n\n'},
                    {"raw": ": x\n\n"},
                    {"data": "[DONE]"},
                ],
            },
        ],
    }
    source = tmp_path / "seq.yaml"
    source.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    # Fails (exit 1) when the stream it gets ends with [DONE] and holds the raw comment.
    script = textwrap.dedent(
        """\
        import os, sys, httpx
        base = os.environ["HARNESS_BASE_URL_OPENAI"]
        body = {"model": "m", "messages": [], "stream": True}
        for _ in range(2):
            text = httpx.post(base + "/chat/completions", json=body, timeout=10).text
            if text.rstrip().endswith("[DONE]") and ": x" in text:
                sys.exit(1)
        """
    )
    client = tmp_path / "client.py"
    client.write_text(script, encoding="utf-8")
    out = tmp_path / "min.yaml"
    assert _shrink([str(source), "-o", str(out), "--", sys.executable, str(client)]) == 0
    result = parse_scenario(out.read_text(encoding="utf-8"))
    assert result.responses is not None
    assert len(result.responses) == 1
    answer = result.responses[0]
    assert answer.faults is None
    assert answer.headers == {}
    assert answer.delay_ms == 0
    kinds = [step.kind for step in answer.events or []]
    assert kinds == ["raw", "data"], kinds
    assert (answer.events or [])[-1].data == "[DONE]"


def test_scenario_text_round_trips() -> None:
    doc = long_stream(3, trigger=1)
    assert (
        parse_scenario(scenario_text(doc)).model_dump()
        == parse_scenario(yaml.safe_dump(doc)).model_dump()
    )


def test_a_command_that_cannot_start_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write_scenario(tmp_path, long_stream(3, trigger=1))
    code = _shrink([str(source), "-o", str(tmp_path / "m.yaml"), "--", "/nonexistent/command"])
    assert code == 2
    assert "cannot run '/nonexistent/command'" in capsys.readouterr().err


def test_meta_steps_are_shrunk_like_any_other(tmp_path: Path) -> None:
    source = tmp_path / "meta.yaml"
    source.write_text(
        "version: 1\nname: meta\nprovider: openai\nevents:\n"
        "  - {retry: 3000}\n  - {id: '1', event: x}\n  - {data: '[DONE]'}\n"
    )
    out = tmp_path / "m.yaml"
    code = _shrink([str(source), "-o", str(out), "--", sys.executable, "-c", "raise SystemExit(1)"])
    assert code == 0
    assert "retry" not in out.read_text().split("events:")[1]
